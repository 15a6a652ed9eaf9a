#!/bin/bash
#
# test_mobike_gateway.sh: strongSwan 5.9.8 as the MOBIKE (RFC 4555) mobile
# client, riked as the gateway. The client gets a second address on its
# link and its current address is deleted right after (before strongSwan
# announces the new one) under a 10 ms ping through the tunnel; strongSwan sends UPDATE_SA_ADDRESSES from the new address (after
# its fixed 100 ms wait) and riked, as the responder, checks return
# routability (RFC 4555 3.7: an INFORMATIONAL request with COOKIE2 to the
# new address) before its ESP goes there (3.5).
#
#   inner 10.10.1.1/32 (lo)                               inner 10.10.2.1/32 (lo)
#   +------ ns c -------+  to_g 10.77.0.1/24 (deleted)    +------ ns g ------+
#   | charon, mobile    |  +    10.77.0.3/24 (added)      | riked gateway    |
#   | client, local     |---------------------------------| local 10.77.0.2  |
#   | %any              |                 10.77.0.2/24    | remote %any      |
#   +-------------------+                    to_c         +------------------+
#                                              tshark (IKE decrypted with charon's keys)
#
# Checks, after the deletion:
#  - both ends: exactly one IKE SA with the IKE SPIs of before (strongSwan
#    falls back to a new IKE SA when the peer lacks MOBIKE: that fails here);
#    the gateway sees the client at 10.77.0.3; charon logged "peer supports
#    MOBIKE"; riked: status mobike enabled, path remote 10.77.0.3:4500,
#    stats mobike_updates_received, mobike_rr_checks and mobike_moves >= 1,
#    log lines mobike-rr-check, mobike-rr-ok and mobike-moved;
#  - on the wire (mob_wire_check with RR): one IKE_SA_INIT, MOBIKE_SUPPORTED
#    in both IKE_AUTH messages, the client's INFORMATIONAL request from
#    10.77.0.3 with UPDATE_SA_ADDRESSES and its response, then an
#    INFORMATIONAL request from the gateway to 10.77.0.3 with COOKIE2,
#    answered with COOKIE2, and the gateway's first ESP to 10.77.0.3 no
#    earlier than that request; none to 10.77.0.1 after;
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

ping_start c c "$MOB_CL_IN" "$MOB_GW_IN"
wait_until 10 ping_replied_since c "$EPOCHREALTIME" || rk_fail "no traffic through the tunnel"
mon_start c c
# The new address appears and the old one goes at once (renumbering), within
# strongSwan's 100 ms wait: it sends no address list (3.6) first, so the
# gateway has no authenticated word on 10.77.0.3 and must check it (3.7).
ns_addr c to_g 10.77.0.3/24
ns_addr_del c to_g 10.77.0.1/24
t0=$(mon_event_time c 'Deleted .*inet 10\.77\.0\.1/')
rk_log "deleted 10.77.0.1 at $t0"
wait_until 10 mob_ping_resumed c "$t0" || rk_fail "pings did not resume within 10 s"
sleep 2
ping_stop c
mob_report "address change" c "$t0"

wait_until 5 mob_local_is sw c 10.77.0.3 || rk_fail "client path: $(mob_state sw c)"
after=$(mob_state sw c)
gw_after=$(mob_state "$GW" g)
rk_log "client: $after; gateway: $gw_after"
mob_same_sa "$before" "$after" client
mob_same_sa "$gw_before" "$gw_after" gateway
[[ $(mob_remote "$GW" g) == 10.77.0.3 ]] || rk_fail "gateway still sees the client at $(mob_remote "$GW" g)"
grep -q "reauthenticating IKE_SA due to address change" "$(sw_log c)" &&
	rk_fail "charon reauthenticated instead of using MOBIKE"
rr=0
if [[ $GW == rike ]]; then
	rr=1
	swrk_wait_check 5 g c m
	st=$(swrk_json g '"%s %s %s %s" % (d["sas"][0]["mobike"]["path"]["remote"],
		d["stats"]["mobike_updates_received"], d["stats"]["mobike_rr_checks"],
		d["stats"]["mobike_moves"])') || rk_fail "riked status lacks the mobike fields"
	read -r p_remote n_upd n_rr n_mv <<<"$st"
	rk_log "riked: path remote $p_remote, updates received $n_upd, rr checks $n_rr, moves $n_mv"
	[[ $p_remote == 10.77.0.3:4500 ]] || rk_fail "riked status mobike.path.remote is '$p_remote'"
	((n_upd >= 1 && n_rr >= 1 && n_mv >= 1)) || rk_fail "riked mobike stats: $st"
	mob_rk_events g >&2 || true
	for e in mobike-rr-check mobike-rr-ok mobike-moved; do
		mob_rk_events g | grep -q " $e " || rk_fail "riked logged no $e"
	done
fi

tshark_stop
mob_wire_check mobike.pcap "$(sw_ike_keyrow c m)" "$t0" 10.77.0.1 10.77.0.3 10.77.0.2 10.77.0.2 "$rr"
rk_pass "$GW gateway followed the client 10.77.0.1 -> 10.77.0.3 on the same IKE SA; lost $(kv lost "$MOB_LAST_REPORT") pings, outage $(kv outage_ms "$MOB_LAST_REPORT") ms"
