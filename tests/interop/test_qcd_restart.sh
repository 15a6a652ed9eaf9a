#!/bin/bash
#
# test_qcd_restart.sh: Quick Crash Detection (RFC 6290) across a gateway crash.
#
#   inner 10.10.1.1/32 (lo)                          inner 10.10.2.1/32 (lo)
#   +------ ns cl -------+                           +------ ns gw -------+
#   | riked "cl"         | to_gw 10.99.0.1/24        | riked "gw"         |
#   | initiator, keep_up |---------------------------| responder, "wait"  |
#   | token taker        |        10.99.0.2/24 to_cl | token maker,       |
#   +--------------------+                           | persistent state   |
#                                                    +--------------------+
#
# Part 1 (riked <-> riked): with a ping running every 20 ms from cl's inner
# address to gw's, the gateway is killed with SIGKILL (by PID) and started
# again at once with the same configuration and state_dir, RESTARTS times.
# Each time traffic must flow again within BOUND_S of the restart, and cl must
# have logged qcd-verified (its ESP reached the new gw, which answered
# N(INVALID_SPI), N(QCD_TOKEN)+ from its persistent Child SPI map, RFC 6290
# 8.2, or N(INVALID_IKE_SPI), N(QCD_TOKEN)+, 4.5; cl deleted the SA and
# re-initiated). gw's qcd.secret must keep its bytes and mode 0600 across
# every restart. This asserts behaviour, not speed: bench/qcd_recovery.sh
# measures the recovery time.
#
# Part 2 (riked -> strongSwan): strongSwan is no token maker or taker. A
# riked client with QCD on must still get a working tunnel to charon, charon
# must parse our N(QUICK_CRASH_DETECTION) and ignore it without an error, and
# riked must hold no peer token.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
need_cmd ping sha256sum stat python3
rk_need

RESTARTS=${QCD_TEST_RESTARTS:-3}
# Generous for QCD (~50 ms here) yet below dpd_interval (10 s): liveness
# checks and retransmissions cannot meet it, only QCD can.
BOUND_S=${QCD_TEST_BOUND_S:-5}
PSK=0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718

# riked.conf: qcd_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START
qcd_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "info"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$RK_RUN/rk-$1/state";
		          qcd = { enabled = true; }; };
		connections = ( {
		  name = "qcd"; local = "$2"; remote = "$3";
		  local_id = "$6"; remote_id = "$7";
		  auth = { method = "psk"; secret = "$PSK"; };
		  ike_proposals = [ "aes256gcm16-prfsha256-x25519" ];
		  esp_proposals = [ "aes256gcm16" ];
		  local_ts = [ "$4" ]; remote_ts = [ "$5" ];
		  dpd_interval = 10; start = "$8"; keep_up = $([ "$8" = start ] && echo true || echo false); qcd = true;
		} );
	EOF
}

ctl() {
	"$(rk_bin_dir)/rikectl" -s "$(rk_dir "$1")/run/riked.sock" "${@:2}"
}

# True when riked NAME has an established IKE SA with a Child SA.
# shellcheck disable=SC2317 # called through wait_until
rk_tunnel_up() {
	local out
	out=$(ctl "$1" list-sas 2>/dev/null) || return 1
	grep -q ESTABLISHED <<<"$out" && grep -q "reqid [0-9]*, INSTALLED" <<<"$out"
}

# Drop repeated entries from RK_LOGS (a restarted riked reuses its log path).
dedupe_logs() {
	local -A seen=()
	local -a out=()
	local f
	for f in "${RK_LOGS[@]}"; do
		[[ -n ${seen[$f]:-} ]] && continue
		seen[$f]=1
		out+=("$f")
	done
	RK_LOGS=("${out[@]}")
}

# Seconds.microseconds of the first echo reply in FILE (ping -D output) after
# byte OFFSET with a timestamp later than T; fails if there is none yet.
first_reply_after() {
	tail -c +"$(($2 + 1))" "$1" | awk -v t="$3" '
		/bytes from/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) { print ts; ok = 1; exit } }
		END { exit !ok }'
}

# A sanitizer build (RIKE_BIN from -DRIKE_SANITIZE=ON) reports at exit.
no_sanitizer_reports() {
	local f
	for f in "${RK_LOGS[@]}"; do
		[[ $f == */rk-*/riked.log* ]] || continue
		! grep -q 'Sanitizer' "$f" || rk_fail "sanitizer report in $f"
	done
}

secret_digest() {
	sha256sum "$(rk_dir gw)/state/qcd.secret" | cut -d' ' -f1
}

secret_mode() {
	stat -c %a "$(rk_dir gw)/state/qcd.secret"
}

# ---------------------------------------------------------------- part 1

ns_create gw
ns_create cl
link_ns cl gw 10.99.0.1/24 10.99.0.2/24
ns_addr cl lo 10.10.1.1/32
ns_addr gw lo 10.10.2.1/32

GW_CONF=$(qcd_conf gw 10.99.0.2 10.99.0.1 10.10.2.0/24 10.10.1.0/24 gw.rike.test cl.rike.test wait)
rk_start gw gw "$GW_CONF"
rk_start cl cl "$(qcd_conf cl 10.99.0.1 10.99.0.2 10.10.1.0/24 10.10.2.0/24 cl.rike.test \
	gw.rike.test start)"
wait_until 15 rk_tunnel_up cl || rk_fail "the riked tunnel did not come up"
grep -q 'qcd-token-stored' "$(rk_log_file cl)" || rk_fail "cl stored no QCD token from gw"

[[ -f $(rk_dir gw)/state/qcd.secret ]] || rk_fail "gw wrote no qcd.secret"
digest=$(secret_digest)
[[ $(secret_mode) == 600 ]] || rk_fail "qcd.secret has mode $(secret_mode), not 600"

PING_OUT=$RK_RUN/ping.out
rk_spawn ping:cl "$PING_OUT" ip netns exec "$(ns_name cl)" \
	ping -D -n -i 0.02 -I 10.10.1.1 10.10.2.1
wait_until 5 grep -q 'bytes from' "$PING_OUT" || rk_fail "no echo reply through the tunnel"

for ((run = 1; run <= RESTARTS; run++)); do
	# The Child SPI map is flushed 100 ms after a change: let it settle,
	# and let the fresh tunnel carry traffic for a moment.
	sleep 0.5
	verified_before=$(grep -c 'qcd-verified' "$(rk_log_file cl)")
	rk_log "run $run: kill -9 gw (pid $(rk_label_pid rk:gw))"
	# SIGKILL by PID; the shell's "Killed" job notice goes to /dev/null.
	RK_SIG=KILL rk_kill_labels rk:gw 2>/dev/null
	mv "$(rk_log_file gw)" "$(rk_dir gw)/riked.log.$run"
	RK_LOGS+=("$(rk_dir gw)/riked.log.$run")
	offset=$(stat -c %s "$PING_OUT")
	t_restart=$EPOCHREALTIME
	rk_start gw gw "$GW_CONF"
	dedupe_logs
	wait_until "$BOUND_S" first_reply_after "$PING_OUT" "$offset" "$t_restart" ||
		rk_fail "run $run: no echo reply within $BOUND_S s of the restart"
	t_reply=$(first_reply_after "$PING_OUT" "$offset" "$t_restart")
	rk_log "run $run: traffic again $(awk -v a="$t_restart" -v b="$t_reply" \
		'BEGIN { printf "%.0f", (b - a) * 1000 }') ms after the restart"

	verified=$(grep -c 'qcd-verified' "$(rk_log_file cl)")
	((verified > verified_before)) || rk_fail "run $run: cl did not log qcd-verified"
	grep -q 'secret generation 1 loaded' "$(rk_log_file gw)" ||
		rk_fail "run $run: gw did not load its existing secret"
	grep -q 'with QCD tokens\|qcd-token-sent in the clear' "$(rk_log_file gw)" ||
		rk_fail "run $run: gw logged no token answer for the lost SA"
	[[ $(secret_digest) == "$digest" ]] || rk_fail "run $run: qcd.secret changed"
	[[ $(secret_mode) == 600 ]] || rk_fail "run $run: qcd.secret mode $(secret_mode)"
	wait_until 5 rk_tunnel_up gw || rk_fail "run $run: gw has no tunnel"
done
grep -q 'qcd-rejected' "$(rk_log_file cl)" && rk_fail "cl rejected a token"
rk_kill_labels ping:cl
rk_stop cl cl
rk_stop gw gw
rk_log "part 1: $RESTARTS restarts recovered by QCD"

# ---------------------------------------------------------------- part 2

if ! (sw_need) >/dev/null 2>&1; then
	no_sanitizer_reports
	rk_pass "riked <-> riked ($RESTARTS restarts); strongSwan part skipped: not installed"
fi

ns_create swgw
ns_create swcl
link_ns swcl swgw 10.98.0.1/24 10.98.0.2/24
ns_addr swcl lo 10.10.1.1/32
ns_addr swgw lo 10.10.2.1/32
sw_start swgw swgw
sw_load swgw swgw "$(
	cat <<-EOF
		connections {
			qcd {
				version = 2
				local_addrs = 10.98.0.2
				remote_addrs = 10.98.0.1
				proposals = aes256gcm16-prfsha256-x25519
				local {
					auth = psk
					id = gw.rike.test
				}
				remote {
					auth = psk
					id = cl.rike.test
				}
				children {
					qcd {
						mode = tunnel
						local_ts = 10.10.2.0/24
						remote_ts = 10.10.1.0/24
						esp_proposals = aes256gcm16
					}
				}
			}
		}
		secrets {
			ike-qcd {
				id-a = gw.rike.test
				id-b = cl.rike.test
				secret = $PSK
			}
		}
	EOF
)" || rk_fail "load swgw"
rk_start swcl swcl "$(qcd_conf swcl 10.98.0.1 10.98.0.2 10.10.1.0/24 10.10.2.0/24 cl.rike.test \
	gw.rike.test start)"
wait_until 10 sw_sa_up swgw swgw qcd qcd || rk_fail "charon: SA not ESTABLISHED/INSTALLED"
wait_until 5 rk_tunnel_up swcl || rk_fail "riked: no tunnel to charon"
ns_exec swcl ping -c 5 -i 0.1 -W 2 -I 10.10.1.1 10.10.2.1 >&2 ||
	rk_fail "ping through riked -> charon failed"

swlog=$(sw_log swgw)
grep -q 'qcd-token-sent in IKE_AUTH request' "$(rk_log_file swcl)" ||
	rk_fail "riked sent no QCD token to charon"
grep -q 'parsed IKE_AUTH request 1 .*N(CRASH_DET)' "$swlog" ||
	rk_fail "charon's log shows no N(CRASH_DET) in our IKE_AUTH request"
# The only error line of a healthy charon here is the kernel-netlink
# feature that kernel-libipsec replaces ([LIB], at startup).
errs=$(grep -i 'error\|fail\|invalid\|critical\|unsupported\|unknown' "$swlog" | grep -v '\[LIB\]')
[[ -z $errs ]] || rk_fail "charon logged: $errs"
# "sent held": our token went out, none came back (strongSwan makes none).
qcd_state=$(rk_status_json swcl | python3 -c 'import json, sys
sas = json.load(sys.stdin)["sas"]
assert sas, "no SA"
print(all(s["qcd"]["token_sent"] for s in sas), sum(s["qcd"]["peer_tokens"] for s in sas))') ||
	rk_fail "rikectl status --json has no SA with a qcd object"
[[ $qcd_state == "True 0" ]] || rk_fail "riked's qcd state with charon: '$qcd_state', want 'True 0'"
grep -q 'qcd-rejected\|warning\|error' "$(rk_log_file swcl)" &&
	rk_fail "riked logged a warning or an error with charon"

rk_stop swcl swcl
sw_stop swgw swgw
no_sanitizer_reports
rk_pass "riked <-> riked: $RESTARTS crash restarts recovered by QCD; riked -> strongSwan unharmed"
