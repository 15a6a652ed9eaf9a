#!/bin/bash
#
# test_sw_nat.sh: riked and strongSwan with a real NAT between them
# (RFC 7296 2.23, RFC 3948), which also rewrites UDP source ports.
#
#   A. riked behind the NAT initiates:
#      [ns r] riked 192.168.77.2 -- .1 [ns m: masquerade] 10.78.0.1 -- 10.78.0.2 charon [ns s]
#   B. strongSwan behind the NAT initiates:
#      [ns sn] charon 192.168.77.2 -- .1 [ns mn: masquerade] 10.78.0.1 -- 10.78.0.2 riked [ns rp]
#
# nftables masquerade maps UDP source ports into 20000-30000
# (RK_NAT_PORTS), so port 500 and port 4500 become two different high ports
# and the responder has to follow the move to the NAT-T port. Inner
# addresses: riked 10.10.1.1/32, charon 10.10.2.1/32 (on lo). For each:
# both ends agree (swrk_check), riked's status --json shows nat_t true and
# the right NAT flag (nat_local in A, nat_remote in B), the responder sees
# the initiator at 10.78.0.1 with a translated port, and pings pass both
# ways through the tunnel.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3

RK_IN=10.10.1.1
SW_IN=10.10.2.1
IKE=aes256gcm16-prfsha256-x25519
ESP=aes256gcm16
export RK_NAT_PORTS=20000-30000

# in_nat_range ADDR:PORT -> true when ADDR is the NAT's and PORT was mapped
in_nat_range() {
	local host=${1%:*} port=${1##*:}
	[[ $host == 10.78.0.1 ]] && ((port >= 20000 && port <= 30000))
}

rk_log "---- A. riked behind the NAT initiates to strongSwan"
nat_middle r m s
ns_addr r lo "$RK_IN/32"
ns_addr s lo "$SW_IN/32"
sw_start s s
sw_load s s "$(swrk_sw_conf c 10.78.0.2 %any sw.rike.test rk.rike.test \
	"$SW_IN/32" "$RK_IN/32" "$IKE" "$ESP")" || rk_fail "swanctl load"
rk_start r r "$(swrk_riked_conf r "$(swrk_riked_conn c 192.168.77.2 10.78.0.2 rk.rike.test \
	sw.rike.test "$RK_IN/32" "$SW_IN/32" "$IKE" "$ESP" start)")"
swrk_wait_check 10 r s c
sw_peer=$(sw_list_sas s s --raw | sed -n 's/.* remote-host=\([^ ]*\) remote-port=\([0-9]*\) .*/\1:\2/p')
in_nat_range "$sw_peer" || rk_fail "strongSwan sees riked at '$sw_peer', not at a NAT-mapped port"
flags=$(swrk_json r '"%s %s" % (d["sas"][0]["nat_t"], d["sas"][0]["nat_local"])')
[[ $flags == "True True" ]] || rk_fail "riked: nat_t/nat_local are '$flags', expected both true"
rk_log "strongSwan sees riked at $sw_peer; riked nat_t and nat_local true"
swrk_ping r "$RK_IN" "$SW_IN"
swrk_ping s "$SW_IN" "$RK_IN"
rk_stop r r
wait_until 5 swrk_sw_none s c || rk_fail "charon kept the SA after riked stopped"
sw_stop s s

rk_log "---- B. strongSwan behind the NAT initiates to riked"
nat_middle sn mn rp
ns_addr sn lo "$SW_IN/32"
ns_addr rp lo "$RK_IN/32"
sw_start sn sn
sw_load sn sn "$(swrk_sw_conf c 192.168.77.2 10.78.0.2 sw.rike.test rk.rike.test \
	"$SW_IN/32" "$RK_IN/32" "$IKE" "$ESP")" || rk_fail "swanctl load"
# riked accepts the peer from any address (it only knows the NAT's)
rk_start rp rp "$(swrk_riked_conf rp "$(swrk_riked_conn c 10.78.0.2 %any rk.rike.test \
	sw.rike.test "$RK_IN/32" "$SW_IN/32" "$IKE" "$ESP" wait)")"
sw_initiate sn sn c c 10 || rk_fail "swanctl --initiate failed"
swrk_wait_check 5 rp sn c
rk_peer=$(swrk_json rp 'd["sas"][0]["remote"]')
in_nat_range "$rk_peer" || rk_fail "riked sees strongSwan at '$rk_peer', not at a NAT-mapped port"
flags=$(swrk_json rp '"%s %s %s" % (d["sas"][0]["nat_t"], d["sas"][0]["nat_remote"], d["sas"][0]["role"])')
[[ $flags == "True True responder" ]] ||
	rk_fail "riked: nat_t/nat_remote/role are '$flags', expected True True responder"
sw_list_sas sn sn --raw | grep -q 'nat-local=yes' || rk_fail "strongSwan did not detect its NAT"
rk_log "riked sees strongSwan at $rk_peer; riked nat_t and nat_remote true; strongSwan nat-local"
swrk_ping sn "$SW_IN" "$RK_IN"
swrk_ping rp "$RK_IN" "$SW_IN"
rk_pass "NAT both ways: SAs up through port-translating masquerade, pings pass"
