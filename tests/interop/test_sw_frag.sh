#!/bin/bash
#
# test_sw_frag.sh: IKE fragmentation (RFC 7383) between riked and
# strongSwan, in both roles. Both ends carry 8 traffic selectors per side
# (the most riked's data plane installs) and identities of about 190
# octets, so IKE_AUTH is about 800 octets; strongSwan's
# charon.fragment_size = 500 and riked's fragment_size = 512 make each end
# send its IKE_AUTH as Encrypted Fragment (SKF) messages, which the other
# must reassemble (2.6) before the SA can come up.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns r ------+                           +------ ns s ------+
#   | riked            |  to_s 10.77.0.1/24        | charon           |
#   | fragment_size    |---------------------------| fragment_size    |
#   |   = 512          |        10.77.0.2/24 to_r  |   = 500          |
#   +------------------+   tshark on r/to_s        +------------------+
#
# Runs (role, IKE / ESP):
#   ri-g  riked initiates   aes256gcm16-prfsha256-x25519 / aes256gcm16
#   ri-c  riked initiates   aes128-sha256-x25519 / aes128-sha256
#   sw-g  charon initiates  aes256gcm16-prfsha256-x25519 / aes256gcm16
#   sw-c  charon initiates  aes128-sha256-x25519 / aes128-sha256
# For each: both ends agree on one ESTABLISHED IKE SA with one installed
# Child SA (swrk_check), the Child SA holds all 8 selectors each way,
# pings cross the tunnel both ways, and on the wire (tshark) each end sent
# its IKE_AUTH message as at least two SKF fragments, every IKE datagram
# within its end's fragment size and none of them IP-fragmented; riked's
# counters (frags_tx, frags_rx) agree with the capture.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3 tshark

RK_IN=10.10.1.1
SW_IN=10.10.2.1
RK_ADDR=10.77.0.1
SW_ADDR=10.77.0.2
NTS=8
# FQDN identities of 190 octets (labels under 64): they make IKE_AUTH large
LONG=$(printf 'a%.0s' {1..57}).$(printf 'b%.0s' {1..60}).$(printf 'c%.0s' {1..60})
RK_ID="rk-$LONG.rike.test"
SW_ID="sw-$LONG.rike.test"

ns_create r
ns_create s
link_ns r s "$RK_ADDR/24" "$SW_ADDR/24"
ns_addr r lo "$RK_IN/32"
ns_addr s lo "$SW_IN/32"
# charon (kernel-libipsec) routes each remote selector via ipsec0 with a
# source address from one of its local selectors, and refuses the Child SA
# ("unable to install IPsec policies") if a local selector holds none.
for ((i = 1; i < NTS; i++)); do
	ns_addr s lo "10.22.$i.1/32"
done
# RFC 7383 2.5.1: charon.fragment_size is the largest IP datagram of a fragment
sw_start s s "fragment_size = 500"

# The inner /32 and 7 more /24s (never used: they only make IKE_AUTH big).
# ts_list SIDE SEP: SIDE 1 (riked) or 2 (strongSwan), joined by SEP.
ts_list() {
	local side=$1 sep=$2 out i
	out="10.10.$side.1/32"
	for ((i = 1; i < NTS; i++)); do
		out+="${sep}10.$((20 + side)).$i.0/24"
	done
	printf '%s' "$out"
}
RK_TS_RIKED=$(ts_list 1 '", "')
SW_TS_RIKED=$(ts_list 2 '", "')
RK_TS_SW=$(ts_list 1 ,)
SW_TS_SW=$(ts_list 2 ,)

# sw_ts_count NAME: "LOCAL REMOTE", the number of selectors of charon's Child SA NAME.
sw_ts_count() {
	local raw l r
	raw=$(sw_list_sas s s --ike "$1" --raw) || rk_fail "swanctl --list-sas ($1)"
	l=$(grep -o 'local-ts=\[[^]]*\]' <<<"$raw" | head -n 1 | wc -w)
	r=$(grep -o 'remote-ts=\[[^]]*\]' <<<"$raw" | head -n 1 | wc -w)
	echo "$l $r"
}

# wire_summary CAPTURE: one tshark pass over the capture; prints
# "RK_AUTH SW_AUTH RK_ALL SW_ALL BIG IPFRAG": IKE_AUTH fragments (exchange
# type 35, SKF) from riked and from strongSwan, all SKF fragments from each,
# IKE datagrams above their sender's fragment size, IP fragments.
wire_summary() {
	local out
	out=$(tshark_read "$1" -Y "isakmp || ip.flags.mf == 1 || ip.frag_offset > 0" -T fields \
		-E separator=";" -e ip.src -e ip.len -e isakmp.exchangetype -e isakmp.frag.number \
		-e ip.flags.mf -e ip.frag_offset) || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $1 failed"
	}
	awk -F";" -v rk="$RK_ADDR" -v sw="$SW_ADDR" '
		{ x = $3; sub(/,.*/, "", x); f = $4; sub(/,.*/, "", f) }
		$5 == "1" || $5 == "True" || ($6 != "" && $6 != "0") { ipfrag++ }
		f != "" && $1 == rk { rk_all++; if (x == 35) rk_auth++ }
		f != "" && $1 == sw { sw_all++; if (x == 35) sw_auth++ }
		$3 != "" && (($1 == rk && $2 > 512) || ($1 == sw && $2 > 500)) { big++ }
		END { printf "%d %d %d %d %d %d\n", rk_auth, sw_auth, rk_all, sw_all, big, ipfrag }
	' <<<"$out"
}

# check_wire NAME CAPTURE: what crossed to_s during run NAME.
check_wire() {
	local name=$1 cap=$2 rk_auth sw_auth rk_all sw_all big ipfrag rk_tx rk_rx
	read -r rk_auth sw_auth rk_all sw_all big ipfrag <<<"$(wire_summary "$cap")"
	((rk_auth >= 2)) || rk_fail "$name: riked sent $rk_auth IKE_AUTH fragments, expected >= 2"
	((sw_auth >= 2)) || rk_fail "$name: strongSwan sent $sw_auth IKE_AUTH fragments, expected >= 2"
	((big == 0)) || rk_fail "$name: $big IKE datagrams above the fragment size"
	((ipfrag == 0)) || rk_fail "$name: $ipfrag IP fragments on the wire"
	# riked's own counters: everything it sent and took in as fragments was on the wire
	rk_tx=$(swrk_json "r$name" 'd["stats"]["frags_tx"]')
	rk_rx=$(swrk_json "r$name" 'd["stats"]["frags_rx"]')
	((rk_tx == rk_all)) || rk_fail "$name: riked counted $rk_tx fragments sent, the wire $rk_all"
	((rk_rx == sw_all)) || rk_fail "$name: riked counted $rk_rx fragments received, the wire $sw_all"
	rk_log "$name: on the wire riked sent $rk_all fragments ($rk_auth in IKE_AUTH), strongSwan $sw_all ($sw_auth); none above the fragment size, no IP fragments"
}

# run NAME ROLE IKE ESP: ROLE "riked" or "charon" initiates.
run() {
	local name=$1 role=$2 ike_p=$3 esp_p=$4 start=wait cap n
	cap="cap-$name.pcap"
	[[ $role == riked ]] && start=start
	rk_log "---- $name: $role initiates, IKE $ike_p, ESP $esp_p, $NTS selectors per side"
	tshark_start r to_s "$cap"
	sw_load s s "$(swrk_sw_conf "$name" "$SW_ADDR" "$RK_ADDR" "$SW_ID" "$RK_ID" \
		"$SW_TS_SW" "$RK_TS_SW" "$ike_p" "$esp_p" "fragmentation = yes")" ||
		rk_fail "swanctl load ($name)"
	rk_start r "r$name" "$(swrk_riked_conf "r$name" "$(swrk_riked_conn "$name" "$RK_ADDR" \
		"$SW_ADDR" "$RK_ID" "$SW_ID" "$RK_TS_RIKED" "$SW_TS_RIKED" "$ike_p" "$esp_p" \
		"$start" "fragmentation = true; fragment_size = 512;")")"
	if [[ $role == charon ]]; then
		sw_initiate s s "$name" "$name" 10 || rk_fail "swanctl --initiate $name failed"
	else
		wait_until 10 sw_sa_up s s "$name" "$name" || rk_fail "charon: $name not up"
	fi
	swrk_wait_check 5 "r$name" s "$name"
	n=$(sw_ts_count "$name")
	[[ $n == "$NTS $NTS" ]] || rk_fail "$name: the Child SA has $n selectors, expected $NTS $NTS"
	swrk_ping r "$RK_IN" "$SW_IN"
	swrk_ping s "$SW_IN" "$RK_IN"
	tshark_stop "$cap"
	check_wire "$name" "$cap"
	rk_stop r "r$name"
	wait_until 5 swrk_sw_none s "$name" || rk_fail "charon kept $name after riked stopped"
}

run ri-g riked aes256gcm16-prfsha256-x25519 aes256gcm16
run ri-c riked aes128-sha256-x25519 aes128-sha256
run sw-g charon aes256gcm16-prfsha256-x25519 aes256gcm16
run sw-c charon aes128-sha256-x25519 aes128-sha256
rk_pass "riked <-> strongSwan: fragmented IKE_AUTH both ways in both roles, 2 suites, pings through"
