#!/bin/bash
#
# test_mobike_client.sh: riked as a MOBIKE (RFC 4555) mobile client,
# strongSwan 5.9.8 as the gateway (mobike = yes is its default). The client
# gets a second address on its link, then its current address is deleted
# under a 10 ms ping through the tunnel: the IKE SA and its Child SA must
# follow to the new address without a new IKE SA.
#
#   inner 10.10.1.1/32 (lo)                               inner 10.10.2.1/32 (lo)
#   +------ ns c -------+  to_g 10.77.0.1/24 (deleted)    +------ ns g ------+
#   | riked, mobile     |  +    10.77.0.3/24 (added)      | charon gateway   |
#   | client, local     |---------------------------------| kernel-libipsec  |
#   | %any              |                 10.77.0.2/24    | mobike = yes     |
#   +-------------------+                    to_c         +------------------+
#                                              tshark (IKE decrypted with charon's keys)
#
# Checks, after the deletion:
#  - both ends: exactly one IKE SA, with the IKE SPIs of before (no new IKE
#    SA: strongSwan would otherwise reauthenticate "successfully"); riked's
#    and charon's view of the path is 10.77.0.3 <-> 10.77.0.2; riked's
#    status says mobike enabled and path 10.77.0.3:4500; riked logged
#    mobike-update-sent and mobike-moved; charon logged "peer supports MOBIKE";
#  - on the wire (mob_wire_check): one IKE_SA_INIT, MOBIKE_SUPPORTED in both
#    IKE_AUTH messages, an INFORMATIONAL request 10.77.0.3 -> 10.77.0.2 with
#    UPDATE_SA_ADDRESSES inside SK and its response, ESP both ways on the new
#    address and none to the old one afterwards;
#  - pings resume and the last 50 are all answered; lost pings and the
#    outage are logged (targets: bench/mobike.sh).
#
# RK_MOBIKE_CLIENT=sw puts charon in riked's place: it checks the harness and
# the strongSwan half (riked-only checks are skipped).

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
ns_mobile c
ns_addr c lo "$MOB_CL_IN/32"
ns_addr g lo "$MOB_GW_IN/32"

mob_gateway sw g g
tshark_start g to_c mobike.pcap
mob_client "$CL" c c 10.77.0.2
wait_until 5 sw_sa_up g g m m || rk_fail "charon: m not up"
before=$(mob_state "$CL" c)
gw_before=$(mob_state sw g)
rk_log "client: $before; gateway: $gw_before"
grep -q "peer supports MOBIKE" "$(sw_log g)" || rk_fail "the gateway did not see MOBIKE_SUPPORTED"
if [[ $CL == rike ]]; then
	[[ $(awk '{ print $8 }' <<<"$before") == true ]] ||
		rk_fail "riked status: mobike.enabled is not true ($before)"
fi
[[ $(mob_local "$CL" c) == 10.77.0.1 ]] || rk_fail "client does not use 10.77.0.1 ($before)"

ping_start c c "$MOB_CL_IN" "$MOB_GW_IN"
wait_until 10 ping_replied_since c "$EPOCHREALTIME" || rk_fail "no traffic through the tunnel"
mon_start c c
ipb_start c
ns_addr c to_g 10.77.0.3/24
sleep 1 # the client may announce its new address (RFC 4555 3.6) first
ns_addr_del c to_g 10.77.0.1/24
t0=$RK_DEL_T0
tm=$(mon_event_time c 'Deleted .*inet 10\.77\.0\.1/')
rk_log "deleted 10.77.0.1 at $t0"
wait_until 10 mob_ping_resumed c "$t0" || rk_fail "pings did not resume within 10 s"
sleep 2
ping_stop c
mob_report "address change" c "$t0" "$tm"

wait_until 5 mob_local_is "$CL" c 10.77.0.3 || rk_fail "client path: $(mob_state "$CL" c)"
after=$(mob_state "$CL" c)
gw_after=$(mob_state sw g)
rk_log "client: $after; gateway: $gw_after"
mob_same_sa "$before" "$after" client
mob_same_sa "$gw_before" "$gw_after" gateway
[[ $(mob_remote sw g) == 10.77.0.3 ]] || rk_fail "gateway still sees the client at $(mob_remote sw g)"
grep -q "parsed INFORMATIONAL request [0-9]* \[.*N(UPD_SA_ADDR)" "$(sw_log g)" ||
	rk_fail "the gateway parsed no UPDATE_SA_ADDRESSES"
if [[ $CL == rike ]]; then
	swrk_wait_check 5 c g m
	path=$(swrk_json c 'd["sas"][0]["mobike"]["path"]["local"]')
	[[ $path == 10.77.0.3:4500 ]] || rk_fail "riked status mobike.path.local is '$path'"
	mob_rk_events c >&2 || true
	mob_rk_events c | grep -q ' mobike-update-sent ' || rk_fail "riked logged no mobike-update-sent"
	mob_rk_events c | grep -q ' mobike-moved .*10\.77\.0\.3' || rk_fail "riked logged no mobike-moved to 10.77.0.3"
fi

tshark_stop
mob_wire_check mobike.pcap "$(sw_ike_keyrow g m)" "$t0" 10.77.0.1 10.77.0.3 10.77.0.2 10.77.0.2 0
rk_pass "$CL client moved 10.77.0.1 -> 10.77.0.3 on the same IKE SA; lost $(kv lost "$MOB_LAST_REPORT") pings, outage $(kv outage_ms "$MOB_LAST_REPORT") ms"
