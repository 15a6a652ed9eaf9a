#!/bin/bash
#
# test_mobike_gateway.sh: strongSwan 5.9.8 as the MOBIKE (RFC 4555) mobile
# client, riked as the gateway, under a 10 ms ping through the tunnel:
#
#   1. renumber: the client gets 10.77.0.3 and loses 10.77.0.1 at once
#      (within strongSwan's 100 ms wait, so it announces nothing first):
#      strongSwan sends UPDATE_SA_ADDRESSES from 10.77.0.3 and riked, as the
#      responder, must check return routability (3.7: an INFORMATIONAL
#      request with COOKIE2 to the new address) before its ESP goes there
#      (3.5): on the wire an extra INFORMATIONAL request from the gateway
#      after the client's update;
#   2. announced: the client gets 10.77.0.4, announces it (ADDITIONAL_IP4_
#      ADDRESS, 3.6) and 1 s later loses 10.77.0.3: the SA moves again; the
#      gateway may skip the check for an authenticated address (logged).
#
#   inner 10.10.1.1/32 (lo)                               inner 10.10.2.1/32 (lo)
#   +------ ns c -------+  to_g 10.77.0.1/24 -> .3 -> .4  +------ ns g ------+
#   | charon, mobile    |---------------------------------| riked gateway    |
#   | client, local     |                 10.77.0.2/24    | local 10.77.0.2  |
#   | %any              |                    to_c         | remote %any      |
#   +-------------------+                                 +------------------+
#                                              tshark (IKE decrypted with charon's keys)
#
# Checks after each move:
#  - both ends: exactly one IKE SA with the IKE SPIs of the start
#    (strongSwan falls back to a new IKE SA when the peer lacks MOBIKE: that
#    fails here, and so does its "reauthenticating IKE_SA due to address
#    change"); the gateway sees the client at the new address; riked:
#    status mobike enabled and path remote NEW:4500, stats
#    mobike_updates_received and mobike_moves >= 1, mobike_rr_checks grown
#    in step 1, log lines mobike-moved (and mobike-rr-check, mobike-rr-ok in
#    step 1);
#  - on the wire (mob_wire_check): one IKE_SA_INIT, MOBIKE_SUPPORTED in both
#    IKE_AUTH messages, the client's INFORMATIONAL request from NEW with
#    UPDATE_SA_ADDRESSES and its response, ESP both ways on NEW and none to
#    the old address after; step 1 also an INFORMATIONAL request from the
#    gateway to NEW with COOKIE2, answered with COOKIE2, and the gateway's
#    first ESP to NEW no earlier than that request;
#  - pings resume and the last 50 are all answered; losses logged.
#
# RK_MOBIKE_GATEWAY=sw puts charon in riked's place (harness check; the
# return-routability and riked-only checks are skipped: strongSwan's
# responder does not check return routability).

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=mobike_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/mobike_lib.sh"

GW=${RK_MOBIKE_GATEWAY:-rike}
skip_unless_root
sw_need
[[ $GW == sw ]] || rk_need
need_cmd ping python3 tshark

ns_create c
ns_create g
link_ns c g 10.77.0.1/24 10.77.0.2/24
ns_mobile c
ns_addr c lo "$MOB_CL_IN/32"
ns_addr g lo "$MOB_GW_IN/32"

mob_gateway "$GW" g g 10.77.0.2
tshark_start g to_c mobike.pcap
mob_client sw c c 10.77.0.2
wait_until 5 mob_up "$GW" g || rk_fail "gateway: m not up"
before=$(mob_state sw c)
gw_before=$(mob_state "$GW" g)
rk_log "client: $before; gateway: $gw_before"
grep -q "peer supports MOBIKE" "$(sw_log c)" || rk_fail "charon did not see MOBIKE_SUPPORTED from the gateway"
if [[ $GW == rike ]]; then
	[[ $(awk '{ print $8 }' <<<"$gw_before") == true ]] ||
		rk_fail "riked status: mobike.enabled is not true ($gw_before)"
fi

mon_start c c

ipb_start c
STEPS=()
WIRE=()

# move STEP OLD NEW ANNOUNCE: give the client NEW, then delete OLD under a
# 10 ms ping. ANNOUNCE=0: at once, within strongSwan's 100 ms wait, so it
# sends no address list (3.6) first and the gateway has no authenticated
# word on NEW: it must check return routability (3.7). ANNOUNCE=1: 1 s
# later, after strongSwan's ADDITIONAL_IP4_ADDRESS: the check may be skipped.
move() {
	local step=$1 old=$2 new=$3 ann=$4 t0 tm after gw_after st p_remote n_upd n_rr n_mv rr0=0
	rk_log "---- $step: $old -> $new"
	[[ $GW == rike ]] && rr0=$(swrk_json g 'd["stats"]["mobike_rr_checks"]')
	ping_start "$step" c "$MOB_CL_IN" "$MOB_GW_IN"
	wait_until 10 ping_replied_since "$step" "$EPOCHREALTIME" || rk_fail "$step: no traffic"
	ns_addr c to_g "$new/24"
	((ann)) && sleep 1
	ns_addr_del c to_g "$old/24"
	t0=$RK_DEL_T0
	tm=$(mon_event_time c "Deleted .*inet ${old//./\\.}/")
	wait_until 10 mob_ping_resumed "$step" "$t0" || rk_fail "$step: pings did not resume within 10 s"
	sleep 2
	ping_stop "$step"
	mob_report "$step" "$step" "$t0" "$tm"

	wait_until 5 mob_local_is sw c "$new" || rk_fail "$step: client path: $(mob_state sw c)"
	after=$(mob_state sw c)
	gw_after=$(mob_state "$GW" g)
	rk_log "$step: client: $after; gateway: $gw_after"
	mob_same_sa "$before" "$after" "$step client"
	mob_same_sa "$gw_before" "$gw_after" "$step gateway"
	[[ $(mob_remote "$GW" g) == "$new" ]] || rk_fail "$step: gateway sees the client at $(mob_remote "$GW" g)"
	grep -q "reauthenticating IKE_SA due to address change" "$(sw_log c)" &&
		rk_fail "$step: charon reauthenticated instead of using MOBIKE"
	if [[ $GW == rike ]]; then
		swrk_wait_check 5 g c m
		st=$(swrk_json g '"%s %s %s %s" % (d["sas"][0]["mobike"]["path"]["remote"],
			d["stats"]["mobike_updates_received"], d["stats"]["mobike_rr_checks"],
			d["stats"]["mobike_moves"])') || rk_fail "riked status lacks the mobike fields"
		read -r p_remote n_upd n_rr n_mv <<<"$st"
		rk_log "$step: riked path remote $p_remote, updates received $n_upd, rr checks $n_rr (+$((n_rr - rr0))), moves $n_mv"
		[[ $p_remote == "$new:4500" ]] || rk_fail "$step: riked status mobike.path.remote is '$p_remote'"
		((n_upd >= 1 && n_mv >= 1)) || rk_fail "$step: riked mobike stats: $st"
		((ann || n_rr > rr0)) || rk_fail "$step: riked counted no return-routability check"
		mob_rk_events g | grep -q " mobike-moved .*${new//./\\.}" || rk_fail "$step: riked logged no mobike-moved to $new"
		if ((!ann)); then
			for e in mobike-rr-check mobike-rr-ok; do
				mob_rk_events g | grep -q " $e " || rk_fail "$step: riked logged no $e"
			done
		fi
	fi
	WIRE+=("$t0 $old $new $ann")
	STEPS+=("$step: lost $(kv lost "$MOB_LAST_REPORT"), outage $(kv outage_ms "$MOB_LAST_REPORT") ms")
}

move renumber 10.77.0.1 10.77.0.3 0
move announced 10.77.0.3 10.77.0.4 1
[[ $GW == rike ]] && { mob_rk_events g >&2 || true; }

# One capture for both moves: each check sees what came before the next one.
tshark_stop
key=$(sw_ike_keyrow c m)
read -r -a w1 <<<"${WIRE[0]}"
read -r -a w2 <<<"${WIRE[1]}"
rr=0
[[ $GW == rike ]] && rr=1
mob_wire_check mobike.pcap "$key" "${w1[@]:0:3}" 10.77.0.2 10.77.0.2 "$rr" "${w2[0]}"
# announced: the gateway may skip the check; what it did is logged
mob_wire_check mobike.pcap "$key" "${w2[@]:0:3}" 10.77.0.2 10.77.0.2 0
rk_pass "$GW gateway followed the client 10.77.0.1 -> 10.77.0.3 -> 10.77.0.4 on one IKE SA (${STEPS[*]})"
