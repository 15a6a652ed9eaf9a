#!/bin/bash
#
# test_sw_dh_reuse.sh: riked as responder with dh_reuse (RFC 7296 2.12:
# one key pair per group answers IKE_SA_INIT for a few seconds) against
# strongSwan as initiator. dh_reuse is a responder's choice only, so there
# is no other role to test.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns r ------+                           +------ ns s ------+
#   | riked            |  to_s 10.77.0.1/24        | charon           |
#   | dh_reuse = 30    |---------------------------| kernel-libipsec  |
#   | responder        |        10.77.0.2/24 to_r  | initiator        |
#   +------------------+                           +------------------+
#
# strongSwan brings the connection up (X25519), pings go through both ways,
# it deletes the IKE SA and brings it up again: the second IKE_SA_INIT is
# answered with the first one's key pair (riked counts dh_reused 1 of
# dh_computed 2), and both ends still agree on the SA and carry pings, so
# strongSwan derived the same keys from the reused KEr. The KEr values of
# the two responses, taken from the wire, are equal.

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

conf=$(swrk_riked_conf rdr "$(swrk_riked_conn dr 10.77.0.1 10.77.0.2 rk.rike.test sw.rike.test \
	"$RK_IN/32" "$SW_IN/32" "$IKE_P" "$ESP_P" wait)")
conf=${conf/dataplane = \"userspace\";/dataplane = \"userspace\"; dh_reuse = 30;}
grep -q 'dh_reuse = 30;' <<<"$conf" || rk_fail "the riked config has no dh_reuse"
rk_start r rdr "$conf"
sw_load s s "$(swrk_sw_conf dr 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test \
	"$SW_IN/32" "$RK_IN/32" "$IKE_P" "$ESP_P")" || rk_fail "swanctl load"

# IKE datagrams on port 500, for the KEr comparison (tshark decodes).
pcap=$RK_RUN/init.pcap
ns_exec r timeout 60 tshark -q -i to_s -F pcap -w "$pcap" -f 'udp port 500' >/dev/null 2>&1 &
cap_pid=$!
wait_until 5 [ -s "$pcap" ] || true
sleep 1

no_rk_sa() {
	[[ $(swrk_json rdr 'len(d["sas"])') == 0 ]]
}

up() {
	sw_initiate s s dr dr 10 || rk_fail "swanctl --initiate dr failed ($1)"
	swrk_wait_check 5 rdr s dr
	swrk_ping s "$SW_IN" "$RK_IN"
	swrk_ping r "$RK_IN" "$SW_IN"
}

rk_log "---- 1. strongSwan brings dr up"
up first
rk_log "---- 2. strongSwan deletes the IKE SA and brings dr up again"
sw_swanctl s --terminate --ike dr --timeout 5 >>"$RK_RUN/swanctl-terminate.out" 2>&1 ||
	rk_fail "swanctl --terminate --ike dr"
wait_until 5 swrk_sw_none s dr || rk_fail "charon kept dr"
wait_until 5 no_rk_sa || rk_fail "riked kept the first SA"
up second

computed=$(swrk_json rdr 'd["stats"]["dh_computed"]')
reused=$(swrk_json rdr 'd["stats"]["dh_reused"]')
rk_log "riked: dh_computed $computed, dh_reused $reused"
[[ $computed == 2 && $reused == 1 ]] ||
	rk_fail "expected dh_computed 2 and dh_reused 1, got $computed and $reused"

sleep 1
kill "$cap_pid" 2>/dev/null
wait "$cap_pid" 2>/dev/null
# The KE data of each IKE_SA_INIT response (exchange 34, R flag), as
# Wireshark's dissector reads it: two, and the same.
mapfile -t kers < <(tshark -r "$pcap" -Y 'isakmp.exchangetype == 34 && isakmp.flag_r == 1' \
	-T fields -e isakmp.key_exchange.data 2>/dev/null)
rk_log "KEr of the IKE_SA_INIT responses: ${kers[*]:-none}"
((${#kers[@]} == 2)) || rk_fail "expected 2 IKE_SA_INIT responses in the capture, saw ${#kers[@]}"
[[ -n ${kers[0]} && ${kers[0]} == "${kers[1]}" ]] ||
	rk_fail "the two IKE_SA_INIT responses do not carry the same KEr"

rk_stop r rdr
wait_until 5 swrk_sw_none s dr || rk_fail "charon kept dr after riked stopped"
rk_pass "strongSwan -> riked with dh_reuse: the second IKE SA got the first one's KEr, both carried pings"
