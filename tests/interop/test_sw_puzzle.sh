#!/bin/bash
#
# test_sw_puzzle.sh: client puzzles (RFC 8019 7) do not lock out a peer
# that does not solve them. riked is the responder with puzzles on and a
# cookie threshold of 0 (under attack from the first request); strongSwan
# 5.9.8 initiates and ignores puzzles.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns r ------+                           +------ ns s ------+
#   | riked            |  to_s 10.77.0.1/24        | charon           |
#   | cookies+puzzles  |---------------------------| swanctl          |
#   | responder        |        10.77.0.2/24 to_r  | --initiate       |
#   +------------------+    (tshark on to_s)       +------------------+
#
#   strongSwan                              riked
#   HDR, SAi1, KEi, Ni  -->
#                          <--  HDR, N(COOKIE), N(PUZZLE)       7.1.1
#   HDR, N(COOKIE), SAi1, KEi, Ni  -->   (no PS: low priority, 7.1.5)
#                          <--  HDR, SAr1, KEr, Nr              (no IKE_AUTH
#                                          puzzle for a non-solver, 7.2.1)
#   HDR, SK {IDi, AUTH, ...}  -->  <--  HDR, SK {IDr, AUTH, ...}
#
# Checked: the SA comes up on both ends and pings go through; on the wire,
# riked's cookie answer carried N(PUZZLE), strongSwan's retry carried the
# cookie and no PS, and riked's regular response carried no PUZZLE;
# riked's counters say the same.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3 tshark

IKE_P=aes256gcm16-prfsha256-x25519
ESP_P=aes256gcm16

swrk_pair
tshark_start r to_s puzzle.pcap

conf=$(swrk_riked_conf rp "$(swrk_riked_conn pz 10.77.0.1 10.77.0.2 rk.rike.test sw.rike.test \
	"$RK_IN/32" "$SW_IN/32" "$IKE_P" "$ESP_P" wait)")
# Under attack from the first request, with puzzles in both exchanges.
conf=${conf/riked = \{/riked = \{ half_open_cookie_threshold = 0; puzzles = \{ enabled = true; difficulty = 8; auth_difficulty = 8; \};}
grep -q 'half_open_cookie_threshold = 0' <<<"$conf" || rk_fail "could not set the puzzle globals"
rk_start r rp "$conf"
sw_load s s "$(swrk_sw_conf pz 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test \
	"$SW_IN/32" "$RK_IN/32" "$IKE_P" "$ESP_P")" || rk_fail "swanctl load"
sw_initiate s s pz pz 20 || rk_fail "swanctl --initiate pz failed"
swrk_wait_check 5 rp s pz
swrk_ping s "$SW_IN" "$RK_IN"
swrk_ping r "$RK_IN" "$SW_IN"
tshark_stop puzzle.pcap

# On the wire (IKE_SA_INIT is exchange 34; COOKIE 16390, PUZZLE 16434, PS payload 54).
RI='ip.src==10.77.0.1 && isakmp.exchangetype==34'
SI='ip.src==10.77.0.2 && isakmp.exchangetype==34'
n=$(tshark_count puzzle.pcap "$RI && isakmp.notify.msgtype==16390 && isakmp.notify.msgtype==16434")
((n >= 1)) || rk_fail "riked's COOKIE answer carried no N(PUZZLE) ($n frames)"
n=$(tshark_count puzzle.pcap "$SI && isakmp.notify.msgtype==16390")
((n >= 1)) || rk_fail "strongSwan never retried with the cookie"
n=$(tshark_count puzzle.pcap "ip.src==10.77.0.2 && isakmp.typepayload==54")
((n == 0)) || rk_fail "strongSwan sent a PS payload ($n frames)"
n=$(tshark_count puzzle.pcap "$RI && isakmp.typepayload==33 && isakmp.notify.msgtype==16434")
((n == 0)) || rk_fail "riked gave a non-solver an IKE_AUTH puzzle ($n frames)"
n=$(tshark_count puzzle.pcap "$RI && isakmp.typepayload==33")
((n >= 1)) || rk_fail "no regular IKE_SA_INIT response from riked in the capture"
rk_log "wire: COOKIE+PUZZLE answered, retried with the cookie alone, no IKE_AUTH puzzle"

# riked's own count of the same.
st() { swrk_json rp "d[\"stats\"][\"$1\"]"; }
(($(st puzzles_sent) >= 1)) || rk_fail "riked counted no puzzle sent"
(($(st puzzles_ignored) >= 1)) || rk_fail "riked counted no ignored puzzle"
(($(st puzzles_solved) == 0)) || rk_fail "riked counted a solved puzzle"
(($(st puzzles_auth_sent) == 0)) || rk_fail "riked counted an IKE_AUTH puzzle sent"
rk_log "riked: puzzles_sent $(st puzzles_sent) ignored $(st puzzles_ignored) cookies_sent $(st cookies_sent)"
rk_stop r rp
rk_pass "strongSwan -> riked under attack with puzzles: cookie retried without PS, SA up, pings through"
