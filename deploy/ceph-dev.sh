#!/usr/bin/env bash
# A throwaway single-node Ceph 16.2 cluster for testing depot's RADOS store.
#   deploy/ceph-dev.sh up       install what is missing, start 1 mon + 1 mgr + 1 memstore osd, create the pool
#   deploy/ceph-dev.sh down     stop every daemon, delete the network namespace and the state directory
#   deploy/ceph-dev.sh env      print the export lines a caller evals: eval "$(deploy/ceph-dev.sh env)"
#   deploy/ceph-dev.sh status   ceph -s
# The cluster lives in its own network namespace, bound to 127.0.0.1 there, so
# it never meets anything on the host; clients run inside it:
#   ip netns exec "$DEPOT_CEPH_NETNS" CMD
# Settings (environment): DEPOT_CEPH_NETNS (depot-ceph), DEPOT_CEPH_DIR
# (/tmp/depot-ceph: conf, mon/mgr/osd data, logs, sockets, pid files),
# DEPOT_RADOS_POOL (depot), DEPOT_CEPH_MEMSTORE_BYTES (4 GiB: the osd keeps
# every object in RAM, up to this much), DEPOT_CEPH_TIMEOUT (120 s for up).
# Must run as root (network namespaces, apt-get).
set -euo pipefail

netns=${DEPOT_CEPH_NETNS:-depot-ceph}
dir=${DEPOT_CEPH_DIR:-/tmp/depot-ceph}
pool=${DEPOT_RADOS_POOL:-depot}
memstore_bytes=${DEPOT_CEPH_MEMSTORE_BYTES:-$((4 << 30))}
timeout=${DEPOT_CEPH_TIMEOUT:-120}
conf=$dir/ceph.conf
# Written by up; down deletes only a directory that has it, never a stranger's.
marker=$dir/.depot-ceph-dev
daemons=(mon.a mgr.x osd.0)

die() {
  echo "ceph-dev: $*" >&2
  exit 1
}
in_ns() { ip netns exec "$netns" "$@"; }
have_netns() { ip netns list | awk '{print $1}' | grep -qx -- "$netns"; }
# Bounded so that a dead mon fails a command instead of hanging it.
ceph_cmd() { in_ns ceph -c "$conf" --connect-timeout 10 "$@"; }

install_packages() {
  local packages=(ceph-mon ceph-osd ceph-mgr ceph-common librados-dev iproute2)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "ceph-dev: installing ${missing[*]}" >&2
    # To stderr: a caller may capture up's stdout, the export lines.
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

print_env() {
  printf 'export DEPOT_CEPH_CONF=%q\n' "$conf"
  printf 'export DEPOT_RADOS_POOL=%q\n' "$pool"
  printf 'export DEPOT_CEPH_NETNS=%q\n' "$netns"
  printf 'export DEPOT_CEPH_ID=admin\n'
}

# The pid in a daemon's pid file, if that process is alive and is a ceph daemon
# (a recycled pid must not be killed).
daemon_pid() {
  local f=$dir/run/$1.pid pid
  [[ -r $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ceph-* ]] || return 1
  echo "$pid"
}

# True while the process exists and is not a zombie.
running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

is_up() {
  local d
  have_netns || return 1
  for d in "${daemons[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
  ceph_cmd health >/dev/null 2>&1
}

tail_logs() {
  local f
  for f in "$dir"/log/*.log; do
    [[ -e $f ]] || continue
    echo "==> $f <==" >&2
    tail -n 20 "$f" >&2
  done
}

# Polls "$@" once a second until it succeeds or the time for up runs out.
wait_for() {
  local what=$1 deadline=$((SECONDS + timeout))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "ceph-dev: timed out after ${timeout}s waiting for $what" >&2
      ceph_cmd -s >&2 2>&1 || true
      tail_logs
      exit 1
    fi
    sleep 1
  done
}

# True when every pg is active+clean ("9 pgs: 9 active+clean; ...") and the
# pool's pgs exist (the pool is listed in the pg map).
all_clean() {
  local stat
  stat=$(ceph_cmd pg stat) || return 1
  grep -Eq '^([0-9]+) pgs: \1 active\+clean;' <<<"$stat" || return 1
  ceph_cmd pg ls-by-pool "$pool" 2>/dev/null | grep -q active+clean
}

write_conf() {
  local fsid=$1
  cat >"$conf" <<EOF
# Written by deploy/ceph-dev.sh; deleted by its down.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
ms bind ipv6 = false
# A test cluster on loopback in its own namespace: no keys to hand around.
auth cluster required = none
auth service required = none
auth client required = none
keyring = $dir/keyring
# One osd holds the only copy; placement picks osds, not hosts.
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# Without auth there is no global_id to reclaim; the warning is noise.
mon warn on insecure global id reclaim allowed = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# Everything the cluster writes stays under $dir.
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/cluster.log
crash dir = $dir/crash
log to stderr = false
err to stderr = true
# A full CI disk is not this cluster's business.
mon data avail warn = 1
mon data avail crit = 0
# What depot's client relies on: an op against a dead cluster fails, not hangs.
rados osd op timeout = 30
rados mon op timeout = 30
client mount timeout = 15

[client]
# Many client processes (depotd, tests, rados) share one name: no admin
# socket, whose path would collide.
admin socket =

[mon]
mon data = $dir/mon/\$name

[mgr]
mgr data = $dir/mgr/\$name
# Always-on modules still load; skip the optional ones.
mgr initial modules = iostat

[osd]
osd data = $dir/osd/\$name
osd objectstore = memstore
# Objects live in RAM up to this size; the osd's RSS grows with the data.
memstore device bytes = $memstore_bytes
osd crush initial weight = 1
# 2 cores: few shards and threads. The memory target sizes only bluestore's
# caches, so with memstore it bounds little: RSS is about twice the data held.
osd op num shards = 2
osd op num threads per shard = 1
osd memory target = 1073741824
osd max backfills = 1
EOF
}

up() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, apt-get)"
  if is_up; then
    print_env
    return 0
  fi
  install_packages
  SECONDS=0
  # Leftovers of a crashed or half-made cluster: start from scratch.
  down
  [[ ! -e $dir ]] || [[ -z $(ls -A "$dir") ]] || die "$dir exists and is not a ceph-dev directory; set DEPOT_CEPH_DIR"

  # A failed up leaves nothing running but keeps $dir (logs) for a look; the
  # next up or down deletes it.
  trap 'echo "ceph-dev: up failed; logs kept in $dir/log" >&2; stop 2>/dev/null' EXIT
  mkdir -p "$dir"/{run,log,crash,mon/mon.a,mgr/mgr.x,osd/osd.0}
  touch "$marker" "$dir/keyring"
  ip netns add "$netns"
  in_ns ip link set lo up

  local fsid osd_uuid
  fsid=$(</proc/sys/kernel/random/uuid)
  osd_uuid=$(</proc/sys/kernel/random/uuid)
  write_conf "$fsid"

  monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' \
    "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >>"$dir/log/mkfs.log" 2>&1
  # Daemons started as root stay root (no --setuser): no chown of the state dir.
  # Their stderr before they detach goes to a log, not the caller's terminal.
  in_ns ceph-mon -c "$conf" -i a 2>>"$dir/log/start.log"
  wait_for "the mon" ceph_cmd mon stat
  in_ns ceph-mgr -c "$conf" -i x 2>>"$dir/log/start.log"

  local id
  id=$(ceph_cmd osd new "$osd_uuid")
  [[ $id == 0 ]] || die "expected osd id 0, got '$id'"
  in_ns ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.log" 2>&1
  in_ns ceph-osd -c "$conf" -i 0 2>>"$dir/log/start.log"
  wait_for "osd.0 to come up" bash -c "ip netns exec '$netns' ceph -c '$conf' --connect-timeout 10 osd dump | grep -q '^osd.0 up'"

  if ! ceph_cmd osd pool ls | grep -qx -- "$pool"; then
    ceph_cmd osd pool create "$pool" 8 8 >>"$dir/log/start.log" 2>&1 || die "pool create failed: $(tail -n 3 "$dir/log/start.log")"
  fi
  ceph_cmd osd pool application enable "$pool" rados >>"$dir/log/start.log" 2>&1 ||
    die "pool application enable failed: $(tail -n 3 "$dir/log/start.log")"
  wait_for "all pgs active+clean" all_clean
  trap - EXIT
  echo "ceph-dev: cluster up in ${SECONDS}s; $(ceph_cmd health 2>&1)" >&2
  echo "ceph-dev: clients run inside the namespace: ip netns exec $netns CMD" >&2
  print_env
}

# Kills every daemon and deletes the network namespace; keeps $dir.
stop() {
  local d pid pids
  # The osd is killed outright: on a clean stop memstore would first copy every
  # object to disk, and the state is deleted anyway.
  local killed=()
  for d in "${daemons[@]}"; do
    if pid=$(daemon_pid "$d"); then
      kill -9 "$pid" 2>/dev/null || true
      killed+=("$pid")
    fi
  done
  # Daemons detached from us, so they can't be waited for: poll until dead.
  for pid in "${killed[@]}"; do
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  done
  if have_netns; then
    # Anything else left in the namespace (a client, a daemon whose pid file is gone).
    for _ in $(seq 1 50); do
      pids=$(ip netns pids "$netns")
      [[ -n $pids ]] || break
      # shellcheck disable=SC2086 # one pid per word
      kill -9 $pids 2>/dev/null || true
      sleep 0.1
    done
    [[ -z $(ip netns pids "$netns") ]] || die "processes still in netns $netns: $(ip netns pids "$netns" | tr '\n' ' ')"
    ip netns del "$netns"
  fi
}

down() {
  stop
  if [[ -e $dir ]]; then
    [[ -e $marker ]] || [[ -z $(ls -A "$dir") ]] || die "$dir is not a ceph-dev directory; not deleting it"
    rm -rf -- "$dir"
  fi
}

cmd=${1:-}
case "$cmd" in
  up) up ;;
  down)
    down
    echo "ceph-dev: down" >&2
    ;;
  env) print_env ;;
  status)
    have_netns || die "netns $netns does not exist; run: $0 up"
    ceph_cmd -s
    ;;
  *)
    echo "usage: deploy/ceph-dev.sh up|down|env|status" >&2
    exit 2
    ;;
esac
