#!/usr/bin/env bash
# Install the Debian packages rike builds, tests and demos with. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libevent-dev libconfig-dev libsqlite3-dev libmnl-dev libpcap-dev libcmocka-dev libc-ares-dev libmicrohttpd-dev libsystemd-dev libjson-c-dev
      iproute2 nftables iputils-ping tshark procps psmisc iperf3 python3
      strongswan-charon strongswan-swanctl libcharon-extra-plugins
      libstrongswan-extra-plugins libstrongswan-standard-plugins)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian enables strongSwan's service on install; rike's tests start their own charons.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now strongswan-starter strongswan 2>/dev/null || true; fi
