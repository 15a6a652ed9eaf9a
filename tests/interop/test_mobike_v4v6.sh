#!/bin/bash
#
# test_mobike_v4v6.sh: a riked MOBIKE (RFC 4555) client moves its outer
# addresses from IPv4 to IPv6 and back, strongSwan 5.9.8 as the gateway.
# Both ends have both families on one link; the client is configured with
# the gateway's IPv4 address only and learns the IPv6 one from the gateway's
# ADDITIONAL_IP6_ADDRESS (RFC 4555 3.4). The inner tunnel stays IPv4.
#
#   inner 10.10.1.1/32 (lo)                              inner 10.10.2.1/32 (lo)
#   +------ ns c -------+  to_g 10.77.0.1/24             +------ ns g ------+
#   | riked, mobile     |       fd00:77::1/64            | charon gateway   |
#   | client, local     |--------------------------------| 10.77.0.2/24     |
#   | %any, remote      |                                | fd00:77::2/64    |
#   | 10.77.0.2         |                    to_c        | mobike = yes     |
#   +-------------------+                                +------------------+
#                                             tshark (IKE decrypted with charon's keys)
#
# 1. delete 10.77.0.1: the SA moves to fd00:77::1 <-> fd00:77::2;
# 2. add 10.77.0.1 again, delete fd00:77::1: the SA moves back to
#    10.77.0.1 <-> 10.77.0.2.
# After each: both ends hold one IKE SA with the IKE SPIs of the start, both
# see the new path; on the wire an INFORMATIONAL request from the new
# address to the gateway's address of that family with UPDATE_SA_ADDRESSES
# (inside SK), its response, ESP both ways in the new family and none to
# the old address afterwards; riked logged mobike-moved; pings under a
# 10 ms stream resume and the last 50 are all answered (losses logged).
#
# RK_MOBIKE_CLIENT=sw puts charon in riked's place (harness check).

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=mobike_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/mobike_lib.sh"

CL=${RK_MOBIKE_CLIENT:-rike}
skip_unless_root
sw_need
[[ $CL == sw ]] || rk_need
need_cmd ping python3 tshark

ns_create c
ns_create g
link_ns c g 10.77.0.1/24 10.77.0.2/24
ns_addr c to_g fd00:77::1/64
ns_addr g to_c fd00:77::2/64
ns_mobile c
ns_addr c lo "$MOB_CL_IN/32"
ns_addr g lo "$MOB_GW_IN/32"

mob_gateway sw g g
tshark_start g to_c mobike.pcap
mob_client "$CL" c c 10.77.0.2
wait_until 5 sw_sa_up g g m m || rk_fail "charon: m not up"
start=$(mob_state "$CL" c)
gw_start=$(mob_state sw g)
rk_log "client: $start; gateway: $gw_start"
[[ $(mob_local "$CL" c) == 10.77.0.1 ]] || rk_fail "client does not start on 10.77.0.1 ($start)"
grep -q "ADD_6_ADDR" "$(sw_log g)" || rk_log "note: charon's log shows no ADDITIONAL_IP6_ADDRESS sent"
mon_start c c
ipb_start c

# move STEP OLD NEW GW_OLD GW_NEW DEL_PREFIX ADD_BACK: delete OLD (after
# re-adding ADD_BACK, if given) under a 10 ms ping and check the move.
move() {
	local step=$1 old=$2 new=$3 gwo=$4 gwn=$5 del=$6 t0 tm after gw_after
	rk_log "---- $step: $old -> $new"
	[[ $CL == rike ]] && rk_log "$step: riked's peer addresses before: $(swrk_json c 'd["sas"][0]["mobike"]["peer_addresses"]')"
	ping_start "$step" c "$MOB_CL_IN" "$MOB_GW_IN"
	wait_until 10 ping_replied_since "$step" "$EPOCHREALTIME" || rk_fail "$step: no traffic"
	sleep 1
	ns_addr_del c to_g "$del"
	t0=$RK_DEL_T0
	tm=$(mon_event_time c "Deleted .*inet6? ${old//./\\.}/")
	wait_until 10 mob_ping_resumed "$step" "$t0" || rk_fail "$step: pings did not resume within 10 s"
	sleep 2
	ping_stop "$step"
	mob_report "$step" "$step" "$t0" "$tm"
	wait_until 5 mob_local_is "$CL" c "$new" || rk_fail "$step: client path $(mob_state "$CL" c)"
	after=$(mob_state "$CL" c)
	gw_after=$(mob_state sw g)
	rk_log "$step: client: $after; gateway: $gw_after"
	mob_same_sa "$start" "$after" "$step client"
	mob_same_sa "$gw_start" "$gw_after" "$step gateway"
	[[ $(mob_remote sw g) == "$new" ]] || rk_fail "$step: gateway sees the client at $(mob_remote sw g)"
	[[ $(mob_remote "$CL" c) == "$gwn" ]] || rk_fail "$step: client talks to $(mob_remote "$CL" c), not $gwn"
	if [[ $CL == rike ]]; then
		swrk_wait_check 5 c g m
		mob_rk_events c | grep -q " mobike-moved .*${new//./\\.}" || rk_fail "$step: riked logged no mobike-moved to $new"
	fi
	WIRE+=("$t0 $old $new $gwo $gwn")
	STEP_LOST+=("$step: lost $(kv lost "$MOB_LAST_REPORT"), outage $(kv outage_ms "$MOB_LAST_REPORT") ms")
}
STEP_LOST=()
WIRE=()

move v4-to-v6 10.77.0.1 fd00:77::1 10.77.0.2 fd00:77::2 10.77.0.1/24
ns_addr c to_g 10.77.0.1/24
move v6-to-v4 fd00:77::1 10.77.0.1 fd00:77::2 10.77.0.2 fd00:77::1/64
[[ $CL == rike ]] && { mob_rk_events c >&2 || true; }

# One capture for both moves: each check sees what came before the next one.
tshark_stop
key=$(sw_ike_keyrow g m)
read -r -a w1 <<<"${WIRE[0]}"
read -r -a w2 <<<"${WIRE[1]}"
mob_wire_check mobike.pcap "$key" "${w1[@]:0:5}" 0 "${w2[0]}"
mob_wire_check mobike.pcap "$key" "${w2[@]:0:5}" 0
rk_pass "$CL client moved IPv4 -> IPv6 -> IPv4 on one IKE SA (${STEP_LOST[*]})"
