#!/usr/bin/env bash
#
# bench/qcd_recovery.sh: how fast a tunnel carries traffic again after its
# gateway crashes and restarts, with and without Quick Crash Detection
# (RFC 6290). See bench/README.md ("Recovery after a gateway crash").
#
#   [ns *cl] client 10.10.1.1 (lo) == veth 10.99.0.1 -- 10.99.0.2 == gateway 10.10.2.1 (lo) [ns *gw]
#
# The client pings the gateway's inner address every 20 ms through the
# tunnel (ping -D: receive timestamps). Each run kills the gateway with
# SIGKILL (by PID) and starts it again at once with the same configuration
# and state directory. Recovery time = first echo reply received after the
# restart - the moment the new gateway process was started. A run that does
# not recover within BOUND_S is recorded as "> BOUND_S s".
#
# Configurations (all measured in the same invocation):
#   rike-qcd    riked <-> riked, QCD on (maker gw, taker cl), dpd_interval = 10,
#               default retransmits (1 s x 1.8^n, 5 tries), client keep_up
#   rike-noqcd  the same with riked.qcd.enabled = false on both
#   sw-default  charon <-> charon, swanctl defaults (no DPD: nothing notices)
#   sw-dpd      charon <-> charon, client dpd_delay = 10s, dpd_action = restart,
#               retransmit_timeout/base/tries = 1.0/1.8/5 on both (riked's values)
#
# Usage: sudo bench/qcd_recovery.sh [N=10] [BOUND_S=120] [CONFIG...]
# Environment: RIKE_BIN (build directory with riked and rikectl; default
# ./build), QCD_BENCH_MAX_MISSES (default 2): after that many consecutive
# runs of one configuration without recovery, its remaining runs are
# recorded as "> BOUND_S s (not run)" so a configuration that cannot recover
# does not cost N x BOUND_S seconds.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1

N=${1:-10}
BOUND_S=${2:-120}
shift 2 2>/dev/null || shift $#
CONFIGS=("$@")
((${#CONFIGS[@]})) || CONFIGS=(rike-qcd rike-noqcd sw-default sw-dpd)
MAX_MISSES=${QCD_BENCH_MAX_MISSES:-2}
export RIKE_BIN=${RIKE_BIN:-$PWD/build}
[[ $N =~ ^[1-9][0-9]*$ && $BOUND_S =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: $0 [N] [BOUND_S] [rike-qcd|rike-noqcd|sw-default|sw-dpd ...]" >&2
	exit 2
}

# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
need_cmd ping awk sort
for c in "${CONFIGS[@]}"; do
	case $c in
	rike-*) rk_need ;;
	sw-*) sw_need ;;
	*) rk_fail "unknown configuration '$c'" ;;
	esac
done

PSK=0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718
RESULTS=$RK_RUN/results.txt # "config run ms|miss|skip"
: >"$RESULTS"

# riked's output with a receive timestamp (epoch seconds) on every line, so
# the two daemons' logs can be lined up with ping's. The wrapper execs
# riked, so the recorded PID stays riked's own.
cat >"$RK_RUN/stamp.sh" <<'EOF'
#!/bin/bash
exec > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done) 2>&1
exec "$@"
EOF
chmod 755 "$RK_RUN/stamp.sh"
RIKED_WRAPPER=$RK_RUN/stamp.sh # read by rk_riked_argv (lib.sh)

# ---------------------------------------------------------------- configs

# riked.conf: rike_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START QCD
rike_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "info"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state";
		          qcd = { enabled = $9; }; };
		connections = ( {
		  name = "bench"; local = "$2"; remote = "$3";
		  local_id = "$6"; remote_id = "$7";
		  auth = { method = "psk"; secret = "$PSK"; };
		  ike_proposals = [ "aes256gcm16-prfsha256-x25519" ];
		  esp_proposals = [ "aes256gcm16" ];
		  local_ts = [ "$4" ]; remote_ts = [ "$5" ];
		  dpd_interval = 10; start = "$8"; keep_up = $([ "$8" = start ] && echo true || echo false); qcd = true;
		} );
	EOF
}

# swanctl.conf: sw_conf LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID DPD(0|1)
sw_conf() {
	local dpd="" act=""
	if (($7)); then
		dpd="dpd_delay = 10s"
		act="dpd_action = restart"
	fi
	cat <<-EOF
		connections {
			bench {
				version = 2
				local_addrs = $1
				remote_addrs = $2
				proposals = aes256gcm16-prfsha256-x25519
				$dpd
				local {
					auth = psk
					id = $5
				}
				remote {
					auth = psk
					id = $6
				}
				children {
					bench {
						mode = tunnel
						local_ts = $3
						remote_ts = $4
						esp_proposals = aes256gcm16
						$act
					}
				}
			}
		}
		secrets {
			ike-bench {
				id-a = $5
				id-b = $6
				secret = $PSK
			}
		}
	EOF
}

SW_EXTRA="" # strongswan.conf charon { } additions of the current configuration

# Per configuration: P = namespace/instance prefix, KIND = rike|sw.
gw_start() {
	case $KIND in
	rike) rk_start "${P}gw" "${P}gw" "$GW_CONF" ;;
	sw)
		sw_start "${P}gw" "${P}gw" "$SW_EXTRA"
		sw_load "${P}gw" "${P}gw" "$GW_CONF" || rk_fail "load ${P}gw"
		;;
	esac
}

# Kill -9 by PID, keeping the old log (a restart starts a new one).
gw_kill() {
	local d
	case $KIND in
	rike)
		RK_SIG=KILL rk_kill_labels "rk:${P}gw" 2>/dev/null
		d=$(rk_dir "${P}gw")
		mv "$d/riked.log" "$d/riked.log.$1"
		;;
	sw)
		RK_SIG=KILL rk_kill_labels "sw:${P}gw" 2>/dev/null
		d=$(sw_dir "${P}gw")
		mv "$d/charon.log" "$d/charon.log.$1"
		;;
	esac
}

cl_start() {
	case $KIND in
	rike) rk_start "${P}cl" "${P}cl" "$CL_CONF" ;;
	sw)
		sw_start "${P}cl" "${P}cl" "$SW_EXTRA"
		sw_load "${P}cl" "${P}cl" "$CL_CONF" || rk_fail "load ${P}cl"
		sw_initiate "${P}cl" "${P}cl" bench bench 15 || rk_log "initiate failed"
		;;
	esac
}

cl_stop() {
	case $KIND in
	rike) rk_stop "${P}cl" "${P}cl" ;;
	sw) sw_stop "${P}cl" "${P}cl" ;;
	esac
}

setup_config() {
	local cfg=$1
	case $cfg in
	rike-qcd | rike-noqcd)
		KIND=rike
		local q=true
		P=q
		if [[ $cfg == rike-noqcd ]]; then
			P=n
			q=false
		fi
		GW_CONF=$(rike_conf "${P}gw" 10.99.0.2 10.99.0.1 10.10.2.0/24 10.10.1.0/24 \
			gw.bench cl.bench wait "$q")
		CL_CONF=$(rike_conf "${P}cl" 10.99.0.1 10.99.0.2 10.10.1.0/24 10.10.2.0/24 \
			cl.bench gw.bench start "$q")
		;;
	sw-default | sw-dpd)
		KIND=sw
		local dpd=0
		SW_EXTRA=""
		P=s
		if [[ $cfg == sw-dpd ]]; then
			P=d
			dpd=1
			SW_EXTRA="retransmit_timeout = 1.0
				retransmit_base = 1.8
				retransmit_tries = 5"
		fi
		GW_CONF=$(sw_conf 10.99.0.2 10.99.0.1 10.10.2.0/24 10.10.1.0/24 gw.bench cl.bench 0)
		CL_CONF=$(sw_conf 10.99.0.1 10.99.0.2 10.10.1.0/24 10.10.2.0/24 cl.bench gw.bench "$dpd")
		;;
	esac
	ns_create "${P}gw"
	ns_create "${P}cl"
	link_ns "${P}cl" "${P}gw" 10.99.0.1/24 10.99.0.2/24
	ns_addr "${P}cl" lo 10.10.1.1/32
	ns_addr "${P}gw" lo 10.10.2.1/32
	gw_start
	cl_start
}

# ---------------------------------------------------------------- measuring

# First echo reply (ping -D timestamp) in FILE after byte OFFSET later than T.
first_reply_after() {
	tail -c +"$(($2 + 1))" "$1" | awk -v t="$3" '
		/bytes from/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) { print ts; ok = 1; exit } }
		END { exit !ok }'
}

# Traffic flows now: a reply newer than the call.
# shellcheck disable=SC2317 # called through wait_until
flowing() {
	local size
	size=$(stat -c %s "$PING_OUT") || return 1
	first_reply_after "$PING_OUT" $((size > 4096 ? size - 4096 : 0)) "$1"
}

# Epoch time of the first line of riked log FILE after T matching REGEX.
log_event() {
	awk -v t="$2" -v re="$3" '$1 + 0 > t + 0 && $0 ~ re { print $1; exit }' "$1" 2>/dev/null
}

ms_between() {
	[[ -n $1 && -n $2 ]] || {
		echo "?"
		return
	}
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'
}

# Where the time of one rike-qcd run went, from the timestamped logs.
rike_breakdown() {
	local t0=$1 reply=$2 gwlog cllog up ans ver child
	gwlog=$(rk_log_file "${P}gw")
	cllog=$(rk_log_file "${P}cl")
	up=$(log_event "$gwlog" "$t0" 'daemon riked .* starting')
	ans=$(log_event "$gwlog" "$t0" 'INVALID_SPI sent|qcd-token-sent in the clear|INVALID_IKE_SPI')
	ver=$(log_event "$cllog" "$t0" 'qcd-verified|DEAD')
	child=$(log_event "$cllog" "$t0" 'child-up')
	printf 'gw up %s, answer %s, cl verified/dead %s, child-up %s, echo %s ms' \
		"$(ms_between "$t0" "$up")" "$(ms_between "$t0" "$ans")" \
		"$(ms_between "$t0" "$ver")" "$(ms_between "$t0" "$child")" \
		"$(ms_between "$t0" "$reply")"
}

# After a run without recovery: restart the client so the next run starts
# from a working tunnel (not measured).
restore() {
	rk_log "$CFG: restoring the tunnel by restarting the client"
	cl_stop
	cl_start
	wait_until 20 flowing "$EPOCHREALTIME" || rk_fail "$CFG: tunnel did not come back"
}

measure_config() {
	local run t0 off reply ms misses=0 extra
	CFG=$1
	setup_config "$CFG"
	PING_OUT=$RK_RUN/ping-$CFG.out
	rk_spawn "ping:$CFG" "$PING_OUT" ip netns exec "$(ns_name "${P}cl")" \
		ping -D -n -i 0.02 -I 10.10.1.1 10.10.2.1
	wait_until 20 flowing "$EPOCHREALTIME" || rk_fail "$CFG: no traffic through the tunnel"
	for ((run = 1; run <= N; run++)); do
		if ((misses >= MAX_MISSES)); then
			echo "$CFG $run skip" >>"$RESULTS"
			printf '%-11s run %2d: > %d s (not run: %d misses in a row)\n' "$CFG" "$run" \
				"$BOUND_S" "$misses"
			continue
		fi
		# Traffic must flow, and the Child SPI map (flushed every 100 ms)
		# must be on disk before the crash.
		wait_until 10 flowing "$EPOCHREALTIME" || restore
		sleep 0.5
		gw_kill "$run"
		off=$(stat -c %s "$PING_OUT")
		t0=$EPOCHREALTIME
		gw_start 2>/dev/null
		if wait_until "$BOUND_S" first_reply_after "$PING_OUT" "$off" "$t0"; then
			reply=$(first_reply_after "$PING_OUT" "$off" "$t0")
			ms=$(ms_between "$t0" "$reply")
			misses=0
			echo "$CFG $run $ms" >>"$RESULTS"
			extra=""
			[[ $KIND == rike ]] && extra=" ($(rike_breakdown "$t0" "$reply"))"
			printf '%-11s run %2d: %6.3f s%s\n' "$CFG" "$run" \
				"$(awk -v m="$ms" 'BEGIN { print m / 1000 }')" "$extra"
		else
			misses=$((misses + 1))
			echo "$CFG $run miss" >>"$RESULTS"
			printf '%-11s run %2d: > %d s\n' "$CFG" "$run" "$BOUND_S"
			((misses >= MAX_MISSES)) || restore
		fi
	done
	rk_kill_labels "ping:$CFG"
	cl_stop
	case $KIND in
	rike) rk_stop "${P}gw" "${P}gw" ;;
	sw) sw_stop "${P}gw" "${P}gw" ;;
	esac
}

# Median in ms of a configuration, or "miss" when it is beyond the bound
# (misses count as infinitely slow).
median_ms() {
	awk -v c="$1" '$1 == c { print ($3 ~ /^[0-9]+$/) ? $3 : 1e18 }' "$RESULTS" | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "none"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (m >= 1e17) print "miss"; else printf "%.0f\n", m }'
}

fmt_ms() {
	case $1 in
	miss) echo "> $BOUND_S s" ;;
	none) echo "-" ;;
	*) awk -v m="$1" 'BEGIN { printf "%.3f s", m / 1000 }' ;;
	esac
}

summary() {
	local c m q
	echo
	echo "median recovery after kill -9 + restart ($N runs each, bound $BOUND_S s, ping every 20 ms):"
	for c in "${CONFIGS[@]}"; do
		printf '  %-11s %s\n' "$c" "$(fmt_ms "$(median_ms "$c")")"
	done
	q=$(median_ms rike-qcd)
	[[ $q =~ ^[0-9]+$ ]] || return 0
	((q > 0)) || q=1
	for c in "${CONFIGS[@]}"; do
		[[ $c == rike-qcd ]] && continue
		m=$(median_ms "$c")
		case $m in
		none) ;;
		miss) printf '  %-11s / rike-qcd: > %.0fx\n' "$c" "$(awk -v b="$BOUND_S" -v q="$q" 'BEGIN { print b * 1000 / q }')" ;;
		*) printf '  %-11s / rike-qcd: %.0fx\n' "$c" "$(awk -v m="$m" -v q="$q" 'BEGIN { print m / q }')" ;;
		esac
	done
}

rk_log "qcd_recovery: N=$N, bound $BOUND_S s, configurations: ${CONFIGS[*]}; riked from $RIKE_BIN"
for c in "${CONFIGS[@]}"; do
	measure_config "$c"
done
summary
rk_pass "qcd_recovery done"
