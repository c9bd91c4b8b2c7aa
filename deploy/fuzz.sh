#!/usr/bin/env bash
# The libFuzzer targets under fuzz/, built with clang, ASan and UBSan, each
# run for SECONDS (default 30) from the seed corpus fuzz/corpus/TARGET with
# the msgpack dictionary; new inputs go to a scratch corpus, never into the
# repository. Exits non-zero, with the crashing input kept in the build
# directory, if any target finds a crash, a leak or a timeout.
#   deploy/fuzz.sh [SECONDS] [TARGET...]
# BUILD_DIR (default build-fuzz) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(request_decoder reply_decoder meta_parser journal_parser certificate_parser)
build=${BUILD_DIR:-build-fuzz}
missing=()
for p in clang libfuzzer-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDEPOT_FUZZ=ON -DDEPOT_TESTS=OFF -DDEPOT_TCMALLOC=OFF \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_targets
src=$PWD
status=0
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  echo "fuzz: $t for ${seconds}s"
  # -max_len: a request header is at most 64 KiB; the metadata parser takes 4 KiB.
  if ! (cd "$build" && ./fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=70000 -dict="$src/fuzz/msgpack.dict" -print_final_stats=1 \
      "$scratch" "$src/fuzz/corpus/$t" 2>&1 | grep -v -E '# Uses: [0-9]+$|dictionary\. #+$' |
      tail -n 12); then
    status=1
  fi
  rm -rf "$scratch"
done
if ((status)); then echo "fuzz: a target failed (crash input saved in $build)" >&2; fi
exit $status
