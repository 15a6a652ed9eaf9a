#!/bin/bash
#
# test_sw_rekey.sh: IKE SA and Child SA rekeying (RFC 7296 1.3.2, 1.3.3,
# 2.8) between riked and strongSwan, started by each side in turn.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   [ns r] riked 10.77.0.1 ======= veth ======= 10.77.0.2 charon [ns s]
#                                                      inner 10.10.2.1/32 (lo)
#
# riked initiates one IKE SA (aes256gcm16-prfsha256-ecp256, ESP aes256gcm16,
# ESP with PFS ecp256 so that Child rekeys carry KE payloads). Then, in turn:
#   1. rikectl rekey-ike          (riked rekeys the IKE SA)
#   2. rikectl rekey-child        (riked rekeys the Child SA)
#   3. swanctl --rekey --ike      (strongSwan rekeys the IKE SA)
#   4. swanctl --rekey --child    (strongSwan rekeys the Child SA)
# After each, both ends must hold exactly one IKE SA with exactly one Child
# SA, with SPIs that pair up and agree on the algorithms (swrk_check); an
# IKE rekey must give new IKE SPIs and keep the Child SPIs (the Child SA
# moves to the new IKE SA, 2.8), a Child rekey new Child SPIs under the
# same IKE SA; and pings must still pass both ways.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3

IKE=aes256gcm16-prfsha256-ecp256
ESP=aes256gcm16-ecp256

swrk_pair
sw_load s s "$(swrk_sw_conf c 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test \
	"$SW_IN/32" "$RK_IN/32" "$IKE" "$ESP")" || rk_fail "swanctl load"
rk_start r r "$(swrk_riked_conf r "$(swrk_riked_conn c 10.77.0.1 10.77.0.2 rk.rike.test \
	sw.rike.test "$RK_IN/32" "$SW_IN/32" "$IKE" "$ESP" start)")"
swrk_wait_check 10 r s c

# The SPIs of the last agreed state: "IKE_I IKE_R CHILD_IN CHILD_OUT".
spis() {
	local -a f
	read -r -a f <"$RK_RUN/swrk-last.txt"
	echo "${f[1]%_i} ${f[2]%_r} ${f[5]}"
}

# after_rekey WHAT OLD_SPIS: true once both ends agree (one IKE SA, one
# Child SA each) and the SPIs changed as WHAT (ike|child) demands.
after_rekey() {
	local what=$1 old new
	read -r -a old <<<"$2"
	swrk_check r s c >/dev/null || return 1
	read -r -a new <<<"$(spis)"
	if [[ $what == ike ]]; then
		[[ ${new[0]} != "${old[0]}" && ${new[1]} != "${old[1]}" && ${new[2]} == "${old[2]}" ]]
	else
		[[ ${new[0]} == "${old[0]}" && ${new[1]} == "${old[1]}" && ${new[2]} != "${old[2]}" ]]
	fi
}

# rekey LABEL WHAT COMMAND...: run COMMAND, wait for after_rekey, stay
# there for a moment (no late second SA), ping both ways.
rekey() {
	local label=$1 what=$2 before
	shift 2
	before=$(spis)
	rk_log "---- $label (before: $before)"
	"$@" >&2 || rk_fail "$label: '$*' failed"
	wait_until 10 after_rekey "$what" "$before" ||
		rk_fail "$label: no clean $what rekey (was $before; now: $(cat "$RK_RUN/swrk-last.txt"))"
	rk_log "$label: $(cat "$RK_RUN/swrk-last.txt")"
	sleep 0.5
	after_rekey "$what" "$before" ||
		rk_fail "$label: state changed again: $(cat "$RK_RUN/swrk-last.txt")"
	swrk_ping r "$RK_IN" "$SW_IN"
	swrk_ping s "$SW_IN" "$RK_IN"
}

rekey "riked rekeys the IKE SA" ike rk_ctl r rekey-ike c
rekey "riked rekeys the Child SA" child rk_ctl r rekey-child c
rekey "strongSwan rekeys the IKE SA" ike sw_swanctl s --rekey --ike c
rekey "strongSwan rekeys the Child SA" child sw_swanctl s --rekey --child c
rekey "riked rekeys the IKE SA again" ike rk_ctl r rekey-ike c

n=$(grep -c 'peer-dead\|auth-failed\|child-failed\|rekey-failed' "$(rk_log_file r)")
((n == 0)) || rk_fail "riked logged $n failures during the rekeys"
rk_pass "IKE and Child rekeys from both sides"
