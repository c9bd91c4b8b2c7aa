# Sourced by bench/nginx_compare.sh and bench/cli_compare.sh: installs nginx
# (with WebDAV) and what else a script needs, and runs one nginx with its own
# config, prefix and data in a temp dir.
#
#   source "$here/nginx_lib.sh"
#   install_tools wrk curl      # nginx is always checked; these too
#   start_nginx "$base_dir"     # sets work (the temp dir), url, nginx_bin
#   trap cleanup EXIT           # stops nginx, removes $work
#
# nginx serves $work/data at $url (PUT, DELETE, GET); $work/data/small exists.

log() { echo "[nginx] $*" >&2; }
now() { date +%s.%N; }

nginx_has_dav() {
  command -v nginx >/dev/null && nginx -V 2>&1 | grep -q -- '--with-http_dav_module'
}

# Installs nginx if it lacks ngx_http_dav_module, and each command named in
# "$@" that is missing (Debian package names equal to the command names), with
# apt-get, without letting the package start the system's nginx service.
install_tools() {
  local need=() cmd
  nginx_has_dav || need+=(nginx)
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || need+=("$cmd")
  done
  [[ ${#need[@]} -eq 0 ]] && return 0
  if [[ $(id -u) != 0 ]]; then
    echo "missing: ${need[*]} (run as root to install them with apt-get)" >&2
    exit 1
  fi
  log "installing ${need[*]} with apt-get"
  # Keep the package from starting the system's nginx on port 80.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need[@]}"; } >&2 || rc=$?
  [[ $ours == 1 ]] && rm -f "$policy"
  [[ $rc == 0 ]] || { echo "apt-get install failed" >&2; exit 1; }
  nginx_has_dav || { echo "this nginx has no ngx_http_dav_module" >&2; exit 1; }
}

work=""
nginx_pid=""
nginx_workers=""

stop_nginx() {
  [[ -n $nginx_pid ]] || return 0
  kill -TERM "$nginx_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$nginx_pid" 2>/dev/null || true
  for pid in $nginx_workers; do kill -KILL "$pid" 2>/dev/null || true; done
  nginx_pid=""
}

# Stops nginx and removes the temp dir (the scripts' exit trap).
cleanup() {
  stop_nginx
  [[ -n $work ]] && rm -rf "$work"
  return 0
}

# Makes the temp dir under $1 and starts nginx there on a free loopback port.
start_nginx() {
  local base_dir=$1
  nginx_bin=$(command -v nginx)
  work=$(mktemp -d "$base_dir/nginx-bench-XXXXXX")
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000)))
  mkdir -p "$work/data/small" "$work/tmp"
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root;"

  cat >"$work/nginx.conf" <<EOF
$user_line
worker_processes 2;  # the machine's cores, as depot may use them all
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_max_body_size 0;
  client_body_buffer_size 16k;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $work/data;
    location / {
      dav_methods PUT DELETE;
      dav_access user:rw;
    }
  }
}
EOF

  "$nginx_bin" -p "$work" -c "$work/nginx.conf" -e "$work/error.log"
  for _ in $(seq 50); do
    [[ -s $work/nginx.pid ]] && break
    sleep 0.1
  done
  nginx_pid=$(cat "$work/nginx.pid")
  nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ' || true)
  url="http://127.0.0.1:$port"
  for _ in $(seq 50); do
    curl -s -o /dev/null "$url/" && break
    sleep 0.1
  done
  log "$($nginx_bin -v 2>&1) pid $nginx_pid (workers $nginx_workers) on $url, root $work/data"
}
