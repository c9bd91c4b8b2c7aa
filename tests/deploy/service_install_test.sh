#!/usr/bin/env bash
# `cmake --install` of depotd as a service: the binaries, the systemd unit
# (with the paths of the prefix given at install time), the sysusers entry,
# the example configuration (installed once, never replaced) and the docs.
# The unit passes `systemd-analyze verify` with nothing to say and scores as
# well sandboxed in `systemd-analyze security --offline`; the sysusers entry
# creates its user; the installed example configuration is one depotd takes.
#   service_install_test.sh CMAKE BUILD_DIR
set -euo pipefail
cmake=$1 build=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/depot-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

echo "== install into the prefix $tmp/p"
"$cmake" --install "$build" --prefix "$tmp/p" >"$tmp/install.log"
p=$tmp/p
for f in bin/depotd bin/depot lib/systemd/system/depotd.service \
  lib/sysusers.d/depot.conf etc/depot/depotd.toml \
  share/doc/depot/README.md share/doc/depot/protocol.md \
  share/doc/depot/depotd.toml; do
  [[ -s $p/$f ]] || fail "$f not installed"
done
unit=$p/lib/systemd/system/depotd.service
grep -qx "ExecStart=$p/bin/depotd --config $p/etc/depot/depotd.toml" "$unit" ||
  fail "ExecStart: $(grep ExecStart= "$unit")"
grep -qx "Type=notify" "$unit" || fail "not Type=notify"

echo "== systemd-analyze verify"
# verify exits 0 even on unknown keys: what it prints is the verdict.
if ! out=$(systemd-analyze verify "$unit" 2>&1) || [[ -n $out ]]; then
  fail "systemd-analyze verify: $out"
fi
exposure=$(systemd-analyze security --offline=yes "$unit" 2>&1 |
  sed -n 's/.*Overall exposure level for depotd.service: \([0-9.]*\).*/\1/p')
echo "exposure $exposure"
[[ -n $exposure ]] || fail "systemd-analyze security printed no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure > 2.0"

echo "== the sysusers entry creates the user"
mkdir -p "$tmp/sysroot/etc"
systemd-sysusers --root="$tmp/sysroot" "$p/lib/sysusers.d/depot.conf" >/dev/null
grep -q '^depot:x:[0-9]*:[0-9]*:depot file server:/var/lib/depot:' \
  "$tmp/sysroot/etc/passwd" || fail "no depot user: $(cat "$tmp/sysroot/etc/passwd")"

echo "== the installed configuration is valid"
"$p/bin/depotd" --config "$p/etc/depot/depotd.toml" --print-config >"$tmp/effective"
grep -qx "root = \"/var/lib/depot\"  # $p/etc/depot/depotd.toml:11" "$tmp/effective" ||
  fail "root: $(grep '^root' "$tmp/effective")"

echo "== an edited configuration survives a second install"
echo 'window = 8' >>"$p/etc/depot/depotd.toml"
"$cmake" --install "$build" --prefix "$tmp/p" >"$tmp/install2.log"
grep -qx 'window = 8' "$p/etc/depot/depotd.toml" || fail "configuration replaced"
grep -q "Kept: $p/etc/depot/depotd.toml" "$tmp/install2.log" || fail "no Kept line"

echo "== DESTDIR and --prefix /usr: /usr/bin, /usr/lib/systemd/system, /etc/depot"
DESTDIR=$tmp/d "$cmake" --install "$build" --prefix /usr >/dev/null
grep -qx "ExecStart=/usr/bin/depotd --config /etc/depot/depotd.toml" \
  "$tmp/d/usr/lib/systemd/system/depotd.service" || fail "/usr unit"
[[ -s $tmp/d/etc/depot/depotd.toml && -x $tmp/d/usr/bin/depotd ]] || fail "/usr layout"
echo "ok"
