#!/usr/bin/env bash
# Installs what depot needs to build and test on Debian 12, as root.
# Installs only the packages that are missing; safe to run again.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang-format ccache
  libcaf-dev cppzmq-dev libzmq3-dev libmsgpack-cxx-dev libspdlog-dev
  libgtest-dev libssl-dev libmagic-dev libcli11-dev libgoogle-perftools-dev
  librados-dev
  python3-zmq python3-prometheus-client
  libsystemd-dev libcpp-httplib-dev systemd
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
