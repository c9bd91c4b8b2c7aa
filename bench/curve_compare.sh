#!/usr/bin/env bash
# What CURVE costs: runs depot_bench alternately without and with --curve
# (depotd with --curve-secret-key/--curve-clients, every client with an
# admitted key), --runs times each, and, if the depot CLI takes keys, times
# `depot upload` and `depot download -o -` of the large file both ways.
# Prints the medians and the ratio CURVE / NULL of each figure.
#
#   bench/curve_compare.sh [--quick] [--runs N] [--size-mib N]
#                          [--small-count N] [--bench PATH]
set -euo pipefail
{
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
size_mib=1024
small_count=20000
runs=3
bench=${DEPOT_BENCH:-}
usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) size_mib=64; small_count=500; runs=1 ;;
    --runs) runs=$2; shift ;;
    --size-mib) size_mib=$2; shift ;;
    --small-count) small_count=$2; shift ;;
    --bench) bench=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ -n $bench ]] || bench=$repo/build/depot_bench
if [[ ! -x $bench ]]; then
  echo "depot_bench not found: build it (targets depot_bench depot) and pass --bench PATH" >&2
  exit 2
fi
bin=$(dirname "$bench")
work=$(mktemp -d "${TMPDIR:-/tmp}/curve-compare.XXXXXX")
server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM
log() { echo "[curve_compare] $*" >&2; }

for ((run = 1; run <= runs; run++)); do
  order=(null curve)
  ((run % 2 == 0)) && order=(curve null)
  for c in "${order[@]}"; do
    flags=()
    [[ $c == null ]] || flags=(--curve)
    log "run $run/$runs: depot_bench ${flags[*]:-(NULL)}"
    "$bench" --size-mib "$size_mib" --small-count "$small_count" --skip rss --skip ceilings \
      --dir "$work" --summary "$work/$c-$run.txt" "${flags[@]}" >"$work/$c-$run.log" 2>&1 ||
      { log "depot_bench failed:"; tail -n 20 "$work/$c-$run.log" >&2; exit 1; }
  done
done

# The CLI, if it takes keys: one depotd each way on loopback.
cli=0
if "$bin/depot" --help 2>&1 | grep -q -- --curve-key; then cli=1; fi
now() { date +%s.%N; }
cli_time() {  # null|curve: prints "upload_s download_s"
  local c=$1 sflags=() cflags=()
  if [[ $c == curve ]]; then
    sflags=(--curve-secret-key "$work/keys/server.key_secret" --curve-clients "$work/keys/clients")
    cflags=(--curve-server-key "$work/keys/server.key" --curve-key "$work/keys/cli.key_secret")
  fi
  "$bin/depotd" --listen tcp://127.0.0.1:0 --root "$work/cli-root" --max-file-size $((4 << 30)) \
    "${sflags[@]}" >"$work/cli-depotd.log" 2>&1 &
  server_pid=$!
  local ep=
  for _ in $(seq 1 100); do
    ep=$(grep -o 'serving on tcp://[0-9.:]*' "$work/cli-depotd.log" | cut -d' ' -f3 || true)
    [[ -n $ep ]] && break
    sleep 0.1
  done
  local t0 t1 t2 id
  t0=$(now)
  id=$("$bin/depot" -s "$ep" "${cflags[@]}" --timeout 60 upload "$work/large.bin" | cut -f1 -d" ")
  t1=$(now)
  "$bin/depot" -s "$ep" "${cflags[@]}" --timeout 60 download "$id" -o - >/dev/null
  t2=$(now)
  stop_server
  rm -rf -- "$work/cli-root"
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f %.3f\n", b - a, c - b }'
}
if [[ $cli == 1 ]]; then
  mkdir -p "$work/keys/clients"
  (cd "$work/keys" && "$bin/depot" keygen server >/dev/null && "$bin/depot" keygen cli >/dev/null &&
    mv cli.key clients/)
  head -c $((size_mib << 20)) /dev/urandom >"$work/large.bin"
  for ((run = 1; run <= runs; run++)); do
    for c in null curve; do
      log "run $run/$runs: depot CLI, $c"
      cli_time "$c" >>"$work/cli-$c.txt"
    done
  done
fi

median() {  # config key
  for ((run = 1; run <= runs; run++)); do
    awk -F= -v k="$2" '$1 == k { print $2 }' "$work/$1-$run.txt"
  done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
cli_median() {  # config column
  awk -v c="$2" '{ print $c }' "$work/cli-$1.txt" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
row() {  # label null curve unit scale
  awk -v l="$1" -v a="$2" -v b="$3" -v u="$4" -v s="$5" 'BEGIN {
    if (a == "" || b == "") { printf "%-44s %14s %14s %8s\n", l, "-", "-", "-"; exit }
    printf "%-44s %10.2f %-3s %10.2f %-3s %8.2f\n", l, a / s, u, b / s, u, b / a }'
}
echo
echo "What CURVE costs: medians of $runs run(s), $size_mib MiB large file, $small_count x 4 KiB"
printf "%-44s %14s %14s %8s\n" "what" "NULL" "CURVE" "CURVE/NULL"
for k in upload_bytes_per_s download_bytes_per_s; do
  row "$k (GB/s)" "$(median null $k)" "$(median curve $k)" "" 1e9
done
for k in upload_cpu_per_unit download_cpu_per_unit; do
  row "depotd CPU, $k (s/GB)" "$(median null $k)" "$(median curve $k)" "" 1
done
for k in small_upload_per_s small_download_per_s; do
  row "$k (files/s)" "$(median null $k)" "$(median curve $k)" "" 1
done
for k in small_upload_cpu_per_unit small_download_cpu_per_unit; do
  row "depotd CPU, $k (us/file)" "$(median null $k)" "$(median curve $k)" "" 1
done
if [[ $cli == 1 ]]; then
  row "depot upload FILE (s)" "$(cli_median null 1)" "$(cli_median curve 1)" "" 1
  row "depot download -o - (s)" "$(cli_median null 2)" "$(cli_median curve 2)" "" 1
fi
exit 0
}
