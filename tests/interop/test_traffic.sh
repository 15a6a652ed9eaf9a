#!/bin/bash
#
# test_traffic.sh: traffic through riked's userspace data plane (RFC 4303
# ESP in RFC 3948 UDP over TUN), in three setups, each in fresh namespaces:
#
#   (a) riked  "a" (initiator) <-> riked  "b" (responder)
#   (b) riked  "a" (initiator) <-> charon "b" (strongSwan, kernel-libipsec)
#   (c) charon "a" (initiator) <-> riked  "b" (responder)
#
#   inner 10.10.1.1/32 (lo)                           inner 10.10.2.1/32 (lo)
#   +------ ns aN -----+  to_bN 10.77.0.1/24          +------ ns bN -----+
#   | riked or charon  |------------------------------| riked or charon  |
#   | TUN rike0/ipsec0 |          10.77.0.2/24 to_aN  | TUN rike0/ipsec0 |
#   +------------------+                              +------------------+
#
# In each: IKEv2 PSK (aes256gcm16-prfsha256-x25519), a tunnel-mode Child SA
# (aes256gcm16) between 10.10.1.0/24 and 10.10.2.0/24; pings and a TCP
# transfer each way (tcpx.py, $NBYTES of seeded data, SHA-256 compared)
# through the tunnel. tshark captures everything on a's outer veth (no
# capture filter) and every frame is classified afterwards: only IKE,
# ESP in UDP 4500, NAT-keepalives, ARP and IPv6 ND/MLD may appear; inner
# traffic (TCP, ICMP echo, the inner addresses) never. riked's per-Child
# counters (rikectl status --json) must match the ESP datagrams on the
# wire, less what the receiving kernel dropped (UDP InErrors), and the
# peer's counters. riked sends bursts with UDP GSO and veth carries such a
# train as one frame, so frames are split into datagrams by SPI and
# sequence number before counting (ESP_SEGMENTS).
#
# Setup (a) also checks anti-replay (RFC 4303 3.4.3): one captured ESP
# packet from a to b is sent again byte-identically (a raw IP socket in
# a's namespace, so it carries a's outer address and port 4500; only the
# UDP checksum is recomputed, see REPLAY_PY); b must
# count one replay drop (status --json "dataplane"."drop_replay") and
# deliver nothing. The same packet with its sequence number pushed 10^6
# ahead must fail the ICV (drop_auth) without moving the window: a ping
# afterwards still passes. Last, with the outer MTU lowered below a full
# ESP datagram, TCP must still pass (no GSO train may be lost).

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd tshark ping python3

TCPX="$(cd "$(dirname "${BASH_SOURCE[0]}")/../dataplane" && pwd)/tcpx.py"
[[ -r $TCPX ]] || rk_skip "tcpx.py not found ($TCPX)"
RIKECTL="$(rk_bin_dir)/rikectl"
[[ -x $RIKECTL ]] || rk_skip "rikectl not built"

PINGS=5
NBYTES=${RK_TRAFFIC_BYTES:-4000000}
OUT_A=10.77.0.1
OUT_B=10.77.0.2
IN_A=10.10.1.1
IN_B=10.10.2.1
TCP_PORT=5001

# ---------------------------------------------------------------- configs

# The generators live in lib.sh (swrk_*); these fix this test's names and suite.
# rk_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START
rk_conf() {
	swrk_riked_conf "$1" "$(swrk_riked_conn traffic "$2" "$3" "$6" "$7" "$4" "$5" \
		aes256gcm16-prfsha256-x25519 aes256gcm16 "$8")"
}

# sw_conf LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID
sw_conf() {
	swrk_sw_conf traffic "$1" "$2" "$5" "$6" "$3" "$4" aes256gcm16-prfsha256-x25519 aes256gcm16
}

# ---------------------------------------------------------------- riked helpers

ctl() {
	timeout 10 "$RIKECTL" -s "$(rk_dir "$1")/run/riked.sock" "${@:2}"
}

# shellcheck disable=SC2317 # called through wait_until
rk_up() {
	local out
	out=$(ctl "$1" list-sas 2>/dev/null) || return 1
	grep -q ESTABLISHED <<<"$out" && grep -q "reqid [0-9]*, INSTALLED" <<<"$out"
}

# rk_json NAME EXPR: evaluate a Python expression over riked NAME's
# status --json (d = the document, c = the only Child SA's counters,
# dp = the data plane's global counters).
rk_json() {
	rk_status_json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ch = [c for s in d["sas"] for c in s["children"]]
if len(ch) != 1:
    sys.exit("expected one Child SA, saw %d" % len(ch))
c = ch[0]
dp = d["dataplane"]
print(eval(sys.argv[1]))' "$2" || rk_fail "rikectl status --json of $1: cannot evaluate '$2'"
}

# dp_gt NAME KEY V: riked NAME's data-plane counter KEY exceeds V (for
# wait_until: never fails the test).
# shellcheck disable=SC2317 # called through wait_until
dp_gt() {
	local v
	v=$(rk_status_json "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["dataplane"][sys.argv[1]])' "$2" \
			2>/dev/null) || return 1
	((v > $3))
}

# ---------------------------------------------------------------- strongSwan helpers

# sw_child_counter NAME in|out bytes|packets: from swanctl --list-sas
# ("in  c1234567 (-|0x...),   1234 bytes,    12 packets").
sw_child_counter() {
	sw_list_sas "" "$1" --ike traffic 2>/dev/null | python3 -c '
import re, sys
for line in sys.stdin:
    m = re.match(r"\s+%s\s+[0-9a-f]{8}.*?(\d+) bytes,\s+(\d+) packets" % sys.argv[1], line)
    if m:
        print(m.group(1) if sys.argv[2] == "bytes" else m.group(2))
        sys.exit(0)
sys.exit("no %s counters" % sys.argv[1])' "$2" "$3" || rk_fail "no '$2' counters from charon $1"
}

# ---------------------------------------------------------------- traffic

# ping_through NS SRC DST COUNT
ping_through() {
	ns_exec "$1" ping -c "$4" -i 0.2 -W 2 -I "$2" "$3" >"$RK_RUN/ping.out" 2>&1 || {
		cat "$RK_RUN/ping.out" >&2
		return 1
	}
	rk_log "ping $2 -> $3: $(grep -o '[0-9]* received' "$RK_RUN/ping.out")"
}

# tcp_through SRC_NS DST_NS DST_ADDR: NBYTES from SRC_NS to DST_ADDR:TCP_PORT
# in DST_NS; the SHA-256 and length both ends saw must agree.
tcp_through() {
	local srv cli sum_s sum_c pid
	srv="$RK_RUN/tcpx-server.out"
	ns_exec "$2" timeout 30 python3 "$TCPX" server "$3" "$TCP_PORT" >"$srv" 2>&1 &
	pid=$!
	wait_until 5 grep -q listening "$srv" || rk_fail "tcpx server did not start: $(cat "$srv")"
	cli=$(ns_exec "$1" timeout 30 python3 "$TCPX" client "$3" "$TCP_PORT" "$NBYTES" 2>&1) ||
		rk_fail "tcpx client failed: $cli"
	wait "$pid" || rk_fail "tcpx server failed: $(cat "$srv")"
	sum_s=$(tail -n 1 "$srv")
	sum_c=$(tail -n 1 <<<"$cli")
	[[ $sum_s == "$sum_c" ]] || rk_fail "TCP $1 -> $3: sent '$sum_c', received '$sum_s'"
	rk_log "TCP $1 -> $3: $NBYTES bytes, sha256 ${sum_s:0:16}... on both ends"
}

# traffic A B: pings both ways and TCP both ways between the inner addresses.
traffic() {
	ping_through "$1" "$IN_A" "$IN_B" "$PINGS" || rk_fail "ping $IN_A -> $IN_B failed"
	ping_through "$2" "$IN_B" "$IN_A" "$PINGS" || rk_fail "ping $IN_B -> $IN_A failed"
	tcp_through "$1" "$2" "$IN_B"
	tcp_through "$2" "$1" "$IN_A"
}

# ---------------------------------------------------------------- the wire

# ESP_SEGMENTS (Python): how many ESP-in-UDP datagrams one captured UDP
# payload holds. riked sends bursts with UDP GSO (UDP_SEGMENT) and veth
# passes such a train unsegmented (it is cut at the receiving socket), so
# one captured frame can be several datagrams back to back: equal sizes
# but for a shorter last one, each starting with the same SPI and the next
# sequence number (RFC 4303 2.1, 2.2). Exits if a train is not like that.
ESP_SEGMENTS='
import struct
def esp_segments(p):
    if len(p) < 8:
        raise SystemExit("runt ESP-in-UDP payload")
    spi, seq = struct.unpack("!II", p[:8])
    seg = p.find(struct.pack("!II", spi, (seq + 1) & 0xffffffff), 8)
    if seg < 0:
        return 1, len(p)
    n = (len(p) + seg - 1) // seg
    for k in range(1, n):
        if p[k * seg:k * seg + 8] != struct.pack("!II", spi, (seq + k) & 0xffffffff):
            raise SystemExit("GSO train: segment %d of %d does not follow" % (k, n))
    return n, seg
'

# classify PCAP: prints "ike esp_ab esp_ba keepalive housekeeping trains";
# fails the test on any other frame (inner traffic in the clear, raw ESP,
# ...). ESP counts are datagrams (see ESP_SEGMENTS), trains the frames
# that held more than one.
classify() {
	local fields
	fields=$(tshark_read "$1" -T fields -E separator=/t -e frame.number -e frame.protocols \
		-e ip.src -e ip.dst -e udp.srcport -e udp.dstport -e udp.length -e icmpv6.type \
		-e udp.payload) || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $1 failed"
	}
	python3 -c "$ESP_SEGMENTS"'
import sys
a, b = sys.argv[1], sys.argv[2]
n = {"ike": 0, "esp_ab": 0, "esp_ba": 0, "keepalive": 0, "housekeeping": 0, "trains": 0}
bad = []
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    f += [""] * (9 - len(f))
    num, protos, src, dst, sport, dport, ulen, icmp6, payload = f[:9]
    p = protos.split(":")
    ports = {sport, dport}
    gw = {src, dst} == {a, b}
    if "arp" in p and len(p) <= 3:
        n["housekeeping"] += 1
    elif "icmpv6" in p and icmp6.split(",")[0] in ("130", "131", "132", "133", "134", "135", "136", "143"):
        n["housekeeping"] += 1
    elif gw and "udp" in p and "isakmp" in p and ports <= {"500", "4500"}:
        n["ike"] += 1
    elif gw and "esp" in p and "udp" in p and sport == dport == "4500" and p[-1] == "esp":
        k, _ = esp_segments(bytes.fromhex(payload))
        n["esp_ab" if src == a else "esp_ba"] += k
        n["trains"] += k > 1
    elif gw and "udp" in p and sport == dport == "4500" and ulen == "9":
        n["keepalive"] += 1
    else:
        bad.append(line[:200].strip())
if bad:
    print("frames that are neither IKE nor ESP-in-UDP:", file=sys.stderr)
    for l in bad[:20]:
        print("   ", l, file=sys.stderr)
    sys.exit(1)
print(n["ike"], n["esp_ab"], n["esp_ba"], n["keepalive"], n["housekeeping"], n["trains"])
' "$OUT_A" "$OUT_B" <<<"$fields" || rk_fail "unexpected frames on the outer link of $1"
}

# check_wire PCAP: classify and log; sets ESP_AB and ESP_BA.
check_wire() {
	local ike ka hk trains
	read -r ike ESP_AB ESP_BA ka hk trains <<<"$(classify "$1")"
	rk_log "outer link: $ike IKE, $ESP_AB ESP-in-UDP a->b, $ESP_BA b->a ($trains GSO trains)," \
		"$ka keepalives, $hk ARP/ND/MLD; nothing else"
	((ike >= 4)) || rk_fail "expected the IKE exchanges on the wire, saw $ike frames"
	local min=$((2 * PINGS + NBYTES / 1500))
	((ESP_AB >= min && ESP_BA >= min)) ||
		rk_fail "expected >= $min ESP-in-UDP frames each way, saw $ESP_AB and $ESP_BA"
	# A filter typo or a dissector change must not make this vacuous.
	local clear
	clear=$(tshark_count "$1" "tcp || icmp || ip.addr == 10.10.0.0/16 || (esp && !udp)")
	((clear == 0)) || rk_fail "$clear frames of inner traffic or raw ESP on the outer link"
}

# udp_in_errors NS: datagrams the kernel dropped in NS before a socket read
# them (full receive buffers: a busy receiver under a TCP burst).
udp_in_errors() {
	ns_exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $4 }'
}

# rk_check_counters NS NAME SENT_ESP RECV_ESP: riked NAME's Child SA
# counted every ESP frame the wire saw it send, and every one it received
# that neither the kernel (full socket buffer) nor the data plane dropped.
rk_check_counters() {
	local po pi bo bi drops kdrops
	read -r po pi bo bi drops <<<"$(rk_json "$2" '"%d %d %d %d %d" % (c["packets_out"],
		c["packets_in"], c["bytes_out"], c["bytes_in"], sum(v for k, v in dp.items()
		if k.startswith("drop_") and k not in ("drop_no_sa", "drop_no_policy")))')"
	kdrops=$(udp_in_errors "$1")
	rk_log "riked $2 counters: out $po packets / $bo bytes, in $pi packets / $bi bytes;" \
		"dropped: $drops by the data plane, $kdrops by the kernel (UDP InErrors)"
	((po == $3)) || rk_fail "riked $2: packets_out $po, but $3 ESP frames left it on the wire"
	((pi + drops + kdrops == $4)) ||
		rk_fail "riked $2: packets_in $pi + drops $drops + $kdrops != $4 ESP frames received"
	((pi >= 2 * PINGS + NBYTES / 1500)) || rk_fail "riked $2: only $pi packets in"
	((bo > NBYTES && bi > NBYTES)) || rk_fail "riked $2: bytes out/in $bo/$bi < $NBYTES"
}

# sw_check_counters NS NAME SENT_ESP RECV_ESP: the same for a charon.
sw_check_counters() {
	local po pi kdrops
	po=$(sw_child_counter "$2" out packets)
	pi=$(sw_child_counter "$2" in packets)
	kdrops=$(udp_in_errors "$1")
	rk_log "charon $2 counters: out $po packets, in $pi packets; $kdrops dropped by the kernel"
	((po == $3)) || rk_fail "charon $2: packets out $po, the wire saw $3"
	((pi + kdrops == $4)) || rk_fail "charon $2: packets in $pi + $kdrops != $4 on the wire"
}

# ---------------------------------------------------------------- setups

# topo A B: namespaces A and B, the outer veth and the inner /32s on lo.
topo() {
	ns_create "$1"
	ns_create "$2"
	link_ns "$1" "$2" "$OUT_A/24" "$OUT_B/24"
	ns_addr "$1" lo "$IN_A/32"
	ns_addr "$2" lo "$IN_B/32"
	ns_exec "$1" ping -c 1 -W 2 "$OUT_B" >/dev/null || rk_fail "veth $1<->$2 passes nothing"
}

setup_rk_rk() {
	rk_log "==== (a) riked <-> riked"
	topo a1 b1
	tshark_start a1 to_b1 a1.pcapng ""
	rk_start b1 rb1 "$(rk_conf rb1 $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test a.rike.test wait)"
	rk_start a1 ra1 "$(rk_conf ra1 $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test b.rike.test start)"
	wait_until 15 rk_up ra1 || rk_fail "(a): no tunnel"
	wait_until 5 rk_up rb1 || rk_fail "(a): b has no tunnel"
	log_lines_check
	traffic a1 b1
	tshark_stop a1.pcapng
	check_wire a1.pcapng
	rk_check_counters a1 ra1 "$ESP_AB" "$ESP_BA"
	rk_check_counters b1 rb1 "$ESP_BA" "$ESP_AB"
	replay_check a1.pcapng
	small_mtu_check
}

# The operator's lines (issue 14): "state OLD -> NEW", the peer's address
# and identity on the established line, the group by name, the responder's
# candidate connection marked "?" before IKE_AUTH, and the data plane's
# lines in the SA format naming the connection.
log_lines_check() {
	local la lb
	la=$(rk_log_file ra1)
	lb=$(rk_log_file rb1)
	grep -q '"traffic" #1 [0-9a-f]*:[0-9a-f]* state AUTH_SENT -> ESTABLISHED: authenticated; peer '"$OUT_B"':[0-9]* id fqdn:b\.rike\.test$' "$la" ||
		rk_fail "a: no established line naming the peer"
	grep -q 'state INIT_DONE -> ESTABLISHED: authenticated; peer '"$OUT_A"':[0-9]* id fqdn:a\.rike\.test$' "$lb" ||
		rk_fail "b: no established line naming the peer"
	grep -q 'init-sent group "Curve25519"' "$la" || rk_fail "a: the group is not named"
	grep -q '"traffic?" #1 .* init-answered group "Curve25519"' "$lb" ||
		rk_fail "b: IKE_SA_INIT answered without the candidate label"
	grep -q 'info dp "traffic" #1 [0-9a-f]*:[0-9a-f]* sa-added reqid=1 dir=in' "$la" ||
		rk_fail "a: the data plane's lines do not name the connection"
}

# Outer MTU 1300 < a full ESP datagram (~1460): the kernel refuses a GSO
# train (EMSGSIZE) and riked must send datagram by datagram, which the
# kernel fragments (RFC 3948 leaves fragmentation to IP).
small_mtu_check() {
	local io
	rk_log "outer MTU 1300: TCP must still pass"
	ip -n "$(ns_name a1)" link set to_b1 mtu 1300 || rk_fail "mtu"
	ip -n "$(ns_name b1)" link set to_a1 mtu 1300 || rk_fail "mtu"
	tcp_through a1 b1 "$IN_B"
	tcp_through b1 a1 "$IN_A"
	io=$(rk_json ra1 'dp["drop_io"] + dp["drop_send"]')$(rk_json rb1 '"/%d" % (dp["drop_io"] + dp["drop_send"])')
	[[ $io == 0/0 ]] || rk_fail "send failures (drop_io + drop_send a/b) $io with a small outer MTU"
}

setup_rk_sw() {
	rk_log "==== (b) riked (initiator) -> strongSwan"
	topo a2 b2
	sw_start b2 sb2
	sw_load b2 sb2 "$(sw_conf $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test a.rike.test)" ||
		rk_fail "load sb2"
	tshark_start a2 to_b2 a2.pcapng ""
	rk_start a2 ra2 "$(rk_conf ra2 $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test b.rike.test start)"
	wait_until 15 rk_up ra2 || rk_fail "(b): no tunnel"
	wait_until 5 sw_sa_up b2 sb2 traffic traffic || rk_fail "(b): charon has no SA"
	traffic a2 b2
	tshark_stop a2.pcapng
	check_wire a2.pcapng
	rk_check_counters a2 ra2 "$ESP_AB" "$ESP_BA"
	sw_check_counters b2 sb2 "$ESP_BA" "$ESP_AB"
	rk_stop a2 ra2
	sw_stop b2 sb2
}

setup_sw_rk() {
	rk_log "==== (c) strongSwan (initiator) -> riked"
	topo a3 b3
	sw_start a3 sa3
	sw_load a3 sa3 "$(sw_conf $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test b.rike.test)" ||
		rk_fail "load sa3"
	rk_start b3 rb3 "$(rk_conf rb3 $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test a.rike.test wait)"
	tshark_start a3 to_b3 a3.pcapng ""
	sw_initiate a3 sa3 traffic traffic 15 || rk_fail "(c): swanctl --initiate failed"
	wait_until 10 sw_sa_up a3 sa3 traffic traffic || rk_fail "(c): charon has no SA"
	wait_until 5 rk_up rb3 || rk_fail "(c): riked has no tunnel"
	traffic a3 b3
	tshark_stop a3.pcapng
	check_wire a3.pcapng
	sw_check_counters a3 sa3 "$ESP_AB" "$ESP_BA"
	rk_check_counters b3 rb3 "$ESP_BA" "$ESP_AB"
	rk_stop b3 rb3
	sw_stop a3 sa3
}

# ---------------------------------------------------------------- anti-replay

# replay_check PCAP (setup a): resend one a->b ESP packet as captured, then
# with a forged sequence number; see the header comment.
replay_check() {
	local frame raw0 auth0 rx0 replay auth rx
	frame=$(tshark_read "$1" -Y "ip.src == $OUT_A && udp.dstport == 4500 && esp" \
		-T fields -e frame.number | sed -n 3p)
	[[ -n $frame ]] || rk_fail "no ESP frame from a to replay"
	tshark_read "$1" -Y "frame.number == $frame" -F pcap -w "$RK_RUN/one.pcap" ||
		rk_fail "cannot extract frame $frame"
	read -r raw0 auth0 rx0 <<<"$(rk_json rb1 '"%d %d %d" % (dp["drop_replay"], dp["drop_auth"], dp["rx_packets"])')"

	rk_log "replaying ESP frame $frame from a to b, byte-identical"
	ns_exec a1 python3 - "$RK_RUN/one.pcap" same <<<"$ESP_SEGMENTS$REPLAY_PY" || rk_fail "replay sender failed"
	wait_until 3 dp_gt rb1 drop_replay "$raw0" ||
		rk_fail "b did not count the replayed packet as a replay"
	read -r replay auth rx <<<"$(rk_json rb1 '"%d %d %d" % (dp["drop_replay"], dp["drop_auth"], dp["rx_packets"])')"
	rk_log "b: drop_replay $raw0 -> $replay, drop_auth $auth0 -> $auth, rx_packets $rx0 -> $rx"
	((replay == raw0 + 1 && auth == auth0 && rx == rx0)) ||
		rk_fail "replay: expected exactly one replay drop and nothing delivered"

	rk_log "sending it with the sequence number 10^6 ahead (ICV must fail)"
	ns_exec a1 python3 - "$RK_RUN/one.pcap" forge <<<"$ESP_SEGMENTS$REPLAY_PY" || rk_fail "forged sender failed"
	wait_until 3 dp_gt rb1 drop_auth "$auth0" ||
		rk_fail "b did not count the forged packet as an ICV failure"
	read -r raw0 auth rx <<<"$(rk_json rb1 '"%d %d %d" % (dp["drop_replay"], dp["drop_auth"], dp["rx_packets"])')"
	rk_log "b: drop_replay $raw0, drop_auth $auth0 -> $auth, rx_packets $rx"
	((raw0 == replay && auth == auth0 + 1 && rx == rx0)) ||
		rk_fail "forged: expected exactly one ICV drop and nothing delivered"
	# RFC 4303 3.4.3: the window moves only after the ICV verified.
	ping_through a1 "$IN_A" "$IN_B" 2 || rk_fail "the forged packet moved b's replay window"
}

# Sends the one IPv4 packet of a pcap (Ethernet) through a raw socket, so
# its outer addresses and ports stay a's. "forge" adds 10^6 to the ESP
# sequence number (RFC 4303 2.2). The UDP checksum is computed afresh
# (RFC 768): veth hands tshark packets with checksum offload pending, so the
# captured one is only the partial pseudo-header sum.
REPLAY_PY='
import socket, struct, sys
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff or 0xffff
data = open(sys.argv[1], "rb").read()
caplen = struct.unpack("<I", data[24 + 8:24 + 12])[0]
frame = data[24 + 16:24 + 16 + caplen]
assert frame[12:14] == b"\x08\x00", "not IPv4"
ip = bytearray(frame[14:])
ihl = (ip[0] & 15) * 4
assert ip[9] == 17, "not UDP"
udp = ip[ihl:]
k, seg = esp_segments(bytes(udp[8:]))
if k > 1:  # the first datagram of a GSO train
    udp = udp[:8 + seg]
    udp[4:6] = struct.pack("!H", len(udp))
    ip = ip[:ihl] + udp
    ip[2:4] = struct.pack("!H", len(ip))
    ip[10:12] = b"\0\0"  # the kernel fills in the header checksum
if sys.argv[2] == "forge":
    seq = struct.unpack("!I", udp[12:16])[0]
    udp[12:16] = struct.pack("!I", (seq + 1000000) & 0xffffffff)
udp[6:8] = b"\0\0"
pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 17, len(udp))
udp[6:8] = struct.pack("!H", csum(pseudo + bytes(udp)))
ip[ihl:] = udp
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(bytes(ip), (socket.inet_ntoa(bytes(ip[16:20])), 0))
'

setup_rk_rk
rk_stop a1 ra1
rk_stop b1 rb1
setup_rk_sw
setup_sw_rk
rk_pass "ping and TCP through riked's data plane with riked and strongSwan peers; anti-replay"
