#!/usr/bin/env bash
# The depot CLI against curl + nginx (WebDAV) on loopback, one big file,
# several rounds, alternating which goes first, then medians and ratios.
#
#   bench/cli_compare.sh [--size-mib N] [--rounds R] [--dir DIR]
#                        [--depot PATH] [--depotd PATH] [--baseline PATH]
#
# --baseline PATH: another `depot` build (an older commit, say) timed in the
# same rounds as a third contender, against the same depotd. It must be the
# binary in that build's own directory: depot loads libdepot_client.so
# through its RPATH, so a copy of an old binary runs the current library.
#
# Each round times, for nginx and for depot (in turn, the first one swapping
# every round):
#   upload      curl -T FILE + `sync` of the stored file and its directory,
#               against `depot upload FILE` (its reply is durable); the
#               stored file is deleted after each round (not timed), so depot
#               never deduplicates.
#   download    curl -o FILE + `sync` of the file and its directory, against
#               `depot download ID -o FILE` (verified, flushed and renamed).
#   to null     curl -o /dev/null against `depot download ID -o -` > /dev/null.
# Files are downloaded into the same temp dir (same file system) as the stores.
# Ratios are nginx time / depot time: above 1, depot is faster.
#
# Needs depot and depotd built (build/ or build-bench/); installs nginx and
# curl with apt-get if missing (see nginx_lib.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

size_mib=1024
rounds=5
base_dir=${TMPDIR:-/tmp}
depot=""
depotd=""
baseline=""

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --size-mib) size_mib=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --dir) base_dir=$2; shift ;;
    --depot) depot=$2; shift ;;
    --depotd) depotd=$2; shift ;;
    --baseline) baseline=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

find_built() {  # name
  local candidate
  for candidate in "$repo/build-bench/$1" "$repo/build/$1"; do
    if [[ -x $candidate ]]; then echo "$candidate"; return 0; fi
  done
  return 1
}
[[ -n $depot ]] || depot=$(find_built depot) || true
[[ -n $depotd ]] || depotd=$(find_built depotd) || true
if [[ -z $depot || -z $depotd ]]; then
  echo "depot and depotd not found: build them and pass --depot, --depotd" >&2
  exit 2
fi

# shellcheck source=nginx_lib.sh
source "$here/nginx_lib.sh"
install_tools curl

depotd_pid=""
stop_all() {
  if [[ -n $depotd_pid ]]; then
    kill -TERM "$depotd_pid" 2>/dev/null || true
    wait "$depotd_pid" 2>/dev/null || true
  fi
  cleanup
}
trap stop_all EXIT
trap 'exit 130' INT TERM
start_nginx "$base_dir"

# --- depotd in the same temp dir -------------------------------------------------
"$depotd" --root "$work/depot" --listen tcp://127.0.0.1:0 >"$work/depotd.log" 2>&1 &
depotd_pid=$!
endpoint=""
for _ in $(seq 100); do
  endpoint=$(grep -so 'serving on tcp://[0-9.:]*' "$work/depotd.log" | head -1 | sed 's/serving on //' || true)
  [[ -n $endpoint ]] && break
  sleep 0.1
done
[[ -n $endpoint ]] || { echo "depotd did not start:" >&2; cat "$work/depotd.log" >&2; exit 1; }
export DEPOT_SERVER=$endpoint
log "depotd pid $depotd_pid on $endpoint"

bytes=$((size_mib * 1024 * 1024))
log "writing two ${size_mib} MiB random files (not timed)"
head -c "$bytes" /dev/urandom >"$work/up.bin"
head -c "$bytes" /dev/urandom >"$work/down.bin"
sync "$work/up.bin" "$work/down.bin"
mkdir -p "$work/out"
out=$work/out
# The file to download, stored in both.
curl -sS -f -o /dev/null -T "$work/down.bin" "$url/down.bin"
down_id=$("$depot" --json upload "$work/down.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["file"]["id"])')
rm -f "$work/down.bin"
sync

elapsed() {  # command...: runs it, prints the seconds it took
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

nginx_up() {
  curl -sS -f -o /dev/null -T "$work/up.bin" "$url/up.bin"
  sync "$work/data/up.bin" "$work/data"
}
nginx_down() {
  curl -sS -f -o "$out/nginx.bin" "$url/down.bin"
  sync "$out/nginx.bin" "$out"
}
nginx_null() { curl -sS -f -o /dev/null "$url/down.bin"; }
nginx_up_after() { rm -f "$work/data/up.bin"; }
nginx_down_after() { rm -f "$out/nginx.bin"; }
nginx_null_after() { :; }

# depot and base: the same steps with the binary named by $1.
cli_up() { "$1" --json upload "$work/up.bin" >"$work/up.json"; }
cli_down() { "$1" download "$down_id" -o "$out/depot.bin" >/dev/null; }
cli_null() { "$1" download "$down_id" -o - >/dev/null; }
cli_up_after() {  # not timed: what one round leaves behind
  local id
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["file"]["id"])' "$work/up.json")
  "$1" rm "$id" >/dev/null
}
cli_down_after() { rm -f "$out/depot.bin"; }
cli_null_after() { :; }
for what in up down null; do
  eval "depot_$what() { cli_$what \"\$depot\"; }"
  eval "depot_${what}_after() { cli_${what}_after \"\$depot\"; }"
  eval "base_$what() { cli_$what \"\$baseline\"; }"
  eval "base_${what}_after() { cli_${what}_after \"\$baseline\"; }"
done

contenders=(nginx depot)
[[ -n $baseline ]] && contenders+=(base)
declare -A times
for what in up down null; do
  for who in "${contenders[@]}"; do times[$who.$what]=""; done
done

log "load before: $(uptime | sed 's/.*load average/load average/')"
for r in $(seq "$rounds"); do
  # Each round starts with the next contender: everyone goes first in turn.
  n=${#contenders[@]}
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${contenders[$(((r - 1 + i) % n))]}"); done
  for what in up down null; do
    for who in "${order[@]}"; do
      s=$(elapsed "${who}_$what")
      "${who}_${what}_after"
      times[$who.$what]+="$s "
    done
  done
  log "round $r/$rounds done (${order[*]})"
done
log "load after: $(uptime | sed 's/.*load average/load average/')"

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "depot CLI vs curl + nginx $($nginx_bin -v 2>&1 | sed 's/.*: //'), ${size_mib} MiB, $rounds rounds alternating; medians"
printf "%-44s %-9s %-9s %-9s %s\n" "what" "nginx s" "depot s" "ratio" "depot GB/s"
printf -- '-%.0s' $(seq 84); echo
row() {  # label what who
  local n d
  n=$(echo "${times[nginx.$2]}" | median)
  d=$(echo "${times[$3.$2]}" | median)
  awk -v l="$1" -v n="$n" -v d="$d" -v b="$bytes" 'BEGIN {
    printf "%-44s %-9.3f %-9.3f %-9.2f %.2f\n", l, n, d, n / d, b / d / 1e9 }'
}
row "upload (curl -T + sync | depot upload)" up depot
row "download to a file (curl -o + sync | -o F)" down depot
row "download to /dev/null (curl | depot -o -)" null depot
if [[ -n $baseline ]]; then
  echo "baseline $baseline:"
  row "upload" up base
  row "download to a file" down base
  row "download to /dev/null" null base
fi
echo
for what in up down null; do
  line="$what:"
  for who in "${contenders[@]}"; do line+=" $who ${times[$who.$what]}|"; done
  echo "${line%|}"
done
echo "ratio = nginx time / depot time (>= 0.9: goal met); CPU: $(grep -o -m1 sha_ni /proc/cpuinfo || echo 'no sha_ni')"
