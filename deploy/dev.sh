#!/usr/bin/env bash
# The README's two commands:
#   deploy/dev.sh run    install what is missing, build, start depotd on ./data and tcp://127.0.0.1:5570
#   deploy/dev.sh test   install what is missing, check the formatting, build, run the fuzz
#                        targets 30 s each (deploy/fuzz.sh), start the Ceph
#                        test cluster (deploy/ceph-dev.sh), run every test in its network
#                        namespace (RADOS cases included), take the cluster down
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
    trap 'deploy/ceph-dev.sh down' EXIT
    deploy/ceph-dev.sh up >/dev/null
    eval "$(deploy/ceph-dev.sh env)"
    DEPOT_REQUIRE_RADOS=1 ip netns exec "$DEPOT_CEPH_NETNS" \
      ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 300 "$@"
    ;;
  *)
    echo "usage: deploy/dev.sh run|test" >&2
    exit 2
    ;;
esac
