#!/bin/bash
#
# get-libreswan.sh: unpack libreswan 4.10 (Debian) into RK_LS_ROOT for the
# interop tests (lib.sh ls_*), without installing it: its package conflicts
# with strongSwan's. Also unpacks the two libraries/tools it needs that are
# not on these machines: libldns3 (pluto) and libnss3-tools (certutil, to
# create pluto's NSS database). Uses apt-get download + dpkg -x only.
#
# Usage: sudo bash tests/interop/get-libreswan.sh [RK_LS_ROOT]
set -eu -o pipefail
root=${1:-${RK_LS_ROOT:-/var/cache/rike-interop/libreswan}}
cache=$(dirname "$root")
mkdir -p "$cache"
cd "$cache"
apt-get download libreswan libldns3 libnss3-tools
for f in libreswan_*.deb libldns3_*.deb libnss3-tools_*.deb; do
	dpkg -x "$f" "$root"
done
LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu "$root/usr/libexec/ipsec/pluto" --version
echo "libreswan unpacked in $root"
