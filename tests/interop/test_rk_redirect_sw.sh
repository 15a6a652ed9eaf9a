#!/bin/bash
#
# test_rk_redirect_sw.sh: riked as the client of a strongSwan gateway that
# redirects an established SA (RFC 5685 5, swanctl --redirect) to a second
# strongSwan gateway which only the client can reach.
#
#                                   +------ ns g1 ------+
#                 to_g1 10.84.1.1   | charon gw1        |  inner 10.10.2.1 (lo)
#   +--- ns c ---+------------------| 10.84.1.2         |
#   | client     |                  +-------------------+
#   | 10.10.1.1  |                  +------ ns g2 ------+
#   | (lo)       |------------------| charon gw2        |  inner 10.10.2.1 and
#   +------------+  to_g2 10.84.2.1 | 10.84.2.2         |  10.10.3.1 (lo): only here
#                                   +-------------------+
#
# Both gateways: identity gw.rike.test, local_ts 10.10.0.0/16, the same PSK
# (RFC 5685 3: the new gateway is authorised by the same PAD entry). The
# client: remote 10.84.1.2, remote_ts 10.10.0.0/16, local = %any (the new
# gateway is reached from the other interface).
#
# Part R (reference, strongSwan client): checks the peers and the topology:
# charon gw1's swanctl --redirect moves a charon client to gw2.
# Part 1 (riked client, redirect = { allow = [ "10.84.2.0/24" ]; }): with a
# ping every 20 ms to 10.10.2.1 running, gw1 runs swanctl --redirect --ike
# rd --gateway 10.84.2.2. riked must log redirect-followed (in INFORMATIONAL),
# hold exactly one ESTABLISHED SA with an installed Child SA, with 10.84.2.2;
# gw2 must have it (swrk_check: SPIs and algorithms agree); gw1 must hold no
# SA of rd within 10 s; 10.10.3.1 (only behind gw2, unreachable before the
# move) must answer through the tunnel. Pings lost and the largest gap
# between replies during the move are reported (not asserted: timing is
# bench/redirect.sh's business).
#
# RK_REDIRECT_PEERS_ONLY=1 runs only part R (the strongSwan halves).

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
need_cmd ping python3 awk
PEERS_ONLY=${RK_REDIRECT_PEERS_ONLY:-0}
((PEERS_ONLY)) || rk_need

IKE=aes256gcm16-prfsha256-x25519
ESP=aes256gcm16
CL_IN=10.10.1.1
GW1=10.84.1.2
GW2=10.84.2.2

ns_create c
ns_create g1
ns_create g2
link_ns c g1 10.84.1.1/24 "$GW1/24"
link_ns c g2 10.84.2.1/24 "$GW2/24"
ns_addr c lo "$CL_IN/32"
ns_addr g1 lo 10.10.2.1/32
ns_addr g2 lo 10.10.2.1/32
ns_addr g2 lo 10.10.3.1/32

# gateway NAME NS LOCAL: a charon gateway for client cl.rike.test
gateway() {
	sw_start "$2" "$1"
	sw_load "$2" "$1" "$(swrk_sw_conf rd "$3" %any gw.rike.test cl.rike.test \
		10.10.0.0/16 10.10.1.0/24 "$IKE" "$ESP")" || rk_fail "swanctl load $1"
}

# sw_redirect GW_NAME: swanctl --redirect of rd on GW_NAME to gw2; checks
# that charon really sent it (it reports success even when the client never
# announced REDIRECT_SUPPORTED, INTEROP-NOTES.md).
sw_redirect() {
	sw_swanctl "$1" --redirect --ike rd --gateway "$GW2" >>"$(sw_dir "$1")/swanctl.out" 2>&1 ||
		rk_fail "swanctl --redirect on $1 failed"
	grep -q 'does not support IKE redirection' "$(sw_log "$1")" &&
		rk_fail "charon $1: the client did not announce REDIRECT_SUPPORTED"
	wait_until 3 grep -Eq 'generating INFORMATIONAL request [0-9]+ \[ N\(REDIR\) \]' "$(sw_log "$1")" ||
		rk_fail "charon $1 logged no INFORMATIONAL with N(REDIRECT)"
	rk_log "charon $1 sent N(REDIRECT) to $GW2"
}

# pinger LABEL SECONDS: ping 10.10.2.1 every 20 ms for SECONDS (ping -w
# bounds it), receive timestamps, output in $RK_RUN/LABEL.ping
pinger() {
	rk_spawn "ping:$1" "$RK_RUN/$1.ping" ip netns exec "$(ns_name c)" \
		ping -D -n -i 0.02 -w "$2" -I "$CL_IN" 10.10.2.1
	wait_until 5 grep -q 'bytes from' "$RK_RUN/$1.ping" || rk_fail "$1: no echo reply through the tunnel"
}

# pinger_done LABEL: wait for it (bounded by its -w) and report
pinger_done() {
	local pid r
	pid=$(rk_label_pid "ping:$1")
	wait_until 30 eval "! rk_pid_alive $pid" || rk_fail "ping $1 did not end"
	rk_kill_labels "ping:$1"
	r=$(ping_gaps "$RK_RUN/$1.ping")
	read -r sent got lost gap <<<"$r"
	rk_log "$1: during the move $sent pings sent, $got answered, $lost lost, largest gap ${gap} ms"
	((got > 0)) || rk_fail "$1: no ping answered"
}

only_gw3_unreachable() {
	! ns_exec c ping -c 2 -i 0.2 -W 1 -I "$CL_IN" 10.10.3.1 >/dev/null 2>&1 ||
		rk_fail "10.10.3.1 answered before the move: the proof address is not gw2-only"
}

# ---------------------------------------------------------------- part R
rk_log "---- part R: strongSwan client, strongSwan gw1 redirects to strongSwan gw2"
gateway g1r g1 "$GW1"
gateway g2r g2 "$GW2"
# charon.follow_redirects (strongswan.conf, default yes): said explicitly
sw_start c clr "follow_redirects = yes"
sw_load c clr "$(swrk_sw_conf rd %any "$GW1" cl.rike.test gw.rike.test "$CL_IN/32" \
	10.10.0.0/16 "$IKE" "$ESP")" || rk_fail "swanctl load clr"
sw_initiate c clr rd rd 10 || rk_fail "charon client: rd not up with gw1"
[[ $(sw_sa_remote clr rd) == "$GW1" ]] || rk_fail "charon client: rd is not with gw1"
only_gw3_unreachable
pinger R 6
sw_redirect g1r
wait_until 10 eval '[[ $(sw_sa_remote clr rd) == '"$GW2"' ]]' ||
	rk_fail "charon client did not move to gw2: $(sw_list_sas c clr)"
wait_until 5 sw_sa_up c clr rd rd || rk_fail "charon client: no Child SA with gw2"
wait_until 5 sw_sa_up g2 g2r rd rd || rk_fail "charon gw2: rd not up"
wait_until 10 swrk_sw_none g1r rd || rk_fail "charon gw1 still holds rd"
swrk_ping c "$CL_IN" 10.10.3.1
pinger_done R
sw_stop c clr
sw_stop g1 g1r
sw_stop g2 g2r
((PEERS_ONLY)) && rk_pass "strongSwan halves: swanctl --redirect moves a charon client to gw2"

# ---------------------------------------------------------------- part 1
rk_log "---- part 1: riked client, strongSwan gw1 redirects to strongSwan gw2"
gateway g1 g1 "$GW1"
gateway g2 g2 "$GW2"
rk_start c cl "$(swrk_riked_conf cl "$(swrk_riked_conn rd %any "$GW1" cl.rike.test gw.rike.test \
	"$CL_IN/32" 10.10.0.0/16 "$IKE" "$ESP" start \
	'redirect = { accept = true; allow = [ "10.84.2.0/24" ]; };')")"
wait_until 10 sw_sa_up g1 g1 rd rd || rk_fail "charon gw1: rd not up"
swrk_wait_check 5 cl g1 rd
[[ $(swrk_json cl 'd["sas"][0]["redirect"]["peer_supported"]') == False ]] ||
	true # strongSwan's gateway announces nothing; the field must exist (below)
swrk_json cl 'd["sas"][0]["redirect"]' >/dev/null || rk_fail "riked status has no redirect object"
only_gw3_unreachable
pinger 1 6
sw_redirect g1
wait_until 10 grep -q 'redirect-followed.*to 10\.84\.2\.2.*INFORMATIONAL' "$(rk_log_file cl)" ||
	rk_fail "riked logged no redirect-followed to $GW2 (in INFORMATIONAL)"
wait_until 10 sw_sa_up g2 g2 rd rd || rk_fail "charon gw2: rd not up after the redirect"
swrk_wait_check 10 cl g2 rd
[[ $(swrk_json cl 'd["sas"][0]["remote"].split("[")[0].rsplit(":", 1)[0] if d["sas"][0]["remote"].count(":") == 1 else d["sas"][0]["remote"]') == "$GW2" ]] ||
	rk_fail "riked's SA is not with $GW2: $(swrk_json cl 'd["sas"][0]["remote"]')"
r=$(rd_counter_check cl followed -eq 1) || rk_fail "$r"
wait_until 10 swrk_sw_none g1 rd || rk_fail "charon gw1 still holds rd 10 s after the redirect"
swrk_ping c "$CL_IN" 10.10.3.1
pinger_done 1
grep -E 'redirect-(refused|ignored)' "$(rk_log_file cl)" && rk_fail "riked refused or ignored a redirect"
rk_stop c cl
rk_pass "riked followed strongSwan's gateway-initiated redirect to gw2; traffic through gw2"
