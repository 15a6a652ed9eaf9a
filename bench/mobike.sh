#!/usr/bin/env bash
#
# bench/mobike.sh: how long a MOBIKE (RFC 4555) client's tunnel is broken
# when its address goes or its uplink fails, riked against strongSwan 5.9.8
# as the mobile client, both against the same kind of gateway (strongSwan by
# default: BENCH_GW=rike uses riked instead) in the same run. See
# bench/README.md ("MOBIKE").
#
#   addr: [ns *c] client to_*g 10.77.0.1/24 + 10.77.0.3/24 ---- 10.77.0.2/24 gateway [ns *g]
#         the client holds both addresses; the one the SA uses is deleted
#         (the new address existed before the old one went); the next round
#         adds it back and deletes the other.
#   link: [ns *c] client up1 10.77.0.1/24 ---- dn1 10.77.0.2/24  gateway [ns *g]
#                        up2 10.78.0.1/24 ---- dn2 10.78.0.2/24  10.79.0.1/32 (gw0)
#         routes to 10.79.0.1 via up1 (metric 10) and up2 (metric 20); the
#         uplink the SA uses goes down (`ip link set DEV down`); the next
#         round brings it up again (with its route) and fails the active one.
#
# Inner addresses 10.10.1.1 (client) and 10.10.2.1 (gateway) on lo; PSK, IKE
# aes256gcm16-prfsha256-x25519, ESP aes256gcm16 in UDP 4500 (riked's
# userspace data plane, strongSwan's kernel-libipsec).
#
# Each round runs its own ping through the tunnel, every 10 ms with receive
# timestamps. The change is handed to an `ip -batch` already running in the
# client's namespace (ipb_start: starting a new ip took 5-35 ms here) and
# timed from that moment, a lower bound of the kernel's change (`ip -ts
# monitor` reading it is logged as an upper bound). Per round:
#   outage  change handed to ip -> first echo reply to a request sent after
#           ip monitor read the change (conservative: a request sent while
#           the change was under way could still pass the old path)
#   lost    requests of the round's stream that got no reply
#   gap     largest gap between two consecutive replies
# A round without a reply within BOUND_S (10) is a miss; the client is then
# restarted (not measured). Rounds of the configurations are interleaved
# (round 1 of each, then round 2, ...), so load from other jobs hits all.
#
# Usage: sudo RIKE_BIN=$PWD/build bench/mobike.sh [--quick] [N=10] [CONFIG...]
#   CONFIG: rike-addr sw-addr rike-link sw-link (default: all four)
#   --quick: N=3
#   --report RESULTS [CONFIG...]: only print the summary of an earlier run's
#   per-round results (the file the run names at its end)
# Environment: RIKE_BIN (build directory, default ./build), BENCH_GW (sw|rike),
# BOUND_S (10), RIKE_KEEP=1 keeps the run directory.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1

N=10
REPORT=""
if [[ ${1:-} == --report ]]; then
	REPORT=${2:?--report needs a results file}
	shift 2
fi
if [[ ${1:-} == --quick ]]; then
	N=3
	shift
fi
if [[ ${1:-} =~ ^[1-9][0-9]*$ ]]; then
	N=$1
	shift
fi
CONFIGS=("$@")
((${#CONFIGS[@]})) || CONFIGS=(rike-addr sw-addr rike-link sw-link)
GWK=${BENCH_GW:-sw}
BOUND_S=${BOUND_S:-10}
export RIKE_BIN=${RIKE_BIN:-$PWD/build}

# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/mobike_lib.sh
source tests/interop/mobike_lib.sh
skip_unless_root
sw_need
need_cmd ping python3 awk sort
[[ $GWK == sw || $GWK == rike ]] || rk_fail "BENCH_GW must be sw or rike"
[[ $GWK == rike ]] && rk_need
for c in "${CONFIGS[@]}"; do
	case $c in
	rike-addr | rike-link) rk_need ;;
	sw-addr | sw-link) ;;
	*) rk_fail "unknown configuration '$c' (rike-addr sw-addr rike-link sw-link)" ;;
	esac
done

RESULTS=$RK_RUN/results.txt # "config round outage_ms lost gap_ms monitor_ms rate_hz" or "config round miss"
: >"$RESULTS"

# riked's output with a receive timestamp (epoch seconds) on every line, so
# its MOBIKE events can be lined up with the kernel's; the wrapper execs
# riked, so the recorded PID stays riked's own.
cat >"$RK_RUN/stamp.sh" <<'EOF'
#!/bin/bash
exec > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done) 2>&1
exec "$@"
EOF
chmod 755 "$RK_RUN/stamp.sh"
RIKED_WRAPPER=$RK_RUN/stamp.sh # read by rk_riked_argv (lib.sh)
# Both daemons log what an operator would keep: strongSwan's default level 1
# (level 2 logs every ESP packet), riked's info (its mobike-* events), and
# no key logging.
export RK_SW_LOGLEVEL=${RK_SW_LOGLEVEL:-1} RK_RIKED_LOGLEVEL=${RK_RIKED_LOGLEVEL:-info} MOB_SW_KEYLOG=0

# Namespace prefix of a configuration: rike-addr -> ra (ra_c, ra_g), ...
pfx() {
	case $1 in
	rike-addr) echo ra ;;
	sw-addr) echo sa ;;
	rike-link) echo rl ;;
	sw-link) echo sl ;;
	esac
}
kind() { echo "${1%%-*}"; }

setup() {
	local cfg=$1 p k
	p=$(pfx "$cfg")
	k=$(kind "$cfg")
	ns_create "${p}_c"
	ns_create "${p}_g"
	case $cfg in
	*-addr)
		link_ns "${p}_c" "${p}_g" 10.77.0.1/24 10.77.0.2/24
		ns_mobile "${p}_c"
		ns_addr "${p}_c" "to_${p}_g" 10.77.0.3/24
		GWA[$cfg]=10.77.0.2
		;;
	*-link)
		link_ns_if "${p}_c" "${p}_g" up1 dn1 10.77.0.1/24 10.77.0.2/24
		link_ns_if "${p}_c" "${p}_g" up2 dn2 10.78.0.1/24 10.78.0.2/24
		ns_mobile "${p}_c"
		ns_mobile "${p}_g"
		ns_stub_addr "${p}_g" gw0 10.79.0.1/32
		add_route "$cfg" up1
		add_route "$cfg" up2
		GWA[$cfg]=10.79.0.1
		;;
	esac
	ns_addr "${p}_c" lo "$MOB_CL_IN/32"
	ns_addr "${p}_g" lo "$MOB_GW_IN/32"
	mob_gateway "$GWK" "${p}_g" "${p}_g"
	mob_client "$k" "${p}_c" "${p}_c" "${GWA[$cfg]}"
	wait_until 10 mob_up "$GWK" "${p}_g" || rk_fail "$cfg: gateway has no SA"
	mon_start "${p}_c" "${p}_c"
	ipb_start "${p}_c"
	rk_log "$cfg: up ($(mob_state "$k" "${p}_c"))"
}
declare -A GWA=()

# add_route CFG up1|up2: the client's route to the gateway over that uplink.
add_route() {
	local p via metric
	p=$(pfx "$1")
	case $2 in
	up1) via=10.77.0.2 metric=10 ;;
	up2) via=10.78.0.2 metric=20 ;;
	esac
	ip -n "$(ns_name "${p}_c")" route replace 10.79.0.1/32 via "$via" dev "$2" metric "$metric" ||
		rk_fail "$1: route via $2"
}

# The client's interface for one of its addresses (link case).
uplink_of() {
	case $1 in
	10.77.0.*) echo up1 ;;
	10.78.0.*) echo up2 ;;
	*) echo "?" ;;
	esac
}

# change CFG: delete the SA's local address / take its uplink down. Sets
# T_EVENT (kernel time) and UNDO (the command that restores it).
change() {
	local cfg=$1 p k cur dev
	p=$(pfx "$cfg")
	k=$(kind "$cfg")
	cur=$(mob_local "$k" "${p}_c")
	case $cfg in
	*-addr)
		[[ $cur == 10.77.0.1 || $cur == 10.77.0.3 ]] || rk_fail "$cfg: client on '$cur'"
		ns_addr_del "${p}_c" "to_${p}_g" "$cur/24"
		T_MON=$(mon_event_time "${p}_c" "Deleted .*inet ${cur//./\\.}/")
		UNDO="ns_addr ${p}_c to_${p}_g $cur/24"
		;;
	*-link)
		dev=$(uplink_of "$cur")
		[[ $dev != "?" ]] || rk_fail "$cfg: client on '$cur'"
		ns_link_down "${p}_c" "$dev"
		T_MON=$(mon_event_time "${p}_c" "$dev.*state DOWN|$dev.*<[^>]*> ")
		UNDO="ip -n $(ns_name "${p}_c") link set $dev up && add_route $cfg $dev"
		;;
	esac
	T_EVENT=$RK_DEL_T0
	WHAT="$cur"
}

# riked's MOBIKE events of this round, ms after the event (stamped log).
rike_events() {
	local log=$1 t0=$2
	awk -v t="$t0" '$1 + 0 >= t + 0 && / mobike-(update-sent|moved|probe|no-path) / {
		for (i = 2; i <= NF; i++) if ($i ~ /^mobike-/) { printf "%s %+.1f ms, ", $i, ($1 - t) * 1000; break }
	}' "$log" | sed 's/, $//'
}

RESTARTS=0
restart_client() {
	local cfg=$1 p k
	p=$(pfx "$cfg")
	k=$(kind "$cfg")
	rk_log "$cfg: restarting the client (not measured)"
	RESTARTS=$((RESTARTS + 1))
	case $k in
	rike)
		rk_stop "${p}_c" "${p}_c"
		mv "$(rk_log_file "${p}_c")" "$(rk_log_file "${p}_c").$RESTARTS"
		;;
	sw)
		sw_stop "${p}_c" "${p}_c"
		mv "$(sw_log "${p}_c")" "$(sw_log "${p}_c").$RESTARTS"
		;;
	esac
	eval "$UNDO" || true
	mob_client "$k" "${p}_c" "${p}_c" "${GWA[$cfg]}"
}

round() {
	local cfg=$1 r=$2 p k lbl rep out ev=""
	p=$(pfx "$cfg")
	k=$(kind "$cfg")
	lbl="$cfg-$r"
	ping_start "$lbl" "${p}_c" "$MOB_CL_IN" "$MOB_GW_IN" 0.01
	if ! wait_until 10 ping_replied_since "$lbl" "$EPOCHREALTIME"; then
		ping_stop "$lbl"
		echo "$cfg $r miss" >>"$RESULTS"
		printf '%-10s round %2d: no traffic before the change (not measured)\n' "$cfg" "$r"
		UNDO=:
		restart_client "$cfg"
		return 0
	fi
	sleep 1
	change "$cfg"
	if wait_until "$BOUND_S" mob_ping_resumed "$lbl" "$T_EVENT"; then
		sleep 1
		ping_stop "$lbl"
		rep=$(ping_report "$lbl" "$T_EVENT" 0 "$T_MON")
		[[ $k == rike ]] && ev=$(rike_events "$(rk_log_file "${p}_c")" "$T_EVENT")
		echo "$cfg $r $(kv outage_ms "$rep") $(kv lost "$rep") $(kv maxgap_ms "$rep") $(mob_ms "$T_EVENT" "$T_MON") $(kv rate_hz "$rep")" >>"$RESULTS"
		out=$(printf '%-10s round %2d: %s gone, outage %6s ms, lost %3s, largest gap %6s ms, ip monitor %s ms, %s/s' \
			"$cfg" "$r" "$WHAT" "$(kv outage_ms "$rep")" "$(kv lost "$rep")" "$(kv maxgap_ms "$rep")" \
			"$(mob_ms "$T_EVENT" "$T_MON")" "$(kv rate_hz "$rep")")
		echo "$out${ev:+ ($ev)}"
		eval "$UNDO" || rk_fail "$cfg: cannot restore ($UNDO)"
		sleep 1.5 # the client announces the address again / may move back
	else
		ping_stop "$lbl"
		echo "$cfg $r miss" >>"$RESULTS"
		printf '%-10s round %2d: %s gone, no reply within %d s\n' "$cfg" "$r" "$WHAT" "$BOUND_S"
		restart_client "$cfg"
	fi
}

# med CFG COLUMN (3 outage, 4 lost, 5 gap): median over measured rounds
# ("-" if none); misses count as infinitely bad.
med() {
	awk -v c="$1" -v k="$2" '$1 == c { print ($3 == "miss") ? 1e18 : $k }' "$RESULTS" | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (m >= 1e17) print "miss"; else printf "%.1f\n", m }'
}
maxcol() {
	awk -v c="$1" -v k="$2" '$1 == c && $3 != "miss" { if (!n || $k + 0 > m) m = $k + 0; n++ }
		END { print n ? m : "-" }' "$RESULTS"
}
misses() {
	awk -v c="$1" '$1 == c && $3 == "miss" { n++ } END { print n + 0 }' "$RESULTS"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a == "miss" || b == "miss") { print "-"; exit }
		if (b + 0 == 0) { print (a + 0 == 0) ? "1x" : a " vs 0"; exit }
		printf "%.1fx\n", a / b }'
}

summary() {
	local c case
	echo
	echo "MOBIKE: medians over $N rounds, ping every 10 ms, gateway $GWK (outage and gap in ms)"
	printf '  %-10s %8s %8s %8s %9s %7s\n' config outage lost max_lost gap misses
	for c in "${CONFIGS[@]}"; do
		printf '  %-10s %8s %8s %8s %9s %7s\n' "$c" "$(med "$c" 3)" "$(med "$c" 4)" \
			"$(maxcol "$c" 4)" "$(med "$c" 5)" "$(misses "$c")"
	done
	for case in addr link; do
		[[ " ${CONFIGS[*]} " == *" rike-$case "* && " ${CONFIGS[*]} " == *" sw-$case "* ]] || continue
		printf '  %s: strongSwan / rike: outage %s, lost %s\n' "$case" \
			"$(ratio "$(med "sw-$case" 3)" "$(med "rike-$case" 3)")" \
			"$(ratio "$(med "sw-$case" 4)" "$(med "rike-$case" 4)")"
	done
	if [[ " ${CONFIGS[*]} " == *" rike-addr "* ]]; then
		local o l
		o=$(med rike-addr 3)
		l=$(maxcol rike-addr 4)
		if [[ $o != - && $o != miss && $l == 0 ]] && awk -v o="$o" 'BEGIN { exit !(o < 20) }'; then
			echo "  goal (rike-addr median outage < 20 ms, no ping lost in any round): met"
		else
			echo "  goal (rike-addr median outage < 20 ms, no ping lost in any round): NOT met (median $o ms, max lost $l)"
		fi
	fi
}

if [[ -n $REPORT ]]; then
	cp "$REPORT" "$RESULTS" || rk_fail "cannot read $REPORT"
	N=$(awk '{ n[$1]++ } END { for (c in n) if (n[c] > m) m = n[c]; print m + 0 }' "$RESULTS")
	summary
	rk_pass "summary of $REPORT"
fi
rk_log "mobike bench: N=$N, gateway $GWK, configurations: ${CONFIGS[*]}; riked from $RIKE_BIN"
for c in "${CONFIGS[@]}"; do
	setup "$c"
done
for ((r = 1; r <= N; r++)); do
	for c in "${CONFIGS[@]}"; do
		round "$c" "$r"
	done
done
summary
cp "$RESULTS" "${TMPDIR:-/tmp}/mobike-bench-results.txt" 2>/dev/null || true
rk_pass "mobike bench done (per-round results also in ${TMPDIR:-/tmp}/mobike-bench-results.txt)"
