#!/bin/bash
# Every rikectl command against a live riked, in text and in JSON (schema 1),
# errors included, with the exit status rikectl(8) gives; and a reload that
# applies (issue 14): a connection removed, one with changed traffic
# selectors, one added, one changed in place.
#
#   ns a (riked "ra", initiator)  10.77.0.1 ---veth--- 10.77.0.2  ns b (riked "rb", responder)
#     one: 10.1.1.0/24 <-> 10.2.1.0/24 (start)          r1, r2, r3: wait, wide selectors,
#     two: 10.1.2.0/24 <-> 10.2.2.0/24 (start)          one identity each
#     idle: start wait (never up)
# Then ra reloads: "two" removed, "one" now 10.1.3.0/24 (replaced), "three"
# added (start); then "one" changes only dpd_interval (in place).
set -u -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

skip_unless_root
rk_need
need_cmd python3
RIKECTL="$(rk_bin_dir)/rikectl"
[[ -x $RIKECTL ]] || rk_skip "rikectl not built"

A=10.77.0.1
B=10.77.0.2
PROP='ike_proposals = [ "aes256gcm16-prfsha256-x25519" ]; esp_proposals = [ "aes256gcm16" ];'

# conn NAME LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS START [EXTRA]
conn() {
	cat <<-EOF
		{ name = "$1"; local = "$A"; remote = "$B"; local_id = "$2"; remote_id = "$3";
		  auth = { method = "psk"; secret = "$RK_SW_PSK"; }; $PROP
		  local_ts = [ "$4" ]; remote_ts = [ "$5" ]; start = "$6"; ${7:-} }
	EOF
}
rconn() {
	cat <<-EOF
		{ name = "$1"; local = "$B"; remote = "$A"; local_id = "b.rike.test"; remote_id = "$2";
		  auth = { method = "psk"; secret = "$RK_SW_PSK"; }; $PROP
		  local_ts = [ "10.2.0.0/16" ]; remote_ts = [ "10.1.0.0/16" ]; start = "wait"; }
	EOF
}
ra_conf() { # ONE_TS THREE? TWO? ONE_EXTRA
	local c
	c="$(conn one one.rike.test b.rike.test "$1" 10.2.1.0/24 start "${4:-}")"
	[[ $3 == yes ]] && c+=", $(conn two two.rike.test b.rike.test 10.1.2.0/24 10.2.2.0/24 start)"
	[[ $2 == yes ]] && c+=", $(conn three three.rike.test b.rike.test 10.1.4.0/24 10.2.4.0/24 start)"
	c+=", $(conn idle idle.rike.test b.rike.test 10.1.9.0/24 10.2.9.0/24 wait)"
	swrk_riked_conf ra "$c"
}

ns_create a
ns_create b
link_ns a b "$A/24" "$B/24"
rk_start b rb "$(swrk_riked_conf rb "$(rconn r1 one.rike.test), $(rconn r2 two.rike.test), $(rconn r3 three.rike.test)")"
rk_start a ra "$(ra_conf 10.1.1.0/24 no yes)"

# ctl NAME ARGS...: rikectl against riked NAME; output in $OUT, $ERR, status in $RC
ctl() {
	RC=0
	OUT=$(timeout 60 "$RIKECTL" -s "$(rk_dir "$1")/run/riked.sock" "${@:2}" 2>"$RK_RUN/err") || RC=$?
	ERR=$(cat "$RK_RUN/err")
}
# want RC PATTERN DESC: the last ctl exited RC and its stdout+stderr matches PATTERN (grep -E)
want() {
	[[ $RC == "$1" ]] || rk_fail "$3: exit $RC, want $1; out: $OUT; err: $ERR"
	grep -Eq -- "$2" <<<"$OUT$ERR" || rk_fail "$3: output lacks /$2/: $OUT $ERR"
}
# jq_ok EXPR DESC: the last stdout is one schema-1 JSON object and EXPR (Python, d = it) holds
jq_ok() {
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["schema"] == 1, "schema"
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$1" 2>"$RK_RUN/py.err" ||
		rk_fail "$2: JSON check '$1' failed on: $OUT ($(cat "$RK_RUN/py.err"))"
}
state_of() { # NAME CONN: its state per list-conns --json
	ctl "$1" list-conns "$2" --json
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])["result"]["connections"][0]["state"])' "$OUT" 2>/dev/null
}
established() { [[ $(state_of "$1" "$2") == established ]]; }
wait_until 15 established ra one || rk_fail "one did not come up"
wait_until 15 established ra two || rk_fail "two did not come up"

rk_log "---- status, list-sas, list-conns, config"
ctl ra status
want 0 "^riked [0-9.]+, up [0-9]+s, pid [0-9]+, config .*riked.conf" "status"
want 0 "connections: 3 \(2 established, 0 connecting, 0 deleting, 0 failed, 1 idle\)" "status counts"
want 0 "dataplane: userspace rx_packets" "status data plane"
# Two IKE SAs set up: the loop keyed SK cipher contexts (src/crypto/ctx_cache.c).
want 0 "cipher contexts: [1-9][0-9]* \([0-9]+ keyed\) of [0-9]+ in [1-9][0-9]* threads, hits [0-9]+, misses [1-9]" "status cipher contexts"
ctl ra status --json
jq_ok 'd["ok"] and d["command"] == "status" and d["result"]["counts"]["established"] == 2 and d["result"]["dataplane"]["backend"] == "userspace" and "stats" in d["result"] and "sas" not in d["result"]' "status --json"
jq_ok 'd["result"]["cipher_contexts"]["misses"] >= 4 and d["result"]["cipher_contexts"]["capacity"] >= 1024' "status --json cipher contexts"
ctl ra status extra
want 2 "usage: status" "status with an argument"
ctl ra status extra --json
jq_ok 'not d["ok"] and d["error"]["code"] == "usage"' "status usage --json"
[[ $RC == 2 ]] || rk_fail "status usage --json: exit $RC"

ctl ra list-sas
want 0 "^one: #[0-9]+, ESTABLISHED, IKEv2, initiator, [0-9a-f]{16}_i\* [0-9a-f]{16}_r" "list-sas"
want 0 "local  'one.rike.test' @ $A\[(500|4500)\]" "list-sas local identity"
want 0 "remote 'b.rike.test' @ $B\[(500|4500)\]" "list-sas remote identity"
want 0 "  AES_GCM_16-256/PRF_HMAC_SHA2_256/Curve25519" "list-sas IKE algorithms"
want 0 "one: reqid [0-9]+, INSTALLED, tunnel, ESP:AES_GCM_16-256" "list-sas Child SA"
want 0 "local  10.1.1.0/24" "list-sas selectors"
want 0 "in  [0-9a-f]{8}, +[0-9]+ bytes, +[0-9]+ packets" "list-sas counters"
ctl ra list-sas two --json
jq_ok 'len(d["result"]["sas"]) == 1 and d["result"]["sas"][0]["conn"] == "two" and d["result"]["sas"][0]["children"][0]["ts_local"] == ["10.1.2.0/24"] and d["result"]["sas"][0]["encr_keybits"] == 256' "list-sas two --json"
ctl ra list-sas nosuch
want 1 "no connection 'nosuch'" "list-sas nosuch"
ctl ra list-sas nosuch --json
jq_ok 'd["error"]["code"] == "not-found"' "list-sas nosuch --json"

ctl ra list-conns
want 0 "^one: established" "list-conns"
want 0 "idle: configured" "list-conns idle"
ctl ra list-conns --json
jq_ok '[c["state"] for c in d["result"]["connections"]] == ["established", "established", "configured"]' "list-conns --json"
ctl ra list-conns nosuch --json
jq_ok 'd["error"]["code"] == "not-found"' "list-conns nosuch --json"
[[ $RC == 1 ]] || rk_fail "list-conns nosuch: exit $RC"

ctl ra config
want 0 "secret = \"<hidden>\"" "config masks the PSK"
grep -q "${RK_SW_PSK#0x}" <<<"$OUT" && rk_fail "config shows the PSK"
want 0 "connection one \{" "config"
ctl ra config --json
jq_ok 'd["result"]["connections"][0]["auth"]["secret"] == "<hidden>" and d["result"]["global"]["dataplane"] == "userspace"' "config --json"
grep -q "${RK_SW_PSK#0x}" <<<"$OUT" && rk_fail "config --json shows the PSK"

rk_log "---- up, down, rekey, dpd"
ctl ra up one
want 0 "'one' already established" "up on an established SA"
ctl ra up one --json
jq_ok 'd["ok"] and d["result"]["already_established"] and d["result"]["state"] == "established"' "up --json established"
ctl ra up nosuch
want 1 "no connection 'nosuch'" "up nosuch"
ctl ra up nosuch --json
jq_ok 'd["error"]["code"] == "not-found"' "up nosuch --json"
ctl ra up
want 2 "usage: up NAME" "up without NAME"
ctl ra down idle
want 1 "no SA for 'idle'" "down without an SA"
ctl ra down idle --json
jq_ok 'not d["ok"] and d["error"]["code"] == "no-sa"' "down idle --json"
[[ $RC == 1 ]] || rk_fail "down idle --json: exit $RC"
for cmd in rekey-ike rekey-child dpd; do
	ctl ra "$cmd" one
	want 0 "$cmd 'one' started" "$cmd"
	ctl ra "$cmd" one --json
	jq_ok 'd["ok"] and d["result"]["started"]' "$cmd --json"
	ctl ra "$cmd" idle --json
	jq_ok 'd["error"]["code"] == "no-sa"' "$cmd idle --json"
	ctl ra "$cmd" idle
	want 1 "no established SA for 'idle'" "$cmd idle"
done
wait_until 10 established ra one || rk_fail "one not established after the rekeys"

rk_log "---- qcd and redirect"
ctl ra qcd rollover
want 0 "qcd rollover: rolled over" "qcd rollover"
ctl ra qcd rollover --json
jq_ok 'd["ok"] and d["result"]["action"] == "rollover"' "qcd rollover --json"
ctl ra qcd reset
want 1 "the QCD secret is healthy: a reset drops its [0-9]+ generation\(s\), so the tokens held by the peers of [0-9]+ established SA" "qcd reset on a healthy secret"
ctl ra qcd reset --json
jq_ok 'd["error"]["code"] == "refused"' "qcd reset --json"
ctl ra qcd reset --force --json
jq_ok 'd["ok"] and d["result"]["forced"] and "healthy secret replaced" in d["result"]["message"]' "qcd reset --force --json"
ctl ra qcd reset --force
want 0 "healthy secret replaced \(forced\): [0-9]+ generation\(s\) dropped; [0-9]+ established SA\(s\) are sent new tokens" "qcd reset --force"
ctl ra qcd frob
want 2 "usage: qcd rollover" "qcd frob"
ctl ra redirect --status
want 0 "^drain: off" "redirect --status"
ctl ra redirect --status --json
jq_ok 'd["result"]["draining"] is False' "redirect --status --json"
ctl ra redirect --to 192.0.2.9 --conn one --json
jq_ok 'd["error"]["code"] == "no-sa"' "redirect without a peer that supports it"

rk_log "---- reload that applies"
serial_of() { # CONN on ra
	ctl ra list-sas "$1" --json
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])["result"]["sas"][0]["serial"])' "$OUT"
}
old_one=$(serial_of one)
printf '%s\n' "$(ra_conf 10.1.3.0/24 yes no)" >"$(rk_dir ra)/riked.conf"
ctl ra reload --json
jq_ok 'd["ok"] and d["result"]["added"] == ["three"] and d["result"]["removed"] == ["two"] and d["result"]["changed"] == [{"name": "one", "action": "replace"}]' "reload --json"
one_ok() {
	ctl ra list-sas --json
	python3 -c 'import json, sys
sas = json.loads(sys.argv[1])["result"]["sas"]
est = {s["conn"]: s for s in sas if s["state"] == "ESTABLISHED" and s["children"]}
ok = "two" not in [s["conn"] for s in sas] and "three" in est and "one" in est \
	and est["one"]["serial"] != int(sys.argv[2]) \
	and est["one"]["children"][0]["ts_local"] == ["10.1.3.0/24"]
sys.exit(0 if ok else 1)' "$OUT" "$old_one"
}
wait_until 20 one_ok || rk_fail "after reload ra's SAs are not: one replaced (10.1.3.0/24), two gone, three up: $OUT"
rb_ok() { # the peer saw the delete of two's SA, and has one and three
	ctl rb list-sas --json
	python3 -c 'import json, sys
sas = [s for s in json.loads(sys.argv[1])["result"]["sas"] if s["state"] == "ESTABLISHED"]
sys.exit(0 if sorted(s["conn"] for s in sas) == ["r1", "r3"] else 1)' "$OUT"
}
wait_until 10 rb_ok || rk_fail "rb after the reload: not r1 and r3 only: $OUT"
rk_log "reload: one replaced, two deleted towards the peer, three started"
old_one=$(serial_of one)
printf '%s\n' "$(ra_conf 10.1.3.0/24 yes no 'dpd_interval = 7;')" >"$(rk_dir ra)/riked.conf"
ctl ra reload
want 0 "reloaded 3 connections: changed one \(in place\)" "reload in place"
[[ $(serial_of one) == "$old_one" ]] || rk_fail "an in-place change replaced the SA"
ctl ra reload
want 0 "reloaded 3 connections: no connection changed" "reload unchanged"
printf 'connections = ( { name = "broken"; } );\n' >"$(rk_dir ra)/riked.conf"
ctl ra reload
want 1 "riked.conf:1: " "reload of a bad file"
ctl ra reload --json
jq_ok 'd["error"]["code"] == "failed" and "riked.conf:1" in d["error"]["message"]' "reload bad --json"
printf '%s\n' "$(ra_conf 10.1.3.0/24 yes no 'dpd_interval = 7;')" >"$(rk_dir ra)/riked.conf"

rk_log "---- down and up wait for the result"
ctl ra down three
want 0 "'three' down" "down"
[[ $(state_of ra three) == configured ]] || rk_fail "three still has an SA after down returned"
ctl ra down three --json
jq_ok 'd["error"]["code"] == "no-sa"' "down again --json"
ctl ra up three --json
jq_ok 'd["ok"] and d["result"]["state"] == "established" and not d["result"]["already_established"]' "up --json"
ctl ra down three --json
jq_ok 'd["ok"] and d["result"]["state"] == "configured"' "down --json"
ctl ra up three
want 0 "'three' established" "up"
ctl ra down three --timeout 0
want 0 "'three' closing" "down --timeout 0 does not wait"

rk_log "---- bash completion"
# shellcheck source=../../tools/rikectl.bash-completion
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/rikectl.bash-completion"
COMP_WORDS=(rikectl -s "$(rk_dir ra)/run/riked.sock" up "")
COMP_CWORD=4
PATH="$(rk_bin_dir):$PATH" _rikectl
for c in one three idle; do
	[[ " ${COMPREPLY[*]} " == *" $c "* ]] || rk_fail "completion of up lacks $c: ${COMPREPLY[*]}"
done
COMP_WORDS=(rikectl li)
COMP_CWORD=1
_rikectl
[[ ${COMPREPLY[*]} == "list-conns list-sas" ]] || rk_fail "completion of li: ${COMPREPLY[*]}"

rk_log "---- client errors"
RC=0
OUT=$("$RIKECTL" -s "$RK_RUN/none.sock" status --json 2>/dev/null) || RC=$?
[[ $RC == 2 ]] || rk_fail "unreachable: exit $RC"
jq_ok 'd["error"]["code"] == "unreachable"' "unreachable --json"
ctl ra frob
want 2 "unknown command 'frob'" "unknown command"
ctl ra --version
want 0 "^rikectl [0-9]+\.[0-9]+\.[0-9]+( \(git [^)]+\))?$" "--version"

rk_pass
