#!/usr/bin/env bash
# Installs this build into a temp prefix and checks that the client library
# stands alone: the installed headers are exactly depot/client/'s public API
# and include only the standard library (and each other); the package's
# include directories are the prefix's include/ alone and no CAF headers are
# reachable through them; the library does not load CAF; depotConfig.cmake
# looks for nothing else. Then it builds examples/ against the prefix as a
# separate CMake project (find_package(depot), depot::client) and runs the
# example and the installed CLI against a real depotd, and the chat relay
# (examples/chat/) passes a file from one chat client to another.
#   example_package_test.sh CMAKE BUILD_DIR EXAMPLES_DIR DEPOTD
set -euo pipefail
cmake=$1 build=$2 examples=$3 depotd=$4
if [[ ! -x $depotd ]]; then
  echo "no depotd at $depotd" >&2
  exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/depot-package-XXXXXX")
pid=
chat_pid=
cleanup() {
  if [[ -n $chat_pid ]]; then kill "$chat_pid" 2>/dev/null || true; wait "$chat_pid" 2>/dev/null || true; fi
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

echo "== install into $tmp/prefix"
prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
config=$(ls "$prefix"/lib*/cmake/depot/depotConfig.cmake)

echo "== the installed headers are the public API, standard library only"
want='depot/client/async.hpp
depot/client/client.hpp
depot/client/schema/errc.hpp
depot/client/schema/file_meta.hpp'
got=$(cd "$prefix/include" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
[[ $got == "$want" ]] || fail "installed headers differ from the public API:
$got"
[[ ! -e $prefix/include/caf ]] || fail "caf/ is installed under $prefix/include"
if grep -nE 'caf/|msgpack|zmq|spdlog' -r "$prefix/include"; then
  fail "an installed header names CAF, msgpack, ZeroMQ or spdlog"
fi
# Every #include is a standard header (<name>, no directory, no .h) or a
# quoted one that resolves beside the including header.
while IFS= read -r header; do
  while IFS= read -r line; do
    if [[ $line =~ ^#include\ \<([a-z_]+)\>$ ]]; then
      continue
    elif [[ $line =~ ^#include\ \"([^\"]+)\"$ ]]; then
      [[ -f $(dirname "$header")/${BASH_REMATCH[1]} ]] ||
        fail "$header: $line does not resolve beside it"
    else
      fail "$header: $line is neither a standard header nor a depot one"
    fi
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$header")
done < <(find "$prefix/include" -type f)

echo "== the installed library does not load CAF"
lib=$(ls "$prefix"/lib*/libdepot_client.so)
if command -v readelf >/dev/null && readelf -d "$lib" | grep -i 'NEEDED.*caf'; then
  fail "$lib needs CAF at run time"
fi

echo "== the package finds nothing else and points only into the prefix"
package_files=$(ls "$(dirname "$config")"/*.cmake)
if grep -niE 'caf|msgpack|zmq|spdlog|find_package|find_path|find_library' $package_files |
    grep -v '^[^:]*:[0-9]*:#'; then
  fail "the CMake package looks for or names another package"
fi
includes=$(grep -h 'INTERFACE_INCLUDE_DIRECTORIES' $package_files)
[[ $includes == *'"${_IMPORT_PREFIX}/include"' ]] ||
  fail "depot::client's include directories are not just the prefix's include/: $includes"

echo "== examples/ include only depot/client/*.hpp of depot's headers"
if grep -hE '^#include' "$examples"/*.cpp | grep -E 'depot|caf|msgpack|zmq|spdlog' |
    grep -vE '^#include <depot/client/[a-z_]+\.hpp>$'; then
  fail "an example includes something other than depot/client/*.hpp"
fi

echo "== every header the example opens is the standard library's or the prefix's"
cxx=${CXX:-c++}
"$cxx" -std=c++17 -I"$prefix/include" -M "$examples/chat_attachment.cpp" >"$tmp/deps" ||
  fail "the example does not compile with only -I$prefix/include"
tr ' \\' '\n\n' <"$tmp/deps" | grep -E '\.(h|hpp)$' | LC_ALL=C sort -u >"$tmp/headers"
if grep -E '/(caf|msgpack|zmq|spdlog)|zmq\.h|msgpack\.h' "$tmp/headers"; then
  fail "compiling the example opens the headers above"
fi
grep -q "^$prefix/include/depot/client/client.hpp$" "$tmp/headers" ||
  fail "the example did not use the installed client.hpp"
if grep '/depot/' "$tmp/headers" | grep -v "^$prefix/include/depot/client/"; then
  fail "the example opened depot headers outside the prefix"
fi

echo "== configure and build examples/ against it"
"$cmake" -S "$examples" -B "$tmp/examples" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/examples" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
# The compile line's include directories: the prefix's include/ only.
flags=$(grep -oE '(-I|-isystem )[^ "]+' "$tmp/examples/compile_commands.json" |
  sed -E 's/^(-I|-isystem )//' | LC_ALL=C sort -u)
[[ $flags == "$prefix/include" ]] ||
  fail "the example was compiled with include directories other than $prefix/include: $flags"

echo "== run the example and the installed CLI against depotd"
server=$depotd
[[ -x $prefix/bin/depotd ]] && server=$prefix/bin/depotd
endpoint="ipc://$tmp/depot.sock"
"$server" --root "$tmp/data" --listen "$endpoint" --log-level warn >"$tmp/depotd.log" 2>&1 &
pid=$!
cli=$prefix/bin/depot
for _ in $(seq 100); do
  "$cli" --server "$endpoint" --timeout 0.2 ping >/dev/null 2>&1 && break
  sleep 0.1
done
"$cli" --server "$endpoint" ping
"$tmp/examples/chat_attachment" "$endpoint"

echo "== the chat relay built against the package: a file from alice to bob"
chat="ipc://$tmp/chat.sock"
"$tmp/examples/chat_server" --listen "$chat" --depot "$endpoint" >"$tmp/chat_server.log" 2>&1 &
chat_pid=$!
head -c 3000000 /dev/urandom >"$tmp/file.bin"
# Bob is offline when alice sends: the offer waits for his login.
printf 'sendfile bob %s\nquit\n' "$tmp/file.bin" |
  timeout 60 "$tmp/examples/chat_client" --server "$chat" --user alice >"$tmp/alice.out" ||
  fail "chat_client alice: $(cat "$tmp/alice.out")"
id=$(awk -F'\t' '$1 == "stored" { print $3 }' "$tmp/alice.out")
[[ -n $id ]] || fail "alice's file was not stored: $(cat "$tmp/alice.out" "$tmp/chat_server.log")"
printf 'fetch %s %s\nquit\n' "$id" "$tmp/copy.bin" |
  timeout 60 "$tmp/examples/chat_client" --server "$chat" --user bob >"$tmp/bob.out" ||
  fail "chat_client bob: $(cat "$tmp/bob.out")"
grep -q "^fetched" "$tmp/bob.out" || fail "bob did not fetch it: $(cat "$tmp/bob.out" "$tmp/chat_server.log")"
cmp "$tmp/file.bin" "$tmp/copy.bin" || fail "bob's copy differs from alice's file"
echo "== ok"
