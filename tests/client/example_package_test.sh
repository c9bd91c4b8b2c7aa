#!/usr/bin/env bash
# Installs this build into a temp prefix, builds examples/ against it as a
# separate CMake project (find_package(depot), depot::client), and runs the
# example and the installed CLI against a real depotd.
#   example_package_test.sh CMAKE BUILD_DIR EXAMPLES_DIR DEPOTD
set -euo pipefail
cmake=$1 build=$2 examples=$3 depotd=$4
if [[ ! -x $depotd ]]; then
  echo "no depotd at $depotd: skipping"
  exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/depot-package-XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== install into $tmp/prefix"
"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
test -f "$tmp/prefix/include/depot/client/client.hpp"
ls "$tmp"/prefix/lib*/cmake/depot/depotConfig.cmake

echo "== configure and build examples/ against it"
"$cmake" -S "$examples" -B "$tmp/examples" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/examples" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }

echo "== run the example and the installed CLI against depotd"
server=$depotd
[[ -x $tmp/prefix/bin/depotd ]] && server=$tmp/prefix/bin/depotd
endpoint="ipc://$tmp/depot.sock"
"$server" --root "$tmp/data" --listen "$endpoint" --log-level warn >"$tmp/depotd.log" 2>&1 &
pid=$!
cli=$tmp/prefix/bin/depot
for _ in $(seq 100); do
  "$cli" --server "$endpoint" --timeout 0.2 ping >/dev/null 2>&1 && break
  sleep 0.1
done
"$cli" --server "$endpoint" ping
"$tmp/examples/chat_attachment" "$endpoint"
echo "== ok"
