#!/usr/bin/env bash
# What --metrics costs on the 4 KiB benchmark: runs depot_bench's small part
# (4 KiB uploads and downloads, 16 clients) alternately with depotd's
# metrics off (no --metrics: the code's metrics pointer is null, nothing is
# counted) and on (--metrics 127.0.0.1:PORT, every counter, histogram and
# clock read live, and /metrics scraped every second meanwhile, harsher than
# Prometheus' default 15 s), --runs times each. Prints the medians and the
# ratio on / off of each figure.
#
#   bench/metrics_compare.sh [--quick] [--runs N] [--small-count N] [--bench PATH]
set -euo pipefail
{
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
small_count=20000
runs=5
bench=${DEPOT_BENCH:-}
usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) small_count=1000; runs=1 ;;
    --runs) runs=$2; shift ;;
    --small-count) small_count=$2; shift ;;
    --bench) bench=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ -n $bench ]] || bench=$repo/build/depot_bench
if [[ ! -x $bench ]]; then
  echo "depot_bench not found: build it (targets depot_bench depotd) and pass --bench PATH" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/metrics-compare.XXXXXX")
scraper_pid=
stop_scraper() {
  if [[ -n $scraper_pid ]]; then
    kill "$scraper_pid" 2>/dev/null || true
    wait "$scraper_pid" 2>/dev/null || true
    scraper_pid=
  fi
}
trap 'stop_scraper; rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM
log() { echo "[metrics_compare] $*" >&2; }
# A port free a moment ago, for depotd's --metrics (the scraper must know it).
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

scrapes=0
for ((run = 1; run <= runs; run++)); do
  order=(off on)
  ((run % 2 == 0)) && order=(on off)
  for c in "${order[@]}"; do
    flags=()
    if [[ $c == on ]]; then
      port=$(free_port)
      flags=(-- --metrics "127.0.0.1:$port")
      ( while sleep 1; do
          curl -sf "http://127.0.0.1:$port/metrics" -o "$work/last-scrape.txt" &&
            echo >>"$work/scrapes" || true
        done ) &
      scraper_pid=$!
    fi
    log "run $run/$runs: metrics $c"
    "$bench" --small-count "$small_count" --skip ceilings,large,rss \
      --dir "$work" --summary "$work/$c-$run.txt" "${flags[@]}" >"$work/$c-$run.log" 2>&1 ||
      { log "depot_bench failed:"; tail -n 20 "$work/$c-$run.log" >&2; exit 1; }
    stop_scraper
  done
done
[[ -f $work/scrapes ]] && scrapes=$(wc -l <"$work/scrapes")
if [[ -f $work/last-scrape.txt ]]; then
  log "last scrape: $(grep -c '^depot_' "$work/last-scrape.txt") depot_ samples, e.g."
  grep -E '^depot_requests_total\{op="(upload|chunk|download)",code="ok"\}' "$work/last-scrape.txt" >&2 || true
fi

median() {  # config key
  for ((run = 1; run <= runs; run++)); do
    awk -F= -v k="$2" '$1 == k { print $2 }' "$work/$1-$run.txt"
  done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
all() {  # config key: every run's figure
  for ((run = 1; run <= runs; run++)); do
    awk -F= -v k="$2" '$1 == k { printf "%s ", $2 }' "$work/$1-$run.txt"
  done
}
row() {  # label off on
  awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
    if (a == "" || b == "") { printf "%-40s %12s %12s %8s\n", l, "-", "-", "-"; exit }
    printf "%-40s %12.1f %12.1f %8.3f\n", l, a, b, b / a }'
}
echo
echo "What --metrics costs: medians of $runs run(s) each, alternating, $small_count x 4 KiB, 16 clients; $scrapes scrapes of /metrics while on"
printf "%-40s %12s %12s %8s\n" "what" "off" "on" "on/off"
for k in small_upload_per_s small_download_per_s; do
  row "$k (files/s)" "$(median off $k)" "$(median on $k)"
done
for k in small_upload_cpu_per_unit small_download_cpu_per_unit; do
  row "depotd CPU, $k (us/file)" "$(median off $k)" "$(median on $k)"
done
echo
for k in small_upload_per_s small_download_per_s small_upload_cpu_per_unit small_download_cpu_per_unit; do
  echo "$k every run: off $(all off $k)| on $(all on $k)"
done
exit 0
}
