# Shared by test_dp_static.sh and bench_dp_iperf.sh: two network namespaces
# joined by a veth pair, with a dp_static tunnel between them.
#
#   ns A                                              ns B
#   10.1.0.1, fd01::1 (on rike0)                      10.2.0.1, fd02::1 (on rike0)
#   rike0 (TUN) -- dp_static -- vA ======= vB -- dp_static -- rike0 (TUN)
#                   192.0.2.1, 2001:db8::1     192.0.2.2, 2001:db8::2
#                   ESP in UDP 4500 (RFC 3948)
#
# Everything is named with this shell's PID so parallel runs do not collide;
# dp_cleanup (installed as an EXIT trap) kills only the PIDs it started and
# deletes only its own namespaces.

DP_ID="$$"
NSA="rikedpA$DP_ID"
NSB="rikedpB$DP_ID"
DP_TMP=""
DP_PIDS=()

dp_skip() {
	echo "SKIP: $*"
	exit 77
}

dp_require() {
	[ "$(id -u)" = 0 ] || dp_skip "needs root (network namespaces)"
	command -v ip >/dev/null || dp_skip "no ip(8)"
	DP_STATIC="${DP_STATIC:-${RIKE_BUILD:-}/tests/dataplane/dp_static}"
	[ -x "$DP_STATIC" ] || dp_skip "dp_static not built ($DP_STATIC)"
	[ -c /dev/net/tun ] || dp_skip "no /dev/net/tun"
}

# Stop one PID: SIGTERM, wait up to 5 s, then SIGKILL. Its exit status is
# left in DP_LAST_RC.
dp_stop() {
	local pid=$1 i
	DP_LAST_RC=0
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; DP_LAST_RC=$?; return 0; }
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	DP_LAST_RC=$?
	return 0
}

dp_cleanup() {
	local pid
	for pid in "${DP_PIDS[@]}"; do
		dp_stop "$pid"
	done
	DP_PIDS=()
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	[ -n "$DP_TMP" ] && rm -rf "$DP_TMP"
	return 0
}

dp_setup() {
	DP_TMP=$(mktemp -d /tmp/rike-dp.XXXXXX)
	trap dp_cleanup EXIT
	trap 'exit 1' INT TERM
	ip netns add "$NSA" || dp_skip "cannot create network namespaces"
	ip netns add "$NSB" || exit 1
	ip -n "$NSA" link add vA type veth peer name vB netns "$NSB" || exit 1
	local ns
	for ns in "$NSA" "$NSB"; do
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip -n "$NSA" addr add 192.0.2.1/24 dev vA
	ip -n "$NSB" addr add 192.0.2.2/24 dev vB
	ip -n "$NSA" addr add 2001:db8::1/64 dev vA nodad
	ip -n "$NSB" addr add 2001:db8::2/64 dev vB nodad
	ip -n "$NSA" link set vA up
	ip -n "$NSB" link set vB up
}

# dp_tunnel_start OUTER_FAMILY(4|6) ENCR [INTEG] [extra dp_static args...]
# Starts dp_static in both namespaces with mirrored SPIs and keys.
dp_tunnel_start() {
	local fam=$1 encr=$2 integ=${3:-} ; shift 3 || shift $#
	local la=192.0.2.1 lb=192.0.2.2
	[ "$fam" = 6 ] && { la=2001:db8::1; lb=2001:db8::2; }
	# Keys: long enough for every cipher (AES-256 + salt = 36 octets); trimmed per cipher.
	local klen=36 ilen=0
	case "$encr" in
	aes128gcm16) klen=20 ;; aes256gcm16|chacha20poly1305) klen=36 ;;
	aes128) klen=16 ;; aes256) klen=32 ;;
	esac
	case "$integ" in sha256) ilen=32 ;; sha512) ilen=64 ;; esac
	local kab kba iab iba
	kab=$(head -c "$klen" /dev/urandom | od -An -tx1 | tr -d ' \n')
	kba=$(head -c "$klen" /dev/urandom | od -An -tx1 | tr -d ' \n')
	local ia=() ib=()
	if [ "$ilen" -gt 0 ]; then
		iab=$(head -c "$ilen" /dev/urandom | od -An -tx1 | tr -d ' \n')
		iba=$(head -c "$ilen" /dev/urandom | od -An -tx1 | tr -d ' \n')
		ia=(--integ "$integ" --ikey-out "$iab" --ikey-in "$iba")
		ib=(--integ "$integ" --ikey-out "$iba" --ikey-in "$iab")
	fi
	rm -f "$DP_TMP"/ready.* "$DP_TMP"/stats.*
	ip netns exec "$NSA" "$DP_STATIC" --local "$la" --remote "$lb" \
		--local-ts 10.1.0.0/24 --local-ts fd01::/64 --remote-ts 10.2.0.0/24 --remote-ts fd02::/64 \
		--vip 10.1.0.1/32 --vip fd01::1/128 --spi-out 0xa0b0 --spi-in 0xb0a0 \
		--encr "$encr" --key-out "$kab" --key-in "$kba" "${ia[@]}" "$@" \
		--stats "$DP_TMP/stats.A" --ready "$DP_TMP/ready.A" 2>"$DP_TMP/log.A" &
	DP_PIDS+=($!)
	DP_PID_A=$!
	ip netns exec "$NSB" "$DP_STATIC" --local "$lb" --remote "$la" \
		--local-ts 10.2.0.0/24 --local-ts fd02::/64 --remote-ts 10.1.0.0/24 --remote-ts fd01::/64 \
		--vip 10.2.0.1/32 --vip fd02::1/128 --spi-out 0xb0a0 --spi-in 0xa0b0 \
		--encr "$encr" --key-out "$kba" --key-in "$kab" "${ib[@]}" "$@" \
		--stats "$DP_TMP/stats.B" --ready "$DP_TMP/ready.B" 2>"$DP_TMP/log.B" &
	DP_PIDS+=($!)
	DP_PID_B=$!
	local i
	for i in $(seq 50); do
		[ -e "$DP_TMP/ready.A" ] && [ -e "$DP_TMP/ready.B" ] && return 0
		sleep 0.1
	done
	echo "dp_static did not come up:"; cat "$DP_TMP"/log.* 2>/dev/null
	return 1
}

# Stop both tools; their counters land in $DP_TMP/stats.{A,B}. Returns 1
# (and shows the logs) when either did not exit cleanly, e.g. a sanitizer report.
dp_tunnel_stop() {
	local rc=0
	dp_stop "$DP_PID_A"
	[ "$DP_LAST_RC" = 0 ] || rc=1
	dp_stop "$DP_PID_B"
	[ "$DP_LAST_RC" = 0 ] || rc=1
	[ "$rc" = 0 ] || { echo "dp_static exited uncleanly:"; cat "$DP_TMP"/log.*; }
	local keep=() pid
	for pid in "${DP_PIDS[@]}"; do
		[ "$pid" = "$DP_PID_A" ] || [ "$pid" = "$DP_PID_B" ] || keep+=("$pid")
	done
	DP_PIDS=("${keep[@]}")
	return $rc
}

# dp_stat SIDE NAME: one counter from a stopped tool.
dp_stat() {
	sed -n "s/^$2=//p" "$DP_TMP/stats.$1"
}
