#!/usr/bin/env bash
#
# bench/crypto_workers.sh: riked with its key exchanges on the event loop
# (crypto_workers = 0) and on worker threads. See bench/README.md
# ("Crypto workers").
#
#   probe      A burst of BURST IKE_SA_INIT requests (bench/init_probe.py,
#              WINDOW outstanding at most) at a riked responder, while the
#              same client retransmits an IKE_SA_INIT request answered
#              before the burst every PROBE_MS ms after its last answer and
#              times the answer (the cached response, RFC 7296 2.1): the
#              event loop's latency for cheap work during the burst; and
#              the burst's rate. For each group in IKE_GROUPS (14 = MODP-2048,
#              31 = Curve25519) and each worker count in WORKERS.
#   handshake  HS_K full IKE_SA_INIT + IKE_AUTH (+ Child SA) handshakes from
#              a riked client with HS_K connections to a riked gateway, both
#              with the same crypto_workers, counted on the gateway (first
#              request to last child-up), for each IKE group of IKE_GROUPS.
#
#     [ns c] client 10.91.0.1 ---- 10.91.0.2 [ns g] riked gateway
#
# Usage: sudo bash bench/crypto_workers.sh [probe|handshake ...]
# Environment: RIKE_BIN (build dir, default ./build), WORKERS ("0 2"),
# IKE_GROUPS ("14 31"), BURST (3000), WINDOW (256), PROBE_MS (5), HS_K (300),
# RUNS (2: each figure is measured RUNS times, interleaved), CLIENT_WORKERS
# (the handshake client's crypto_workers; default: the gateway's).
set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

SECTIONS=()
for a in "$@"; do
	case $a in
	probe | handshake) SECTIONS+=("$a") ;;
	*)
		echo "usage: $0 [probe|handshake ...]" >&2
		exit 2
		;;
	esac
done
((${#SECTIONS[@]})) || SECTIONS=(probe handshake)
read -r -a WORKERS <<<"${WORKERS:-0 2}"
read -r -a GROUPS_ <<<"${IKE_GROUPS:-14 31}"
BURST=${BURST:-3000}
WINDOW=${WINDOW:-256}
PROBE_MS=${PROBE_MS:-5}
HS_K=${HS_K:-300}
RUNS=${RUNS:-2}
export RIKE_BIN=${RIKE_BIN:-$PWD/build}

# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
need_cmd python3 awk
rk_need

REPORT=$RK_RUN/report.txt
: >"$REPORT"
report() {
	printf '%s\n' "$*" >>"$REPORT"
	rk_log "RESULT $*"
}

ike_of() { # ike_of GROUP: the proposal
	case $1 in
	14) echo aes256gcm16-prfsha256-modp2048 ;;
	31) echo aes256gcm16-prfsha256-x25519 ;;
	*) rk_fail "group $1 not in the benchmark" ;;
	esac
}

# gw_conf NAME WORKERS GROUP: a riked gateway for any client (PSK), no
# cookies, no half-open caps in the way (the burst comes from one address)
gw_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "notice"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state";
		          crypto_workers = $2; half_open_cookie_threshold = 1000000;
		          half_open_max = 1000000; half_open_per_source = 1000000;
		          half_open_memory = 4194304; };
		connections = ( { name = "gw"; local = "10.91.0.2"; remote = "%any";
		  local_id = "gw.rike.test"; remote_id = "%any";
		  auth = { method = "psk"; secret = "$RK_SW_PSK"; };
		  ike_proposals = [ "$(ike_of "$3")" ]; esp_proposals = [ "aes256gcm16" ];
		  local_ts = [ "10.10.0.0/16" ]; remote_ts = [ "10.40.0.0/16" ]; start = "wait"; } );
	EOF
}

pid_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat"
}

field() { # field LINE NAME: the word after NAME
	awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"
}

stats() { # stats NAME: riked NAME's counters that matter here
	rk_ctl "$1" status --json | python3 -c 'import json, sys
s = json.load(sys.stdin)["result"]["stats"]
print(" ".join("%s %s" % (k, s.get(k)) for k in ("rx", "tx", "retransmits", "half_open",
      "half_open_evicted", "half_open_expired", "cookies_sent", "resent_responses", "drop_msgid",
      "dh_computed", "work_jobs", "drop_work_pending", "drop_work_busy", "work_stale")))'
}

ns_create c
ns_create g
link_ns c g 10.91.0.1 10.91.0.2

probe_once() { # probe_once WORKERS GROUP RUN
	local w=$1 g=$2 gw="pg$1g$2r$3" line cpu0 cpu1 pid
	rk_start g "$gw" "$(gw_conf "$gw" "$w" "$g")"
	pid=$(rk_label_pid "rk:$gw")
	cpu0=$(pid_cpu_ms "$pid")
	line=$(ns_exec c timeout 120 python3 bench/init_probe.py --dst 10.91.0.2 --group "$g" \
		--burst "$BURST" --window "$WINDOW" --probe-ms "$PROBE_MS") ||
		rk_fail "init_probe.py against $gw failed"
	cpu1=$(pid_cpu_ms "$pid")
	rk_log "$gw stats: $(stats "$gw")"
	rk_stop g "$gw"
	rk_log "probe workers=$w group=$g run=$3: $line cpu_ms $((cpu1 - cpu0))"
	echo "$w $g $line cpu_ms $((cpu1 - cpu0))" >>"$RK_RUN/probe.txt"
}

section_probe() {
	local r w g
	: >"$RK_RUN/probe.txt"
	for ((r = 1; r <= RUNS; r++)); do
		for g in "${GROUPS_[@]}"; do
			for w in "${WORKERS[@]}"; do
				probe_once "$w" "$g" "$r"
			done
		done
	done
	report "probe: burst of $BURST IKE_SA_INIT ($WINDOW outstanding), a cached-response probe every $PROBE_MS ms after the last answer"
	report "  | group | workers | run | answered | burst rate/s | probe p50 ms | p90 ms | max ms | probes (lost) | riked CPU ms |"
	while read -r w g line; do
		report "  | $g | $w | - | $(field "$line" answered) | $(field "$line" rate) | $(field "$line" p50) | $(field "$line" p90) | $(field "$line" max) | $(field "$line" probes) ($(field "$line" lost)) | $(field "$line" cpu_ms) |"
	done <"$RK_RUN/probe.txt"
}

# client_conf NAME WORKERS GROUP K: a riked client with K connections
client_conf() {
	local i
	{
		for ((i = 0; i < $4; i++)); do
			((i)) && echo ","
			swrk_riked_conn "h$i" 10.91.0.1 10.91.0.2 "h$i.rike.test" gw.rike.test \
				"10.40.$((i / 250)).$((i % 250 + 1))/32" 10.10.2.1/32 "$(ike_of "$3")" aes256gcm16 start
		done
	} >"$RK_RUN/hs-conns"
	swrk_riked_conf "$1" "$(cat "$RK_RUN/hs-conns")" |
		sed "s/log_level = \"debug\";/log_level = \"notice\"; crypto_workers = $2;/"
}

hs_once() { # hs_once WORKERS GROUP RUN
	local w=$1 g=$2 gw="hg$1g$2r$3" cl="hc$1g$2r$3" gcpu ccpu
	rk_start g "$gw" "$(gw_conf "$gw" "$w" "$g" | sed 's/log_level = "notice"/log_level = "info"/')"
	rk_start c "$cl" "$(client_conf "$cl" "${CLIENT_WORKERS:-$w}" "$g" "$HS_K" | sed 's/log_level = "notice"/log_level = "info"/')"
	wait_until $((HS_K / 5 + 60)) eval '(($(grep -c child-up "$(rk_log_file '"$gw"')") >= '"$HS_K"'))' ||
		rk_fail "handshakes: gateway $gw logged $(grep -c child-up "$(rk_log_file "$gw")") of $HS_K child-up"
	gcpu=$(pid_cpu_ms "$(rk_label_pid "rk:$gw")")
	ccpu=$(pid_cpu_ms "$(rk_label_pid "rk:$cl")")
	rk_log "$gw stats: $(stats "$gw")"
	rk_log "$cl stats: $(stats "$cl")"
	rk_stop c "$cl"
	rk_stop g "$gw"
	echo "$w $g $(hs_rate "$gw" "$cl") $gcpu $ccpu" >>"$RK_RUN/hs.txt"
	rk_log "handshakes workers=$w group=$g run=$3: $(tail -1 "$RK_RUN/hs.txt")"
}

# hs_rate GW CL: Child SAs per second, from the client's first state line
# (its first IKE_SA_INIT request; the gateway logs its half-open SAs at
# debug only) to the gateway's HS_K-th child-up, by riked's own timestamps
# (the stamp wrapper's receive times lag when a log floods). (First to last
# child-up on the gateway, as this measured before, favours the loop:
# inline, every IKE_SA_INIT is answered before the first IKE_AUTH, so the
# child-up lines come in one late wave; with workers the first SAs finish
# early.)
hs_rate() {
	python3 - "$(rk_log_file "$1")" "$(rk_log_file "$2")" "$HS_K" <<-'PY'
		import re, sys
		from datetime import datetime
		ts = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
		def when(line):
		    m = ts.search(line)
		    return datetime.fromisoformat(m.group(1)).timestamp() if m else None
		gw, cl, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
		a = next((when(l) for l in open(cl) if " state " in l and when(l)), None)
		ups = [when(l) for l in open(gw) if "child-up" in l]
		b = ups[k - 1] if len(ups) >= k else None
		print("%.0f %.0f" % (k / (b - a), (b - a) * 1000) if a and b and b > a else "- -")
	PY
}

section_handshake() {
	local r w g
	: >"$RK_RUN/hs.txt"
	# riked's lines with a receive timestamp (as bench/redirect.sh)
	cat >"$RK_RUN/stamp.sh" <<-'EOF'
		#!/bin/bash
		exec > >(exec python3 -c 'import sys, time
		out = sys.stdout
		for l in sys.stdin:
		    out.write("%.6f %s" % (time.time(), l))
		    out.flush()') 2>&1
		exec "$@"
	EOF
	chmod 755 "$RK_RUN/stamp.sh"
	export RIKED_WRAPPER=$RK_RUN/stamp.sh
	for ((r = 1; r <= RUNS; r++)); do
		for g in "${GROUPS_[@]}"; do
			for w in "${WORKERS[@]}"; do
				hs_once "$w" "$g" "$r"
			done
		done
	done
	unset RIKED_WRAPPER
	report "handshake: $HS_K IKE+Child SAs from a riked client (all connections start at once, crypto_workers ${CLIENT_WORKERS:-as the gateway}) to a riked gateway"
	report "  | group | workers | SA/s on the gateway | ms first request..last child-up | gateway CPU ms | client CPU ms |"
	while read -r w g rate ms gcpu ccpu; do
		report "  | $g | $w | $rate | $ms | $gcpu | $ccpu |"
	done <"$RK_RUN/hs.txt"
}

for s in "${SECTIONS[@]}"; do
	"section_$s"
done
cat "$REPORT"
rk_pass "crypto_workers benchmark done in $(($(rk_now_us) / 1000000 - RK_T0 / 1000000)) s"
