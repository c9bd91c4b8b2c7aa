#!/usr/bin/env bash
# depot on Ceph RADOS against depot on POSIX, in one go: starts (or reuses)
# the test cluster of deploy/ceph-dev.sh, then, inside its network namespace,
# runs depot_bench alternately on the POSIX store (1 depotd), on RADOS with
# 1 depotd and on RADOS with 3 depotd on one namespace (--rados: the
# ceilings are then the same operations through librados without depot),
# each --runs times, and times the `depot` CLI uploading and downloading
# the large file against a POSIX and a RADOS depotd. Prints one table of
# medians: figures, the ceilings measured in the same runs, and ratios.
#
#   bench/rados_compare.sh [--quick] [--runs N] [--size-mib N]
#                          [--small-count N] [--bench PATH] [--no-cli]
#                          [--logs DIR]
#
# --logs DIR keeps every depot_bench table and summary there.
# Settings (environment): DEPOT_CEPH_NETNS and DEPOT_CEPH_DIR as
# deploy/ceph-dev.sh takes them (its defaults are CI's cluster: pass your
# own, e.g. DEPOT_CEPH_NETNS=bench-ceph DEPOT_CEPH_DIR=/tmp/bench-ceph);
# DEPOT_CEPH_MEMSTORE_BYTES (8 GiB here: the OSD holds every object in RAM,
# about twice the data). The cluster is taken down at the end only if this
# script started it. Every run uses a fresh namespace and empties it at its
# end. Must run as root (network namespaces).
set -euo pipefail
# The whole script is one compound command, read before it runs: editing the
# file during a run of several minutes cannot change what that run does.
{
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

size_mib=1024
small_count=20000
runs=2
quick=0
cli=1
bench=${DEPOT_BENCH:-}
logs=

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    --size-mib) size_mib=$2; shift ;;
    --small-count) small_count=$2; shift ;;
    --bench) bench=$2; shift ;;
    --no-cli) cli=0 ;;
    --logs) logs=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  size_mib=64; small_count=500; runs=1
fi

if [[ -z $bench ]]; then
  for candidate in "$repo/build-bench/depot_bench" "$repo/build/depot_bench"; do
    if [[ -x $candidate ]]; then bench=$candidate; break; fi
  done
fi
if [[ -z $bench || ! -x $bench ]]; then
  echo "depot_bench not found: build it (targets depot_bench depot) and pass --bench PATH" >&2
  exit 2
fi
bin=$(dirname "$bench")
depotd=$bin/depotd
depot=$bin/depot

log() { echo "[rados_compare] $*" >&2; }

export DEPOT_CEPH_MEMSTORE_BYTES=${DEPOT_CEPH_MEMSTORE_BYTES:-$((8 << 30))}
ceph_dev=$repo/deploy/ceph-dev.sh
started=0
work=$(mktemp -d "${TMPDIR:-/tmp}/rados-compare.XXXXXX")
server_pid=

stop_server() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  stop_server
  if [[ -n $logs ]]; then
    mkdir -p "$logs"
    cp "$work"/*.log "$work"/*.txt "$work"/*.err "$logs"/ 2>/dev/null || true
  fi
  rm -rf -- "$work"
  if [[ $started == 1 ]]; then
    log "taking down the cluster this script started"
    "$ceph_dev" down || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if "$ceph_dev" status >/dev/null 2>&1; then
  log "reusing the running cluster (netns ${DEPOT_CEPH_NETNS:-depot-ceph})"
else
  log "starting the test cluster"
  started=1
  "$ceph_dev" up >/dev/null
fi
eval "$("$ceph_dev" env)"
in_ns() { ip netns exec "$DEPOT_CEPH_NETNS" "$@"; }
rados_cmd() { in_ns rados -c "$DEPOT_CEPH_CONF" -p "$DEPOT_RADOS_POOL" "$@"; }
# The memstore OSD's byte count has been seen to wrap below zero after a
# few runs ("16 EiB used", HEALTH_ERR "1 full osd"), which blocks every
# write although the pool is empty. A cluster this script started is then
# made afresh; a reused one ends the run.
ensure_not_full() {
  in_ns ceph -c "$DEPOT_CEPH_CONF" --connect-timeout 10 health 2>&1 | grep -qi full || return 0
  if [[ $started != 1 ]]; then
    log "the reused cluster reports a full OSD (memstore's count wrapped?): run deploy/ceph-dev.sh down, then this again"
    exit 1
  fi
  log "the OSD reports full although the pool was emptied: making the cluster afresh"
  "$ceph_dev" down
  "$ceph_dev" up >/dev/null
}

# --- depot_bench: POSIX, RADOS x1, RADOS x3, alternating ---------------------------
# The OSD's CPU is measured beside depotd's in the RADOS runs.
osd_flags() {
  local f=${DEPOT_CEPH_DIR:-/tmp/depot-ceph}/run/osd.0.pid pid
  [[ -r $f ]] || return 0
  pid=$(<"$f")
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) != ceph-osd ]] || echo "--osd-pid $pid"
}
configs=(posix rados1 rados3)
config_flags() {
  case $1 in
    posix) echo "" ;;
    rados1) echo "--rados $(osd_flags)" ;;
    rados3) echo "--rados --servers 3 $(osd_flags)" ;;
  esac
}
bench_rc=0
for ((run = 1; run <= runs; run++)); do
  # Alternate the order so that a slow phase of the host does not always
  # land on the same configuration.
  order=("${configs[@]}")
  ((run % 2 == 0)) && order=(rados3 rados1 posix)
  for c in "${order[@]}"; do
    [[ $c == posix ]] || ensure_not_full
    log "run $run/$runs: depot_bench $c"
    # shellcheck disable=SC2046 # the flags are words
    in_ns "$bench" --size-mib "$size_mib" --small-count "$small_count" --skip rss \
      --dir "$work" --summary "$work/$c-$run.txt" $(config_flags "$c") \
      >"$work/$c-$run.log" 2>"$work/$c-$run.err" || {
      bench_rc=$?
      log "depot_bench $c failed ($bench_rc):"
      tail -n 20 "$work/$c-$run.err" "$work/$c-$run.log" >&2
    }
    touch "$work/$c-$run.txt"
  done
done

# --- the depot CLI against one depotd ----------------------------------------------
now() { date +%s.%N; }
port=5570  # inside the cluster's own network namespace: nothing else there
cli_time() {  # store: prints "upload_s download_s"
  local store=$1 flags=() ns=
  if [[ $store == rados ]]; then
    ns=cli-$RANDOM$RANDOM
    flags=(--store rados --rados-pool "$DEPOT_RADOS_POOL" --ceph-conf "$DEPOT_CEPH_CONF"
      --ceph-id "${DEPOT_CEPH_ID:-admin}" --rados-namespace "$ns")
  fi
  # Not through in_ns: a function would run in a subshell, and $! be its pid.
  ip netns exec "$DEPOT_CEPH_NETNS" "$depotd" --listen "tcp://127.0.0.1:$port" --root "$work/cli-root" \
    --max-file-size $((4 << 30)) "${flags[@]}" >"$work/cli-depotd-$store.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    in_ns "$depot" -s "tcp://127.0.0.1:$port" --timeout 1 ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  local t0 t1 t2 id
  t0=$(now)
  id=$(in_ns "$depot" -s "tcp://127.0.0.1:$port" --timeout 60 upload "$work/large.bin" --mime application/octet-stream | cut -f1 -d" ")
  t1=$(now)
  in_ns "$depot" -s "tcp://127.0.0.1:$port" --timeout 60 download "$id" -o - >/dev/null
  t2=$(now)
  stop_server
  rm -rf -- "$work/cli-root"
  if [[ -n $ns ]]; then
    rados_cmd -N "$ns" ls | xargs -r -n 64 ip netns exec "$DEPOT_CEPH_NETNS" \
      rados -c "$DEPOT_CEPH_CONF" -p "$DEPOT_RADOS_POOL" -N "$ns" rm
  fi
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f %.3f\n", b - a, c - b }'
}
if [[ $cli == 1 ]]; then
  log "the depot CLI: $size_mib MiB file"
  head -c $((size_mib << 20)) /dev/urandom >"$work/large.bin"
  for ((run = 1; run <= runs; run++)); do
    for store in posix rados; do
      [[ $store == posix ]] || ensure_not_full
      log "run $run/$runs: depot upload/download, $store"
      cli_time "$store" >>"$work/cli-$store.txt"
    done
  done
fi

# --- the table ------------------------------------------------------------------------
# The median over runs of key `k` in config `c` (empty if no run has it).
median() {
  local c=$1 k=$2 f
  for ((run = 1; run <= runs; run++)); do
    f=$work/$c-$run.txt
    awk -F= -v k="$k" '$1 == k { print $2 }' "$f"
  done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# The median over runs of figure/ceiling for `k`.
ratio() {
  local c=$1 k=$2 f
  for ((run = 1; run <= runs; run++)); do
    f=$work/$c-$run.txt
    awk -F= -v k="$k" '$1 == k { v = $2 } $1 == k "_ceiling" { c = $2 }
      END { if (v != "" && c > 0) print v / c }' "$f"
  done | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
which_ceiling() {
  awk -F= -v k="$2_ceiling_is" '$1 == k { print $2; exit }' "$work/$1-1.txt" | tr _ ' '
}
fig() {  # value unit
  [[ -n $1 ]] || { echo "-"; return; }
  if [[ $2 == GB/s ]]; then awk -v x="$1" 'BEGIN { printf "%.2f GB/s", x / 1e9 }'
  else awk -v x="$1" 'BEGIN { printf "%.0f/s", x }'; fi
}
cell() {  # config key unit: "figure (ceiling which) ratio"
  local v c r
  v=$(median "$1" "$2")
  [[ -n $v ]] || { echo "FAILED"; return; }
  c=$(median "$1" "$2_ceiling")
  r=$(ratio "$1" "$2")
  if [[ -n $c ]]; then
    echo "$(fig "$v" "$3") / $(fig "$c" "$3") $(which_ceiling "$1" "$2") = ${r}"
  else
    fig "$v" "$3"
  fi
}

echo
echo "depot on POSIX and on Ceph RADOS (memstore OSD, 1 replica, netns loopback),"
echo "medians of $runs run(s); each cell: depot / ceiling measured in the same run = ratio"
echo "($(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; sha_ni: $(grep -c -o sha_ni /proc/cpuinfo 2>/dev/null || echo 0) of $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
printf '%-34s | %-52s | %-52s | %s\n' "what" "POSIX, 1 depotd" "RADOS, 1 depotd" "RADOS, 3 depotd"
printf -- '-%.0s' $(seq 200); echo
row() {  # label key unit
  printf '%-34s | %-52s | %-52s | %s\n' "$1" "$(cell posix "$2" "$3")" "$(cell rados1 "$2" "$3")" "$(cell rados3 "$2" "$3")"
}
row "upload ${size_mib} MiB" upload_bytes_per_s GB/s
row "download ${size_mib} MiB" download_bytes_per_s GB/s
printf '%-34s | %-52s | %-52s | %s\n' "  download spread over 3 depotd" "-" "-" "$(fig "$(median rados3 download_spread_bytes_per_s)" GB/s)"
row "4 KiB uploads, 16 clients" small_upload_per_s /s
row "4 KiB downloads, 16 clients" small_download_per_s /s
echo
echo "RADOS ceilings (librados without depot, medians): write 4 MiB objects x2 in flight" \
  "$(fig "$(median rados1 rados_write_bytes_per_s)" GB/s), read 1 MiB x16" \
  "$(fig "$(median rados1 rados_read_bytes_per_s)" GB/s), 4 KiB write_full x16" \
  "$(fig "$(median rados1 rados_small_write_per_s)" /s), 4 KiB read x16" \
  "$(fig "$(median rados1 rados_small_read_per_s)" /s)"
echo "POSIX ceilings: write+fsync $(fig "$(median posix write_fsync_bytes_per_s)" GB/s)," \
  "SHA-256 $(fig "$(median posix sha256_bytes_per_s)" GB/s), ZeroMQ $(fig "$(median posix transport_bytes_per_s)" GB/s)," \
  "4 KiB fsync'd files $(fig "$(median posix fsync_files_per_s)" /s), tiny req/rep $(fig "$(median posix tiny_rr_per_s)" /s)"
cpu() {  # config key: median depotd CPU per GB (s) or per file (us)
  local v
  v=$(median "$1" "$2_cpu_per_unit")
  [[ -n $v ]] && awk -v v="$v" -v u="$3" 'BEGIN { printf (u == "s" ? "%.2f %s" : "%.0f %s"), v, u }' || echo "-"
}
echo "depotd CPU (every depotd summed) per GB uploaded / downloaded: POSIX $(cpu posix upload s) / $(cpu posix download s)," \
  "RADOS x1 $(cpu rados1 upload s) / $(cpu rados1 download s)"
osd() {  # config key unit: median OSD CPU per GB (s) or per file (us)
  local v
  v=$(median "$1" "$2_osd_cpu_per_unit")
  [[ -n $v ]] && awk -v v="$v" -v u="$3" 'BEGIN { printf (u == "s" ? "%.2f %s" : "%.0f %s"), v, u }' || echo "-"
}
echo "OSD CPU, RADOS x1, depot / librados alone: per GB written $(osd rados1 upload s) / $(osd rados1 rados_write s)," \
  "read $(osd rados1 download s) / $(osd rados1 rados_read s); per 4 KiB write $(osd rados1 small_upload us) / $(osd rados1 rados_small_write us)," \
  "read $(osd rados1 small_download us) / $(osd rados1 rados_small_read us)"
echo "librados client CPU alone (the ceilings' own process): per GB written $(cpu rados1 rados_write s), read $(cpu rados1 rados_read s);" \
  "per 4 KiB write $(cpu rados1 rados_small_write us), read $(cpu rados1 rados_small_read us)"
echo "depotd CPU per 4 KiB upload / download: POSIX $(cpu posix small_upload us) / $(cpu posix small_download us)," \
  "RADOS x1 $(cpu rados1 small_upload us) / $(cpu rados1 small_download us), RADOS x3 $(cpu rados3 small_upload us) / $(cpu rados3 small_download us)"

if [[ $cli == 1 ]]; then
  echo
  echo "the depot CLI (build/depot upload FILE; depot download ID -o - >/dev/null; SHA-256 checked), ${size_mib} MiB, per run:"
  for store in posix rados; do
    awk -v s="$store" -v b=$((size_mib << 20)) '{ printf "  %-5s upload %.2f GB/s (%.2f s), download %.2f GB/s (%.2f s)\n", s, b / $1 / 1e9, $1, b / $2 / 1e9, $2 }' \
      "$work/cli-$store.txt"
  done
fi
echo
for c in "${configs[@]}"; do
  for ((run = 1; run <= runs; run++)); do
    grep -h '^\(warning\|error\)' "$work/$c-$run.log" | sed "s/^/$c run $run: /" || true
  done
done
if [[ $bench_rc != 0 ]]; then
  echo "a depot_bench run failed ($bench_rc); see the errors above"
  exit "$bench_rc"
fi
exit 0
}
