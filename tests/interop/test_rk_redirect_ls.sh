#!/bin/bash
#
# test_rk_redirect_ls.sh: riked as the client of a libreswan 4.10 gateway
# that redirects every new client during IKE_SA_INIT (RFC 5685 3; pluto
# --global-redirect yes --global-redirect-to GW2) to a strongSwan gateway.
#
#                                   +------ ns g1 ------+
#                 to_g1 10.85.1.1   | pluto gw1         |  (IKE only: libreswan
#   +--- ns c ---+------------------| 10.85.1.2         |   installs no Child
#   | client     |                  +-------------------+   SA here)
#   | 10.10.1.1  |                  +------ ns g2 ------+
#   | (lo)       |------------------| charon gw2        |  inner 10.10.2.1 (lo)
#   +------------+  to_g2 10.85.2.1 | 10.85.2.2         |
#                                   +-------------------+
#
# Part R (reference, strongSwan client): pluto answers the IKE_SA_INIT with
# N(REDIRECT) and charon follows it to gw2 (checks pluto's set-up and the
# topology).
# Part 1 (riked client): riked initiates to gw1, logs redirect-followed (in
# IKE_SA_INIT) to 10.85.2.2, and its IKE SA (with a Child SA) comes up with
# charon gw2: swrk_check agrees on SPIs and algorithms, gw2 saw
# N(REDIRECTED_FROM) in the IKE_SA_INIT, pluto holds no state for it, and a
# ping crosses the tunnel.
#
# Needs libreswan unpacked by tests/interop/get-libreswan.sh (skips without).
# RK_REDIRECT_PEERS_ONLY=1 runs only part R.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
ls_need
need_cmd ping python3
PEERS_ONLY=${RK_REDIRECT_PEERS_ONLY:-0}
((PEERS_ONLY)) || rk_need

IKE=aes256gcm16-prfsha256-x25519
ESP=aes256gcm16
CL_IN=10.10.1.1
GW1=10.85.1.2
GW2=10.85.2.2

ns_create c
ns_create g1
ns_create g2
link_ns c g1 10.85.1.1/24 "$GW1/24"
link_ns c g2 10.85.2.1/24 "$GW2/24"
ns_addr c lo "$CL_IN/32"
ns_addr g2 lo 10.10.2.1/32

LS_CONF=$(
	cat <<-EOF
		conn rd
		    ikev2=yes
		    authby=secret
		    left=$GW1
		    leftid=@gw.rike.test
		    leftsubnet=10.10.0.0/16
		    right=%any
		    rightid=@cl.rike.test
		    rightsubnet=10.10.1.0/24
		    auto=add
	EOF
)
ls_start g1 g1 "$LS_CONF" --global-redirect yes --global-redirect-to "$GW2"
sw_start g2 g2
sw_load g2 g2 "$(swrk_sw_conf rd "$GW2" %any gw.rike.test cl.rike.test 10.10.0.0/16 \
	10.10.1.0/24 "$IKE" "$ESP")" || rk_fail "swanctl load g2"

# pluto_redirects: how many IKE_SA_INIT requests pluto answered with REDIRECT
pluto_redirects() {
	grep -ci 'redirect' "$(ls_log g1)"
}

# ---------------------------------------------------------------- part R
rk_log "---- part R: strongSwan client, libreswan gw1 (global redirect) -> strongSwan gw2"
sw_start c clr "follow_redirects = yes"
sw_load c clr "$(swrk_sw_conf rd %any "$GW1" cl.rike.test gw.rike.test "$CL_IN/32" \
	10.10.0.0/16 "$IKE" "$ESP")" || rk_fail "swanctl load clr"
sw_initiate c clr rd rd 15 || true # swanctl may report the first attempt's failure
wait_until 10 sw_sa_up c clr rd rd || rk_fail "charon client: rd not up"
[[ $(sw_sa_remote clr rd) == "$GW2" ]] || rk_fail "charon client: rd is not with gw2"
grep -Eq 'parsed IKE_SA_INIT response 0 \[ N\(REDIR\) \]' "$(sw_log clr)" ||
	rk_fail "charon client saw no IKE_SA_INIT response with only N(REDIRECT) from pluto"
swrk_ping c "$CL_IN" 10.10.2.1
rk_log "pluto logged $(pluto_redirects) redirect line(s)"
sw_swanctl g2 --terminate --ike rd >/dev/null 2>&1 || true
sw_stop c clr
wait_until 5 swrk_sw_none g2 rd || rk_fail "charon gw2 kept the reference SA"
((PEERS_ONLY)) && rk_pass "libreswan halves: pluto's global redirect moves a charon client to gw2"

# ---------------------------------------------------------------- part 1
rk_log "---- part 1: riked client, libreswan gw1 (global redirect) -> strongSwan gw2"
before=$(grep -c 'REDIR_FROM' "$(sw_log g2)")
rk_start c cl "$(swrk_riked_conf cl "$(swrk_riked_conn rd %any "$GW1" cl.rike.test gw.rike.test \
	"$CL_IN/32" 10.10.0.0/16 "$IKE" "$ESP" start 'redirect = { accept = true; };')")"
wait_until 10 grep -q 'redirect-followed.*to 10\.85\.2\.2.*IKE_SA_INIT' "$(rk_log_file cl)" ||
	rk_fail "riked logged no redirect-followed to $GW2 (in IKE_SA_INIT)"
wait_until 10 sw_sa_up g2 g2 rd rd || rk_fail "charon gw2: rd not up after the redirect"
swrk_wait_check 5 cl g2 rd
# RFC 5685 9.3: the IKE_SA_INIT to the new gateway names the old one
(($(grep -c 'parsed IKE_SA_INIT request 0 .*N(REDIR_FROM)' "$(sw_log g2)") > before)) ||
	rk_fail "riked's IKE_SA_INIT to gw2 carried no N(REDIRECTED_FROM)"
[[ $(swrk_json cl 'd["sas"][0]["redirect"]["redirected_from"]') == "$GW1" ]] ||
	rk_fail "riked status: redirected_from is not $GW1"
swrk_ping c "$CL_IN" 10.10.2.1
# pluto keeps no IKE SA for a redirected client (RFC 5685 3: SPIr is zero)
ls_whack g1 --showstates >"$RK_RUN/pluto-states.txt" 2>&1 || true
grep -q 'STATE_' "$RK_RUN/pluto-states.txt" && rk_fail "pluto holds state: $(cat "$RK_RUN/pluto-states.txt")"
grep -E 'redirect-(refused|ignored)' "$(rk_log_file cl)" && rk_fail "riked refused or ignored a redirect"
rk_stop c cl
rk_pass "riked followed libreswan's IKE_SA_INIT redirect to strongSwan gw2; traffic through gw2"
