#!/usr/bin/env bash
# The README's two commands:
#   deploy/dev.sh run    install what is missing, build, start depotd on ./data and tcp://127.0.0.1:5570
#   deploy/dev.sh test   install what is missing, check the formatting, build, run the fuzz
#                        targets 30 s each (deploy/fuzz.sh), build again with ASan +
#                        UBSan, start the Ceph test cluster (deploy/ceph-dev.sh), run
#                        every test of both builds in its network namespace (RADOS
#                        cases included), take the cluster down
# BUILD_DIR (default build) and BUILD_TYPE (default RelWithDebInfo) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
shift || true
build=${BUILD_DIR:-build}
deploy/setup.sh
# The test command checks the formatting first: a difference fails it.
if [[ $what == test ]]; then deploy/format.sh --check; fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)"
case "$what" in
  run)
    mkdir -p data
    exec "$build/depotd" --root ./data --listen tcp://127.0.0.1:5570 "$@"
    ;;
  test)
    # The RADOS cases must run, not skip: the cluster comes up first (in its
    # own network namespace, where the tests run too) and goes down after.
    # The libFuzzer targets (clang, ASan + UBSan), 30 s each from the seed
    # corpus: a crash fails the test command like a failed test.
    BUILD_DIR="$build-fuzz" deploy/fuzz.sh "${DEPOT_FUZZ_SECONDS:-30}"
    # Every test a second time, built with ASan + UBSan (in $build-asan),
    # unless this build is a sanitizer build already or DEPOT_ASAN_PASS=0.
    builds=("$build")
    if [[ ${DEPOT_ASAN_PASS:-1} != 0 && ${CMAKE_ARGS:-} != *DEPOT_SANITIZE=ON* &&
          ${CMAKE_ARGS:-} != *DEPOT_TSAN=ON* ]]; then
      # -O1 -g1 (line tables, enough for ASan's stack traces) and no bench/:
      # this build is for the tests (a CAF-heavy file: 10.5 s of CPU instead of
      # 17.9 s at -O2 -g).
      cmake -S . -B "$build-asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DDEPOT_BENCH=OFF \
        -DDEPOT_SANITIZE=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
      cmake --build "$build-asan" -j "$(nproc)"
      builds+=("$build-asan")
    fi
    trap 'deploy/ceph-dev.sh down' EXIT
    deploy/ceph-dev.sh up >/dev/null
    eval "$(deploy/ceph-dev.sh env)"
    for b in "${builds[@]}"; do
      echo "tests: $b"
      DEPOT_REQUIRE_RADOS=1 ip netns exec "$DEPOT_CEPH_NETNS" \
        ctest --test-dir "$b" --output-on-failure -j "$(nproc)" --timeout 300 "$@"
    done
    ;;
  *)
    echo "usage: deploy/dev.sh run|test" >&2
    exit 2
    ;;
esac
