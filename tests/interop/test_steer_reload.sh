#!/bin/bash
#
# test_steer_reload.sh: riked's receive steering (dataplane_workers = 2,
# riked.conf(5)) follows its NAT-T sockets across a reload that moves the
# local address, in one namespace with two addresses on lo:
#
#   +------------------------ ns aN ------------------------+
#   | riked (userspace, 2 packet workers)                    |
#   |   local 10.78.0.1, then 10.78.0.2 (reload)             |
#   | lo: 10.78.0.1/32 10.78.0.2/32 10.78.0.9/32 (a sender)  |
#   +--------------------------------------------------------+
#
# On each address riked listens on, port 4500 must carry three sockets
# (riked's, then one per worker in its SO_REUSEPORT group), and none may
# stay on an address riked left: a worker's socket left alone in a group
# would receive its IKE. After the reload an ESP datagram of an unknown
# SPI sent to the new address must be read by a worker (rx_steered), not
# by the event loop (rx_via_loop), and still be reported (RFC 4303 3.4.2:
# drop_unknown_spi); an IKE datagram (behind the non-ESP marker, RFC 3948
# 2.2) must still reach the engine (riked's IKE counters).

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
rk_need
need_cmd ss python3

PSK=0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718

conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "info"; dataplane = "userspace";
		          dataplane_workers = 2; control_socket = "/run/riked.sock";
		          state_dir = "$(rk_dir r)/state"; };
		connections = ( {
		  name = "steer"; local = "$1"; remote = "10.78.0.200";
		  local_id = "a.rike.test"; remote_id = "b.rike.test";
		  auth = { method = "psk"; secret = "$PSK"; };
		  ike_proposals = [ "aes256gcm16-prfsha256-x25519" ];
		  esp_proposals = [ "aes256gcm16" ];
		  local_ts = [ "10.10.1.0/24" ]; remote_ts = [ "10.10.2.0/24" ];
		  start = "wait";
		} );
	EOF
}

# socks ADDR: how many UDP sockets are bound to ADDR port 4500.
socks() {
	ns_exec a ss -Hlun "sport = :4500" | awk -v a="$1:4500" '$4 == a' | wc -l
}

is_socks() { [[ $(socks "$1") == "$2" ]]; }

# counter NAME: a number from riked's status (dataplane, else stats).
counter() {
	rk_ctl r status --json | python3 -c 'import json, sys
r = json.load(sys.stdin)["result"]
k = sys.argv[1]
print(r["dataplane"].get(k, r["stats"].get(k, 0)) if k in r["dataplane"] or k in r["stats"] else "missing")' "$1"
}

counter_at_least() { (($(counter "$1") >= $2)); }

# send_to ADDR HEX: one UDP datagram from 10.78.0.9 to ADDR port 4500.
send_to() {
	ns_exec a python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.78.0.9", 0))
s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 4500))' "$1" "$2"
}

ns_create a
for x in 1 2 9; do ns_addr a lo "10.78.0.$x/32"; done

rk_start a r "$(conf 10.78.0.1)"
wait_until 5 is_socks 10.78.0.1 3 || rk_fail "10.78.0.1:4500 has $(socks 10.78.0.1) sockets, not 3"
grep -q "steered by SPI to 2 packet workers" "$(rk_log_file r)" ||
	rk_fail "riked did not log that it steers ESP"
rk_log "10.78.0.1:4500: riked's socket and 2 workers'"

# Reload: the connection now uses 10.78.0.2; 10.78.0.1's sockets go.
printf '%s\n' "$(conf 10.78.0.2)" >"$(rk_dir r)/riked.conf"
rk_ctl r reload >/dev/null || rk_fail "reload refused"
wait_until 5 is_socks 10.78.0.2 3 || rk_fail "10.78.0.2:4500 has $(socks 10.78.0.2) sockets, not 3"
wait_until 5 is_socks 10.78.0.1 0 || rk_fail "10.78.0.1:4500 keeps $(socks 10.78.0.1) sockets"
rk_log "after the reload: 10.78.0.2:4500 has 3 sockets, 10.78.0.1:4500 none"

steered0=$(counter rx_steered)
loop0=$(counter rx_via_loop)
unknown0=$(counter drop_unknown_spi)
[[ $steered0 != missing && $loop0 != missing ]] || rk_fail "status lacks rx_steered/rx_via_loop"
# ESP (RFC 4303 2.1): SPI 0x00012345, sequence number 1, 32 octets more.
send_to 10.78.0.2 "0001234500000001$(printf '%064d' 0)"
wait_until 5 counter_at_least drop_unknown_spi $((unknown0 + 1)) ||
	rk_fail "the unknown SPI was not counted ($(counter drop_unknown_spi))"
steered=$(counter rx_steered)
loop=$(counter rx_via_loop)
((steered == steered0 + 1)) || rk_fail "rx_steered $steered0 -> $steered, not +1"
((loop == loop0)) || rk_fail "the event loop read ESP: rx_via_loop $loop0 -> $loop"
rk_log "ESP read by a worker (rx_steered $steered0 -> $steered, rx_via_loop $loop)"

# IKE behind the non-ESP marker still reaches the engine (its stats.rx or
# stats.drop_malformed move): a zeroed IKE header (RFC 7296 3.1).
ike_seen() {
	rk_ctl r status --json | python3 -c 'import json, sys
s = json.load(sys.stdin)["result"]["stats"]
print(s["rx"] + s["drop_malformed"] + s["drop_unknown_spi"])'
}
ike_more() { (($(ike_seen) > $1)); }
ike0=$(ike_seen) || rk_fail "no IKE stats"
send_to 10.78.0.2 "00000000$(printf '%056d' 0)"
wait_until 5 ike_more "$ike0" || rk_fail "IKE on the NAT-T port did not reach the engine"
rk_log "IKE behind the non-ESP marker still reached the engine"
rk_stop a r
rk_pass
