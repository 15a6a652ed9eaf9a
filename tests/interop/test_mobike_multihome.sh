#!/bin/bash
#
# test_mobike_multihome.sh: a multihomed riked MOBIKE (RFC 4555) client with
# two uplinks to a strongSwan 5.9.8 gateway. The uplink the SA uses goes
# down (`ip link set up1 down`) under a 10 ms ping: the SA must move to the
# other uplink (its address stays configured on the dead link, so this is
# the routing change of RFC 4555 3.5, not an address deletion).
#
#   inner 10.10.1.1/32 (lo)                              inner 10.10.2.1/32 (lo)
#   +------ ns c -------+  up1 10.77.0.1/24 --- 10.77.0.2/24 dn1  +---- ns g ----+
#   | riked, mobile     |========================================| charon       |
#   | client, local     |  up2 10.78.0.1/24 --- 10.78.0.2/24 dn2  | gateway      |
#   | %any              |========================================| 10.79.0.1/32 |
#   +-------------------+                                         | (on gw0)     |
#   routes to 10.79.0.1: via up1 metric 10, via up2 metric 20     +--------------+
#                                            tshark on g "any" and on dn2
#
# Checks: the SA starts on up1 (10.77.0.1); after up1 goes down, both ends
# hold one IKE SA with the same IKE SPIs and the path 10.78.0.1 <->
# 10.79.0.1; an INFORMATIONAL request from 10.78.0.1 with
# UPDATE_SA_ADDRESSES (inside SK) and ESP both ways on the second link (the
# dn2 capture), none to 10.77.0.1 afterwards; riked logged mobike-moved to
# 10.78.0.1; pings resume, the last 50 are all answered; losses logged.
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

GW_ADDR=10.79.0.1
ns_create c
ns_create g
link_ns_if c g up1 dn1 10.77.0.1/24 10.77.0.2/24
link_ns_if c g up2 dn2 10.78.0.1/24 10.78.0.2/24
ns_mobile c
ns_mobile g
ns_stub_addr g gw0 "$GW_ADDR/32"
ns_addr c lo "$MOB_CL_IN/32"
ns_addr g lo "$MOB_GW_IN/32"
ip -n "$(ns_name c)" route add "$GW_ADDR/32" via 10.77.0.2 dev up1 metric 10 || rk_fail "route via up1"
ip -n "$(ns_name c)" route add "$GW_ADDR/32" via 10.78.0.2 dev up2 metric 20 || rk_fail "route via up2"

mob_gateway sw g g
tshark_start g any mobike.pcap
tshark_start g dn2 dn2.pcap
mob_client "$CL" c c "$GW_ADDR"
wait_until 5 sw_sa_up g g m m || rk_fail "charon: m not up"
before=$(mob_state "$CL" c)
gw_before=$(mob_state sw g)
rk_log "client: $before; gateway: $gw_before"
[[ $(mob_local "$CL" c) == 10.77.0.1 ]] || rk_fail "the SA does not start on up1 ($before)"

ping_start c c "$MOB_CL_IN" "$MOB_GW_IN"
wait_until 10 ping_replied_since c "$EPOCHREALTIME" || rk_fail "no traffic through the tunnel"
mon_start c c
ipb_start c
sleep 0.5
ns_link_down c up1
t0=$RK_DEL_T0
tm=$(mon_event_time c 'up1.*state DOWN|up1.*<[^>]*> ')
rk_log "up1 down at $t0"
wait_until 10 mob_ping_resumed c "$t0" || rk_fail "pings did not resume within 10 s"
sleep 2
ping_stop c
mob_report "uplink failure" c "$t0" "$tm"

wait_until 5 mob_local_is "$CL" c 10.78.0.1 || rk_fail "client path: $(mob_state "$CL" c)"
after=$(mob_state "$CL" c)
gw_after=$(mob_state sw g)
rk_log "client: $after; gateway: $gw_after"
mob_same_sa "$before" "$after" client
mob_same_sa "$gw_before" "$gw_after" gateway
[[ $(mob_remote sw g) == 10.78.0.1 ]] || rk_fail "gateway sees the client at $(mob_remote sw g)"
if [[ $CL == rike ]]; then
	swrk_wait_check 5 c g m
	mob_rk_events c >&2 || true
	mob_rk_events c | grep -q ' mobike-moved .*10\.78\.0\.1' || rk_fail "riked logged no mobike-moved to 10.78.0.1"
fi

tshark_stop
mob_wire_check mobike.pcap "$(sw_ike_keyrow g m)" "$t0" 10.77.0.1 10.78.0.1 "$GW_ADDR" "$GW_ADDR" 0
t=$(awk -v t="$t0" 'BEGIN { printf "%.6f", t }')
up=$(tshark_count dn2.pcap "esp && ip.src == 10.78.0.1 && frame.time_epoch > $t")
down=$(tshark_count dn2.pcap "esp && ip.dst == 10.78.0.1 && frame.time_epoch > $t")
((up >= 50 && down >= 50)) || rk_fail "ESP on the second link after up1 went down: $up up, $down down"
early=$(tshark_count dn2.pcap "esp && frame.time_epoch < $t")
rk_log "second link (dn2): ESP $up up, $down down after the failure, $early before"
rk_pass "$CL client moved from up1 to up2 on the same IKE SA; lost $(kv lost "$MOB_LAST_REPORT") pings, outage $(kv outage_ms "$MOB_LAST_REPORT") ms"
