#!/usr/bin/env bash
# The same workloads as depot_bench, against nginx serving WebDAV PUT/GET on
# loopback, then depot_bench itself with the same sizes, then depot/nginx
# ratios. nginx gets its own config, prefix and data in a temp dir; it is
# stopped and the temp dir removed on exit, whatever happens.
#
#   bench/nginx_compare.sh [--quick] [--size-mib N] [--big-mib N]
#                          [--small-count N] [--seconds S] [--dir DIR]
#                          [--bench PATH]
#
# Installs nginx (Debian 12's `nginx` package: ngx_http_dav_module is built
# in, checked with `nginx -V`) and wrk with apt-get if they are missing,
# without letting the package start the system's nginx service.
#
# How each workload is measured (and why that is fair):
#   1 GiB PUT   curl -T from a file written and flushed beforehand, then
#               `sync FILE DIR` (fsync of the stored file and its directory:
#               what depot's durable reply includes); time = PUT + sync.
#   1 GiB GET   curl to /dev/null (the file is in the page cache, as depot's is),
#               3 times: the median (depot_bench's download is a median of 3 too).
#   4 KiB PUTs  wrk, 1 thread, 16 keep-alive connections, a Lua script giving
#               every request a new path; nginx does not fsync them.
#   4 KiB GETs  wrk, 1 thread, 16 connections, cycling over the files the PUT
#               run stored.
# depot_bench drives depot with one thread and 16 DEALER sockets, so the
# client side is alike: one thread, 16 connections.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

size_mib=1024
big_mib=4096
small_count=20000
seconds=10
quick=0
base_dir=${TMPDIR:-/tmp}
bench=${DEPOT_BENCH:-}

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1 ;;
    --size-mib) size_mib=$2; shift ;;
    --big-mib) big_mib=$2; shift ;;
    --small-count) small_count=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --dir) base_dir=$2; shift ;;
    --bench) bench=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  size_mib=64; big_mib=256; small_count=500; seconds=2
fi

if [[ -z $bench ]]; then
  for candidate in "$repo/build-bench/depot_bench" "$repo/build/depot_bench"; do
    if [[ -x $candidate ]]; then bench=$candidate; break; fi
  done
fi
if [[ -z $bench || ! -x $bench ]]; then
  echo "depot_bench not found: build it (target depot_bench) and pass --bench PATH" >&2
  exit 2
fi

# shellcheck source=nginx_lib.sh
source "$here/nginx_lib.sh"
install_tools wrk curl
trap cleanup EXIT
trap 'exit 130' INT TERM
start_nginx "$base_dir"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

# --- 1 GiB PUT + sync, GET ----------------------------------------------------------
bytes=$((size_mib * 1024 * 1024))
log "writing a ${size_mib} MiB random source file (not timed)"
head -c "$bytes" /dev/urandom >"$work/src.bin"
sync "$work/src.bin"

log "PUT ${size_mib} MiB + sync"
t0=$(now)
curl -sS -f -o /dev/null -T "$work/src.bin" "$url/big.bin"
t1=$(now)
sync "$work/data/big.bin" "$work/data"
t2=$(now)
put_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
put_sync_s=$(awk -v a="$t0" -v b="$t2" 'BEGIN { print b - a }')
rm -f "$work/src.bin"

# A GET takes a third of a second: the figure is the median of three, as
# depot_bench's download is.
log "GET ${size_mib} MiB to /dev/null, 3 times"
get_times=()
for _ in 1 2 3; do
  get_out=$(curl -sS -f -o /dev/null -w '%{time_total} %{size_download}' "$url/big.bin")
  got=${get_out#* }
  [[ $got == "$bytes" ]] || { echo "GET returned $got bytes of $bytes" >&2; exit 1; }
  get_times+=("${get_out% *}")
done
get_s=$(printf '%s\n' "${get_times[@]}" | sort -g | sed -n 2p)
rm -f "$work/data/big.bin"

# --- 4 KiB PUTs and GETs, 16 connections ------------------------------------------------
cat >"$work/put.lua" <<'EOF'
-- Every request a new path; the same 4 KiB body (nginx does not deduplicate).
local n = 0
local chars = {}
for i = 1, 4096 do chars[i] = string.char(math.random(0, 255)) end
local body = table.concat(chars)
request = function()
  n = n + 1
  return wrk.format("PUT", "/small/f" .. n, nil, body)
end
EOF
cat >"$work/get.lua" <<'EOF'
-- Cycles over the paths listed in the file named by the first argument.
local paths, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
EOF

wrk_rate() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
wrk_check() {
  if grep -q -e 'Non-2xx' -e 'Socket errors' "$1"; then
    echo "warning: wrk saw errors:" >&2
    grep -e 'Non-2xx' -e 'Socket errors' "$1" >&2
  fi
}

log "4 KiB PUTs, wrk 1 thread 16 connections, ${seconds} s"
wrk -t1 -c16 -d"${seconds}s" -s "$work/put.lua" "$url/" >"$work/wrk-put.txt"
wrk_check "$work/wrk-put.txt"
put_small=$(wrk_rate "$work/wrk-put.txt")
# The paths stored completely (requests cut off when wrk stopped are not).
find "$work/data/small" -type f -printf '/small/%f\n' >"$work/stored.txt"
stored=$(wc -l <"$work/stored.txt")

log "4 KiB GETs of the $stored stored files, wrk 1 thread 16 connections, ${seconds} s"
wrk -t1 -c16 -d"${seconds}s" -s "$work/get.lua" "$url/" -- "$work/stored.txt" >"$work/wrk-get.txt"
wrk_check "$work/wrk-get.txt"
get_small=$(wrk_rate "$work/wrk-get.txt")

stop_nginx
# nginx's files stay until the exit trap removes everything: deleting
# hundreds of thousands of inodes now would slow depot's file creation
# for minutes (see bench/README.md on freed inodes).

# --- depot with the same sizes --------------------------------------------------------
log "depot_bench with the same sizes"
bench_rc=0
"$bench" --size-mib "$size_mib" --big-mib "$big_mib" --small-count "$small_count" \
  --dir "$work" --summary "$work/depot.txt" || bench_rc=$?
touch "$work/depot.txt"

val() { awk -F= -v k="$1" '$1 == k { print $2 }' "$work/depot.txt"; }
depot_up=$(val upload_bytes_per_s)
depot_down=$(val download_bytes_per_s)
depot_small_up=$(val small_upload_per_s)
depot_small_down=$(val small_download_per_s)

nginx_up=$(awk -v b="$bytes" -v s="$put_sync_s" 'BEGIN { print b / s }')
nginx_up_nosync=$(awk -v b="$bytes" -v s="$put_s" 'BEGIN { print b / s }')
nginx_down=$(awk -v b="$bytes" -v s="$get_s" 'BEGIN { print b / s }')

echo
echo "depot vs nginx $($nginx_bin -v 2>&1 | sed 's/.*: //') (WebDAV), same machine, same sizes"
fmt() {  # what nginx depot unit
  awk -v w="$1" -v n="$2" -v d="$3" -v u="$4" 'BEGIN {
    if (u == "GB/s") { ns = sprintf("%.2f GB/s", n / 1e9); ds = sprintf("%.2f GB/s", d / 1e9) }
    else { ns = sprintf("%.0f/s", n); ds = sprintf("%.0f/s", d) }
    if (d == "") ds = "failed"
    r = (n > 0 && d != "") ? sprintf("%.2f", d / n) : "-"
    printf "%-40s %-14s %-14s %s\n", w, ns, ds, r }'
}
printf "%-40s %-14s %-14s %s\n" "what" "nginx" "depot" "depot/nginx"
printf -- '-%.0s' $(seq 82); echo
fmt "upload ${size_mib} MiB (nginx: PUT + sync)" "$nginx_up" "$depot_up" GB/s
fmt "download ${size_mib} MiB" "$nginx_down" "$depot_down" GB/s
fmt "4 KiB uploads/s, 16 connections" "$put_small" "$depot_small_up" "/s"
fmt "4 KiB downloads/s, 16 connections" "$get_small" "$depot_small_down" "/s"
echo
printf 'nginx PUT alone (no sync): %.2f GB/s (%.2f s), sync %.2f s; GETs %s s\n' \
  "$(awk -v x="$nginx_up_nosync" 'BEGIN { print x / 1e9 }')" "$put_s" \
  "$(awk -v a="$put_sync_s" -v b="$put_s" 'BEGIN { print a - b }')" "${get_times[*]}"
echo "nginx 4 KiB PUTs: $stored files stored in ${seconds} s; nginx does not fsync them,"
echo "depot fsyncs each file and its directory before replying. depot hashes (SHA-256)"
echo "every upload; nginx does not. Clients: wrk and depot_bench, each 1 thread, 16 connections."
if [[ $bench_rc != 0 ]]; then
  echo "depot_bench exited with $bench_rc (see its errors above)"
  exit "$bench_rc"
fi
