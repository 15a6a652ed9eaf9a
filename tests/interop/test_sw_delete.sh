#!/bin/bash
#
# test_sw_delete.sh: closing SAs (RFC 7296 1.4.1) and liveness checks
# (2.4) between riked and strongSwan.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   [ns r] riked 10.77.0.1 ======= veth ======= 10.77.0.2 charon [ns s]
#
# Both ends check liveness every 2 s (riked dpd_interval = 2, strongSwan
# dpd_delay = 2s) and give up quickly (riked retransmit = { timeout = 0.5;
# base = 1.5; tries = 3; }, charon retransmit_timeout 0.5, base 1.5,
# tries 3). riked initiates (rikectl up) each time.
#   1. rikectl down: riked deletes the IKE SA; charon drops it too.
#   2. swanctl --terminate --ike: charon deletes; riked drops its SA.
#   3. swanctl --terminate --child: charon deletes only the Child SA; riked
#      keeps the IKE SA (still answering) without Child SAs.
#   4. Idle for 6 s: empty INFORMATIONAL exchanges (DPD) must happen and be
#      answered (counted in charon's log, both directions). Then charon is
#      killed (SIGKILL, by PID): riked must declare the peer dead after its
#      retransmissions ("peer-dead ... after 3 retransmits") and drop the SA.
#   5. The other way: a new charon, riked initiates again, then riked is
#      killed: charon must give up after its retransmissions and drop the SA.

# Helper functions defined mid-script run through wait_until:
# shellcheck disable=SC2317
set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3

IKE=aes256gcm16-prfsha256-ecp256
ESP=aes256gcm16
SW_RETRANSMIT="retransmit_timeout = 0.5
	retransmit_base = 1.5
	retransmit_tries = 3"

swrk_pair "$SW_RETRANSMIT"

sw_conf() {
	swrk_sw_conf c 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test "$SW_IN/32" "$RK_IN/32" \
		"$IKE" "$ESP" "dpd_delay = 2s"
}
sw_load s s "$(sw_conf)" || rk_fail "swanctl load"
rk_start r r "$(swrk_riked_conf r "$(swrk_riked_conn c 10.77.0.1 10.77.0.2 rk.rike.test \
	sw.rike.test "$RK_IN/32" "$SW_IN/32" "$IKE" "$ESP" wait \
	'dpd_interval = 2; retransmit = { timeout = 0.5; base = 1.5; tries = 3; };')")"

# riked holds no SA of "c" at all
rk_none() {
	[[ $(swrk_json r 'len([s for s in d["sas"] if s["conn"] == "c"])') == 0 ]]
}

# up SW: riked initiates; both ends agree
up() {
	rk_ctl r up c >&2 || rk_fail "rikectl up c"
	swrk_wait_check 10 r "$1" c
}

rk_log "---- 1. riked closes the IKE SA (rikectl down)"
up s
swrk_ping r "$RK_IN" "$SW_IN"
rk_ctl r down c >&2 || rk_fail "rikectl down c"
wait_until 5 swrk_sw_none s c || rk_fail "charon kept the IKE SA riked deleted"
wait_until 5 rk_none || rk_fail "riked kept the IKE SA it deleted"
rk_log "both ends dropped the IKE SA"

rk_log "---- 2. strongSwan closes the IKE SA (swanctl --terminate --ike)"
up s
sw_swanctl s --terminate --ike c --timeout 5 >>"$RK_RUN/swanctl-terminate.out" 2>&1 || rk_fail "swanctl --terminate --ike c"
wait_until 5 rk_none || rk_fail "riked kept the IKE SA strongSwan deleted"
wait_until 5 swrk_sw_none s c || rk_fail "charon kept the IKE SA it deleted"
rk_log "both ends dropped the IKE SA"

rk_log "---- 3. strongSwan closes only the Child SA (swanctl --terminate --child)"
up s
sw_swanctl s --terminate --child c --timeout 5 >>"$RK_RUN/swanctl-terminate.out" 2>&1 || rk_fail "swanctl --terminate --child c"
# IKE SA still ESTABLISHED on both ends, no Child SA on either
rk_child_gone() {
	[[ $(swrk_json r '[(s["state"], len(s["children"])) for s in d["sas"] if s["conn"] == "c"]') == \
		"[('ESTABLISHED', 0)]" ]]
}
sw_child_gone() {
	local out
	out=$(sw_list_sas s s --ike c) || return 1
	grep -Eq '^c: #[0-9]+, ESTABLISHED' <<<"$out" && ! grep -Eq '^ +c: #[0-9]+, reqid' <<<"$out"
}
wait_until 5 rk_child_gone || rk_fail "riked: not one IKE SA without Child SAs: $(rk_ctl r status)"
wait_until 5 sw_child_gone || rk_fail "charon: not one IKE SA without Child SAs"
# the IKE SA still works: a liveness check from riked (an empty
# INFORMATIONAL request, 2.4) is answered ("dpd-ok" in riked's debug log)
rklog=$(rk_log_file r)
dpd_ok() {
	(($(grep -c 'dpd-ok' "$rklog") > $1))
}
ok_before=$(grep -c 'dpd-ok' "$rklog")
rk_ctl r dpd c >&2 || rk_fail "rikectl dpd c"
wait_until 5 dpd_ok "$ok_before" || rk_fail "riked's DPD on the childless IKE SA was not answered"
rk_log "Child SA gone on both ends, IKE SA alive"
rk_ctl r down c >&2 || rk_fail "rikectl down c"
wait_until 5 swrk_sw_none s c || rk_fail "charon kept the IKE SA"
wait_until 5 rk_none || rk_fail "riked kept the IKE SA"

# DPD exchanges in charon's log since line $1: requests charon answered
# (riked's DPDs) and responses charon received (answers to its DPDs).
dpd_counts() {
	local log
	log=$(sw_log "$2")
	echo "$(tail -n "+$1" "$log" | grep -c 'parsed INFORMATIONAL request [0-9]* \[ \]')" \
		"$(tail -n "+$1" "$log" | grep -c 'parsed INFORMATIONAL response [0-9]* \[ \]')"
}

rk_log "---- 4. DPD both ways, then charon is killed: riked declares it dead"
up s
from=$(($(wc -l <"$(sw_log s)") + 1))
ok_before=$(grep -c 'dpd-ok' "$rklog")
sleep 6
read -r from_rk from_sw <<<"$(dpd_counts "$from" s)"
rk_log "in 6 idle seconds: $from_rk DPD requests from riked answered by charon," \
	"$from_sw answers from riked to charon's DPD requests (riked's log: $(($(grep -c \
	'dpd-ok' "$rklog") - ok_before)) of its own DPDs answered)"
((from_rk + from_sw >= 2)) || rk_fail "expected >= 2 DPD exchanges in 6 s, saw $((from_rk + from_sw))"
swrk_wait_check 2 r s c
dead_before=$(grep -c 'peer-dead' "$rklog")
t0=$(rk_now_us)
RK_SIG=KILL rk_kill_labels sw:s
rk_log "charon s killed"
rk_dead() {
	(($(grep -c 'peer-dead' "$rklog") > dead_before)) && rk_none
}
wait_until 12 rk_dead || rk_fail "riked did not declare the killed peer dead within 12 s"
rk_log "riked declared the peer dead after $((($(rk_now_us) - t0) / 1000)) ms:" \
	"$(grep 'peer-dead' "$rklog" | tail -1)"
grep 'peer-dead' "$rklog" | tail -1 | grep -q 'after 3 retransmits' ||
	rk_fail "riked's give-up does not follow retransmit.tries = 3"

rk_log "---- 5. riked is killed: strongSwan declares it dead"
sw_start s s2 "$SW_RETRANSMIT"
sw_load s s2 "$(sw_conf)" || rk_fail "swanctl load (s2)"
up s2
from=$(($(wc -l <"$(sw_log s2)") + 1))
sleep 3
read -r from_rk from_sw <<<"$(dpd_counts "$from" s2)"
rk_log "in 3 idle seconds: $from_rk DPD exchanges started by riked, $from_sw by charon"
((from_rk + from_sw >= 1)) || rk_fail "expected >= 1 DPD exchange in 3 s"
t0=$(rk_now_us)
RK_SIG=KILL rk_kill_labels rk:r
rk_log "riked r killed"
sw_dead() {
	grep -q 'giving up after 3 retransmits' "$(sw_log s2)" && swrk_sw_none s2 c
}
wait_until 12 sw_dead || rk_fail "charon did not declare the killed riked dead within 12 s"
rk_log "charon declared riked dead after $((($(rk_now_us) - t0) / 1000)) ms:" \
	"$(grep 'giving up after' "$(sw_log s2)" | tail -1)"
rk_pass "deletes from both sides, Child-only delete, DPD and dead peers both ways"
