#!/bin/bash
# Rough single-tunnel TCP throughput of the userspace data plane between two
# namespaces (topology in dp_netns.sh), with iperf3. Not a CTest test.
#   RIKE_BUILD=build bash tests/dataplane/bench_dp_iperf.sh [seconds] [suite...]
# Suites: aes128gcm16 aes256gcm16 chacha20poly1305 aes128+sha256 aes256+sha512.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/dp_netns.sh"
dp_require
command -v iperf3 >/dev/null || dp_skip "no iperf3"
SECS=${1:-5}
shift || true
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(aes128gcm16 chacha20poly1305 aes128+sha256)

iperf() {
	local dst=$1 pid out
	ip netns exec "$NSB" iperf3 -s -1 -B "$dst" >/dev/null 2>&1 &
	pid=$!
	DP_PIDS+=("$pid")
	sleep 0.5
	out=$(timeout $((SECS + 15)) ip netns exec "$NSA" iperf3 -c "$dst" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null)
	dp_stop "$pid"
	echo "${out:-?}"
}

dp_setup
echo "baseline (plain veth, no tunnel): $(iperf 192.0.2.2) Mbit/s"
for s in "${SUITES[@]}"; do
	encr=${s%%+*}
	integ=""
	[ "$s" != "$encr" ] && integ=${s#*+}
	dp_tunnel_start 4 "$encr" "$integ" || exit 1
	echo "$s (outer IPv4, inner IPv4): $(iperf 10.2.0.1) Mbit/s"
	dp_tunnel_stop
done
