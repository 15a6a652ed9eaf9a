#!/bin/bash
# The userspace data plane between two network namespaces with static keys
# (tests/dataplane/dp_netns.sh draws the topology): for each cipher suite
# and outer address family, ping and a TCP transfer over IPv4 and IPv6 inner
# addresses, the counters of both ends, and a capture on the veth link that
# must show ESP in UDP 4500 (RFC 3948) and no cleartext ICMP or TCP.
# Needs root; exits 77 (skipped) otherwise.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/dp_netns.sh"
dp_require
command -v python3 >/dev/null || dp_skip "no python3"
HAVE_TSHARK=1
command -v tshark >/dev/null || HAVE_TSHARK=0

FAILS=0
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

# Bounded wait for a file to contain a pattern.
wait_for() {
	local file=$1 pat=$2 i
	for i in $(seq 100); do
		grep -q "$pat" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

tcp_check() {
	local dst=$1 out="$DP_TMP/tcp.$2"
	ip netns exec "$NSB" python3 "$HERE/tcpx.py" server "$dst" 5001 >"$out.srv" 2>&1 &
	local spid=$!
	DP_PIDS+=("$spid")
	wait_for "$out.srv" listening || { fail "TCP server on $dst did not start"; return; }
	timeout 30 ip netns exec "$NSA" python3 "$HERE/tcpx.py" client "$dst" 5001 2000000 \
		>"$out.cli" 2>&1 || fail "TCP client to $dst: $(cat "$out.cli")"
	wait_for "$out.srv" " 2000000" || true
	dp_stop "$spid"
	local want got
	want=$(cat "$out.cli")
	got=$(tail -n1 "$out.srv")
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "TCP to $dst: sent '$want', received '$got'"
}

capture_start() {
	[ "$HAVE_TSHARK" = 1 ] || return 0
	mkdir -p "$DP_TMP/home"
	# No capture filter: everything on the link is checked afterwards.
	ip netns exec "$NSA" env HOME="$DP_TMP/home" tshark -i vA -w "$DP_TMP/cap.pcap" \
		>"$DP_TMP/tshark.log" 2>&1 &
	CAP_PID=$!
	DP_PIDS+=("$CAP_PID")
	wait_for "$DP_TMP/tshark.log" "Capturing on" || fail "tshark did not start"
}

count() {
	HOME="$DP_TMP/home" tshark -r "$DP_TMP/cap.pcap" -Y "$1" 2>/dev/null | wc -l
}

capture_check() {
	[ "$HAVE_TSHARK" = 1 ] || { echo "note: no tshark, capture not checked"; return 0; }
	dp_stop "$CAP_PID"
	local esp clear_icmp clear_tcp other
	esp=$(count 'udp.port == 4500 && esp')
	# The outer link's own ICMPv6 control traffic (MLD, ND: types 130-143) is
	# expected; echo (128/129), errors (1-4) and any ICMPv4 are not.
	clear_icmp=$(count 'icmp || (icmpv6 && icmpv6.type < 130) || ip.addr == 10.0.0.0/8 || ipv6.addr == fd00::/8')
	clear_tcp=$(count 'tcp')
	other=$(count '!(udp.port == 4500) && !arp && !icmpv6')
	echo "capture: esp-in-udp=$esp cleartext-icmp=$clear_icmp cleartext-tcp=$clear_tcp other=$other"
	[ "$esp" -gt 100 ] || fail "too few ESP-in-UDP packets on the link ($esp)"
	[ "$clear_icmp" = 0 ] || {
		fail "cleartext ICMP on the outer link"
		HOME="$DP_TMP/home" tshark -r "$DP_TMP/cap.pcap" -Y 'icmp || icmpv6' 2>/dev/null | head
	}
	[ "$clear_tcp" = 0 ] || fail "cleartext TCP on the outer link"
	[ "$other" = 0 ] || fail "unexpected packets on the outer link"
}

counters_check() {
	local side name v
	for side in A B; do
		[ -s "$DP_TMP/stats.$side" ] || { fail "no counters from $side"; continue; }
		for name in tx_packets rx_packets sa_in_packets sa_out_packets; do
			v=$(dp_stat $side $name)
			[ "${v:-0}" -gt 100 ] || fail "$side $name=$v"
		done
		for name in drop_replay drop_auth drop_unknown_spi drop_selector drop_malformed drop_io drop_send; do
			v=$(dp_stat $side $name)
			[ "$v" = 0 ] || fail "$side $name=$v"
		done
		echo "counters $side: $(tr '\n' ' ' <"$DP_TMP/stats.$side")"
	done
	# What one side sent, the other received (nothing lost or invented on a veth).
	[ "$(dp_stat A sa_out_packets)" = "$(dp_stat B sa_in_packets)" ] ||
		fail "A sent $(dp_stat A sa_out_packets), B received $(dp_stat B sa_in_packets)"
}

run_case() {
	local fam=$1 encr=$2 integ=$3
	shift 3
	echo "== outer IPv$fam, $encr${integ:+ + $integ} $*"
	dp_tunnel_start "$fam" "$encr" "$integ" "$@" || { fail "tunnel did not start"; return; }
	# The TCP transfers below must take the offload path (TSO reads, coalesced writes).
	grep -q 'TUN .*: virtio-net header' "$DP_TMP/log.A" || fail "TUN offloads not in use: $(cat "$DP_TMP/log.A")"
	grep -h 'TUN .*:' "$DP_TMP/log.A" | head -1
	capture_start
	ip netns exec "$NSA" ping -c 3 -i 0.2 -W 2 10.2.0.1 >/dev/null || fail "ping 10.2.0.1"
	ip netns exec "$NSA" ping -6 -c 3 -i 0.2 -W 2 fd02::1 >/dev/null || fail "ping fd02::1"
	tcp_check 10.2.0.1 v4
	tcp_check fd02::1 v6
	capture_check
	dp_tunnel_stop || fail "dp_static did not exit cleanly"
	counters_check
}

dp_setup
run_case 4 aes128gcm16 ""
run_case 6 chacha20poly1305 "" --esn
run_case 4 aes256 sha512 --replay 1024
run_case 6 aes128 sha256 --esn

if [ "$FAILS" -gt 0 ]; then
	echo "$FAILS failure(s)"
	exit 1
fi
echo "PASS"
