#!/usr/bin/env bash
#
# bench/redirect.sh: Redirect (RFC 5685) on riked gateways, with strongSwan
# measured in the same run. See bench/README.md ("Redirect").
#
# Sections (all by default; name some to run only those):
#
#  outage  An established SA redirected by its gateway (RFC 5685 5): riked
#          gw1 runs "rikectl redirect --to GW2 --all" while the client pings
#          through the tunnel every 10 ms. Largest gap between echo replies
#          and pings lost, riked client vs charon client (the same riked
#          gateways for both), RUNS rounds interleaved. Extra rows with
#          charon gateways (swanctl --redirect): "rike-swgw" (riked client)
#          and "sw-gw" (charon client, the all-strongSwan figure of
#          INTEROP-NOTES.md).
#
#            [ns c] client == 10.88.1.1 -- 10.88.1.2 [ns g1] riked gw1
#                          == 10.88.2.1 -- 10.88.2.2 [ns g2] riked gw2
#
#  flood   IKE_SA_INIT redirects per second and memory per redirected
#          client on a riked gateway (redirect = { to = [ GW2 ]; }, default
#          half-open and cookie settings): bench/ike_init_flood.c from 64
#          source addresses x 4 sockets, 4 requests in flight each; riked's
#          CPU and RSS before/after. Reference: pluto --global-redirect
#          under the same generator (if unpacked, tests/interop/get-libreswan.sh).
#  handshake  Full IKE_SA_INIT + IKE_AUTH (+ Child SA) handshakes per second
#          on a riked gateway without redirect, from a riked client with K
#          connections and from charon with K connections, counted on the
#          gateway; with flood, the ratio redirects / handshakes.
#
#            [ns f] generator 10.89.0.1-64 -- 10.89.255.2 [ns g] gateway
#
#  drain   N established clients (riked instances of DRAIN_PER_CLIENT
#          connections each, distinct identities and inner /32s) moved from riked gw1 to riked
#          gw2 by "rikectl redirect --drain --to GW2 --rate R": time until
#          gw2 holds N SAs and gw1 none; the longest gap seen by SAMPLE
#          clients pinging every 20 ms; per connection, redirect-followed to
#          its new child-up (from the client's timestamped log).
#
# Usage: sudo bench/redirect.sh [--quick] [outage|flood|handshake|drain ...]
# Environment: RIKE_BIN (build dir, default ./build), RUNS (outage rounds,
# 5; quick 2), FLOOD_S (10; quick 4), HS_K (500; quick 100), DRAIN_N (1000;
# quick 200), DRAIN_RATE (100), DRAIN_PER_CLIENT (50), SAMPLE (8), OUTAGE_KINDS ("rike sw rike-swgw
# sw-gw").
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1

QUICK=0
SECTIONS=()
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	outage | flood | handshake | drain) SECTIONS+=("$a") ;;
	*)
		echo "usage: $0 [--quick] [outage|flood|handshake|drain ...]" >&2
		exit 2
		;;
	esac
done
((${#SECTIONS[@]})) || SECTIONS=(outage flood handshake drain)
read -r -a OUTAGE_KINDS <<<"${OUTAGE_KINDS:-rike sw rike-swgw sw-gw}"
if ((QUICK)); then
	RUNS=${RUNS:-2} FLOOD_S=${FLOOD_S:-4} HS_K=${HS_K:-100} DRAIN_N=${DRAIN_N:-200}
else
	RUNS=${RUNS:-5} FLOOD_S=${FLOOD_S:-10} HS_K=${HS_K:-500} DRAIN_N=${DRAIN_N:-1000}
fi
DRAIN_RATE=${DRAIN_RATE:-100}
DRAIN_PER_CLIENT=${DRAIN_PER_CLIENT:-50}
SAMPLE=${SAMPLE:-8}
export RIKE_BIN=${RIKE_BIN:-$PWD/build}

# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
need_cmd ping awk python3 cc
rk_need
sw_need
T_START=$(rk_now_us)

IKE=aes256gcm16-prfsha256-x25519
ESP=aes256gcm16
REPORT=$RK_RUN/report.txt
: >"$REPORT"

# report LINE: a result line, printed at the end (stdout) and logged now
report() {
	printf '%s\n' "$*" >>"$REPORT"
	rk_log "RESULT $*"
}

# riked's output with a receive timestamp on every line (as qcd_recovery.sh,
# but stamped by one python3 per riked: a bash read loop costs ~10x more
# per line, and 20 of them at ~1000 lines/s slowed the drain down)
cat >"$RK_RUN/stamp.sh" <<'EOF'
#!/bin/bash
exec > >(exec python3 -c 'import sys, time
out = sys.stdout
for l in sys.stdin:
    out.write("%.6f %s" % (time.time(), l))
    out.flush()') 2>&1
exec "$@"
EOF
chmod 755 "$RK_RUN/stamp.sh"

# gw_conf NAME LOCAL REMOTE_TS EXTRA_CONN [EXTRA_RIKED]: a riked gateway for
# any client identity (PSK), info log
gw_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "info"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; ${5:-} };
		connections = ( { name = "gw"; local = "$2"; remote = "%any";
		  local_id = "gw.rike.test"; remote_id = "%any";
		  auth = { method = "psk"; secret = "$RK_SW_PSK"; };
		  ike_proposals = [ "$IKE" ]; esp_proposals = [ "$ESP" ];
		  local_ts = [ "10.10.0.0/16" ]; remote_ts = [ "$3" ]; start = "wait"; $4 } );
	EOF
}

# pid_cpu_ms PID: user+system CPU time of PID in ms
pid_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat"
}

# pid_rss_kb PID
pid_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# sa_count NAME [STATE]: IKE SAs on riked NAME (status --json)
sa_count() {
	rk_status_json "$1" 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(1 for s in d["sas"] if len(sys.argv) < 2 or s["state"] == sys.argv[1]))' "${@:2}" 2>/dev/null ||
		echo -1
}

# log_count_ge NAME WORD N: riked NAME's log has at least N lines with WORD
log_count_ge() {
	(($(grep -c -- "$2" "$(rk_log_file "$1")") >= $3))
}

sa_count_is() {
	[[ $(sa_count "$1" ESTABLISHED) == "$2" ]]
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ping_window FILE T_EPOCH: from "ping -D" output, what the tunnel did
# around the moment T_EPOCH (seconds) of the redirect command, as
# "gap stall lost sent base_gap base_stall": in [T-0.2, T+2.5] s the largest
# gap between replies (ms), the largest stall (ms: the longest rtt, or for
# pings lost in between, the time from the last answered send to the next
# answered send: traffic that did not get through), the pings lost and
# sent; base_* the same in [T-1.2, T-0.2], the machine's noise floor (on a
# loaded host ping itself is sometimes not scheduled for 100 ms: a gap with
# consecutive sequence numbers and a small rtt is that, not the tunnel).
ping_window() {
	python3 - "$1" "$2" <<-'PY'
		import re, sys
		rows = []
		for l in open(sys.argv[1]):
		    m = re.match(r"\[(\d+\.\d+)\].*icmp_seq=(\d+).*time=([\d.]+) ms", l)
		    if m:
		        ts, seq, rtt = float(m.group(1)), int(m.group(2)), float(m.group(3)) / 1000
		        rows.append((ts, seq, rtt, ts - rtt))
		t = float(sys.argv[2])
		def win(a, b):
		    r = [x for x in rows if a <= x[3] <= b]
		    gap = stall = 0.0
		    lost = 0
		    for i, x in enumerate(r):
		        stall = max(stall, x[2])
		        if i:
		            p = r[i - 1]
		            gap = max(gap, x[0] - p[0])
		            if x[1] - p[1] > 1:
		                lost += x[1] - p[1] - 1
		                stall = max(stall, x[3] - p[3] + x[2])
		    sent = (r[-1][1] - r[0][1] + 1) if r else 0
		    return gap * 1000, stall * 1000, lost, sent
		g, st, lo, se = win(t - 0.2, t + 2.5)
		bg, bst, _, _ = win(t - 1.2, t - 0.2)
		print("%.1f %.1f %d %d %.1f %.1f" % (g, st, lo, se, bg, bst))
	PY
}

# ================================================================ outage
outage_setup() {
	ns_create c
	ns_create g1
	ns_create g2
	link_ns c g1 10.88.1.1/24 10.88.1.2/24
	link_ns c g2 10.88.2.1/24 10.88.2.2/24
	ns_addr c lo 10.10.1.1/32
	ns_addr g1 lo 10.10.2.1/32
	ns_addr g2 lo 10.10.2.1/32
}

# outage_run KIND RUN: KIND rike (riked client), sw (charon client), both
# with riked gateways; rike-swgw / sw-gw: the same clients with charon
# gateways. Appends
# "KIND gap_ms lost sent" to $RK_RUN/outage.txt
outage_run() {
	local kind=$1 run=$2 g1="g1$1$2" g2="g2$1$2" cl="c$1$2" p r swgw=0 rkcl=0
	[[ $kind == *-swgw || $kind == sw-gw ]] && swgw=1
	[[ $kind == rike* ]] && rkcl=1
	if ((swgw)); then
		g1=sg1$kind$run g2=sg2$kind$run cl=sc$kind$run
		for p in "g1 $g1 10.88.1.2" "g2 $g2 10.88.2.2"; do
			read -r -a r <<<"$p"
			sw_start "${r[0]}" "${r[1]}" "$(sw_quiet)"
			sw_load "${r[0]}" "${r[1]}" "$(swrk_sw_conf rd "${r[2]}" %any gw.rike.test \
				cl.rike.test 10.10.0.0/16 10.10.1.0/24 "$IKE" "$ESP")" >/dev/null || rk_fail "load ${r[1]}"
		done
	else
		rk_start g1 "$g1" "$(gw_conf "$g1" 10.88.1.2 10.10.1.0/24 'redirect = { grace = 2; };')"
		rk_start g2 "$g2" "$(gw_conf "$g2" 10.88.2.2 10.10.1.0/24 '')"
	fi
	if ((rkcl)); then
		rk_start c "$cl" "$(swrk_riked_conf "$cl" "$(swrk_riked_conn rd %any 10.88.1.2 \
			cl.rike.test gw.rike.test 10.10.1.1/32 10.10.0.0/16 "$IKE" "$ESP" start)" |
			sed 's/log_level = "debug"/log_level = "info"/')"
		wait_until 10 rk_has_sa "$cl" rd || rk_fail "$kind $run: riked client not up"
	else
		sw_start c "$cl" "follow_redirects = yes
$(sw_quiet)"
		sw_load c "$cl" "$(swrk_sw_conf rd %any 10.88.1.2 cl.rike.test gw.rike.test 10.10.1.1/32 \
			10.10.0.0/16 "$IKE" "$ESP")" >/dev/null || rk_fail "load $cl"
		sw_initiate c "$cl" rd rd 10 || rk_fail "$kind $run: charon client not up"
	fi
	rk_spawn "ping:$kind$run" "$RK_RUN/o-$kind$run.ping" ip netns exec "$(ns_name c)" \
		ping -D -n -i 0.01 -w 4 -I 10.10.1.1 10.10.2.1
	wait_until 3 grep -q 'bytes from' "$RK_RUN/o-$kind$run.ping" || rk_fail "$kind $run: no ping reply"
	sleep 1.5
	local t_red=$EPOCHREALTIME
	if ((swgw)); then
		sw_swanctl "$g1" --redirect --ike rd --gateway 10.88.2.2 >/dev/null 2>&1 ||
			rk_fail "swanctl --redirect failed"
	else
		rk_ctl "$g1" redirect --to 10.88.2.2 --all >/dev/null || rk_fail "$kind $run: rikectl redirect failed"
	fi
	wait_until 10 eval '! rk_pid_alive '"$(rk_label_pid "ping:$kind$run")" || rk_fail "ping did not end"
	rk_kill_labels "ping:$kind$run"
	# moved? (else the gap would measure nothing)
	if ((rkcl)); then
		[[ $(rk_status_json "$cl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sas"][0]["remote"])') == 10.88.2.2* ]] ||
			rk_fail "rike $run: client did not move to gw2"
	else
		[[ $(sw_sa_remote "$cl" rd) == 10.88.2.2 ]] || rk_fail "$kind $run: charon did not move to gw2"
	fi
	local gap stall lost sent bgap bstall
	read -r gap stall lost sent bgap bstall <<<"$(ping_window "$RK_RUN/o-$kind$run.ping" "$t_red")"
	echo "$kind $gap $lost $sent $stall $bgap $bstall" >>"$RK_RUN/outage.txt"
	rk_log "outage $kind run $run: around the redirect largest gap $gap ms, stall $stall ms," \
		"$lost/$sent lost (the second before: gap $bgap ms, stall $bstall ms)"
	if ((rkcl)); then rk_stop c "$cl"; else sw_stop c "$cl"; fi
	if ((swgw)); then
		sw_stop g1 "$g1"
		sw_stop g2 "$g2"
	else
		rk_stop g1 "$g1"
		rk_stop g2 "$g2"
	fi
}

# strongswan.conf lines that keep charon's logging out of the measurement
sw_quiet() {
	echo "filelog { charon { default = 0 } }"
}

section_outage() {
	local run kind
	outage_setup
	: >"$RK_RUN/outage.txt"
	for ((run = 1; run <= RUNS; run++)); do
		for kind in "${OUTAGE_KINDS[@]}"; do
			outage_run "$kind" "$run"
		done
	done
	report "outage: established SA redirected by its gateway, ping every 10 ms, $RUNS runs each; window [-0.2 s, +2.5 s] around the command"
	python3 - "$RK_RUN/outage.txt" "${OUTAGE_KINDS[@]}" >"$RK_RUN/outage.rep" <<-'PY'
		import statistics, sys
		rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
		med = {}
		for k in sys.argv[2:]:
		    rs = [r for r in rows if r[0] == k]
		    if not rs:
		        continue
		    g = [float(r[1]) for r in rs]
		    st = [float(r[4]) for r in rs]
		    lost = sum(int(r[2]) for r in rs)
		    sent = sum(int(r[3]) for r in rs)
		    med[k] = (statistics.median(g), statistics.median(st))
		    print("  %-9s largest gap median %.1f ms (runs: %s); stall median %.1f ms (runs: %s); "
		          "lost %d of %d; noise floor (second before) gap/stall medians %.1f/%.1f ms" % (
		        k, med[k][0], " ".join("%.0f" % x for x in g), med[k][1],
		        " ".join("%.0f" % x for x in st), lost, sent,
		        statistics.median(float(r[5]) for r in rs), statistics.median(float(r[6]) for r in rs)))
		if "rike" in med and "sw" in med and med["sw"][0] > 0:
		    print("  rike/strongSwan clients (same riked gateways), medians: largest gap %.2f, stall %.2f" % (
		        med["rike"][0] / med["sw"][0], med["rike"][1] / med["sw"][1] if med["sw"][1] else 0))
	PY
	while IFS= read -r l; do report "$l"; done <"$RK_RUN/outage.rep"
}

# ================================================================ flood
FLOOD=$RK_RUN/ike_init_flood
build_flood() {
	[[ -x $FLOOD ]] && return 0
	cc -O2 -std=c17 -Wall -Wextra -Werror -o "$FLOOD" bench/ike_init_flood.c ||
		rk_fail "cannot build bench/ike_init_flood.c"
}

flood_setup() {
	ns_create f
	ns_create g
	ns_create hc
	link_ns f g 10.89.0.1/16 10.89.255.2/16
	link_ns hc g 10.90.0.1/24 10.90.0.2/24
	local i
	for ((i = 2; i <= 64; i++)); do
		echo "addr add 10.89.0.$i/16 dev to_g"
	done | ip -n "$(ns_name f)" -batch - || rk_fail "generator addresses"
}

# flood_once NAME PID SECS: run the generator against 10.89.255.2 and print
# its line plus "cpu_ms N rss_before N rss_after N"
flood_once() {
	local pid=$2 c0 c1 r0 r1 out
	c0=$(pid_cpu_ms "$pid")
	r0=$(pid_rss_kb "$pid")
	out=$(ns_exec f "$FLOOD" -d 10.89.255.2 -s 10.89.0.1 -a 64 -k 4 -w 4 -t "$3") ||
		rk_fail "generator failed"
	sleep 0.5
	c1=$(pid_cpu_ms "$pid")
	r1=$(pid_rss_kb "$pid")
	echo "$out cpu_ms $((c1 - c0)) rss_before $r0 rss_after $r1"
}

us_per() { # us_per FLOOD_LINE: process CPU microseconds per REDIRECT answered
	awk -v c="$(field "$1" cpu_ms)" -v n="$(field "$1" redirect)" 'BEGIN { printf "%.1f", n ? c * 1000 / n : 0 }'
}

field() { # field LINE NAME
	awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"
}

# handshakes KIND K: K clients (riked with K connections, or charon with K
# connections) set up IKE + Child SAs with riked gateway gwhs; writes SA/s,
# from the gateway's timestamped child-up lines, to $RK_RUN/hs-KIND.
handshakes() {
	local kind=$1 k=$2 gw=gwhs$1 cl=hs$1 i r
	RIKED_WRAPPER=$RK_RUN/stamp.sh rk_start g "$gw" "$(gw_conf "$gw" 10.90.0.2 10.40.0.0/16 '' \
		'half_open_per_source = 100000; half_open_cookie_threshold = 1000000;')"
	if [[ $kind == rike ]]; then
		for ((i = 0; i < k; i++)); do
			((i)) && echo ","
			swrk_riked_conn "h$i" 10.90.0.1 10.90.0.2 "h$i.rike.test" gw.rike.test \
				"10.40.$((i / 250)).$((i % 250 + 1))/32" 10.10.2.1/32 "$IKE" "$ESP" start
		done >"$RK_RUN/hs-conns"
		rk_start hc "$cl" "$(swrk_riked_conf "$cl" "$(cat "$RK_RUN/hs-conns")" |
			sed 's/log_level = "debug"/log_level = "notice"/')"
	else
		sw_start hc "$cl" "$(sw_quiet)
ikesa_table_size = 4096
ikesa_table_segments = 16
reuse_ikesa = no"
		{
			echo "connections {"
			for ((i = 0; i < k; i++)); do
				cat <<-EOF
					h$i {
					  version = 2
					  local_addrs = 10.90.0.1
					  remote_addrs = 10.90.0.2
					  proposals = $IKE
					  local {
					    auth = psk
					    id = h$i.rike.test
					  }
					  remote {
					    auth = psk
					    id = gw.rike.test
					  }
					  children {
					    h$i {
					      local_ts = 10.40.$((i / 250)).$((i % 250 + 1))/32
					      remote_ts = 10.10.2.1/32
					      esp_proposals = $ESP
					      start_action = start
					    }
					  }
					}
				EOF
			done
			echo "}"
			echo "secrets { ike-any { secret = $RK_SW_PSK } }"
		} >"$RK_RUN/hs-sw.conf"
		sw_load hc "$cl" "$(cat "$RK_RUN/hs-sw.conf")" >/dev/null || rk_fail "load $cl"
	fi
	wait_until $((k / 5 + 30)) eval '(($(grep -c child-up "$(rk_log_file '"$gw"')") >= '"$k"'))' ||
		rk_fail "handshakes $kind: gateway logged $(grep -c child-up "$(rk_log_file "$gw")") of $k child-up"
	sa_count_is "$gw" "$k" || rk_fail "handshakes $kind: gateway holds $(sa_count "$gw" ESTABLISHED) SAs, not $k"
	# rate between the first and the k-th child-up on the gateway (start-up
	# of the clients and the configuration load excluded)
	r=$(grep child-up "$(rk_log_file "$gw")" | awk -v k="$k" 'NR == 1 { a = $1 } NR == k { b = $1 }
		END { printf "%.0f %.0f", (k - 1) / (b - a), (b - a) * 1000 }')
	local gcpu ccpu
	gcpu=$(pid_cpu_ms "$(rk_label_pid "rk:$gw")")
	if [[ $kind == rike ]]; then ccpu=$(pid_cpu_ms "$(rk_label_pid "rk:$cl")"); else ccpu=$(pid_cpu_ms "$(rk_label_pid "sw:$cl")"); fi
	rk_log "handshakes $kind: $k IKE+Child SAs, ${r#* } ms from the first to the last: ${r% *}/s;" \
		"CPU since start: gateway $gcpu ms ($((gcpu * 1000 / k)) us/SA), client $ccpu ms"
	echo "$gcpu $ccpu" >"$RK_RUN/hs-cpu-$kind"
	if [[ $kind == rike ]]; then rk_stop hc "$cl"; else sw_stop hc "$cl"; fi
	rk_stop g "$gw"
	echo "${r% *}" >"$RK_RUN/hs-$kind"
}

section_flood() {
	local gwpid a b rate mem stats ls_line=""
	build_flood
	[[ -n ${RK_NSMAP[g]:-} ]] || flood_setup
	# reference first: pluto redirecting every client in IKE_SA_INIT
	if (ls_need) >/dev/null 2>&1; then
		ls_start g plf "" --global-redirect yes --global-redirect-to 10.89.255.9
		flood_once plf "$(rk_label_pid ls:plf)" 1 >/dev/null
		ls_line=$(flood_once plf "$(rk_label_pid ls:plf)" "$FLOOD_S")
		rk_log "pluto flood: $ls_line"
		ls_stop g plf
	fi
	rk_start g gwf "$(gw_conf gwf 10.89.255.2 10.10.1.0/24 'redirect = { to = [ "10.89.255.9" ]; };')"
	gwpid=$(rk_label_pid rk:gwf)
	# warm-up (allocator, first-time paths), then two measured floods: RSS
	# growth between them is what each redirected client costs
	flood_once gwf "$gwpid" 1 >/dev/null
	a=$(flood_once gwf "$gwpid" "$FLOOD_S")
	b=$(flood_once gwf "$gwpid" "$FLOOD_S")
	rk_log "flood 1: $a"
	rk_log "flood 2: $b"
	[[ $(field "$a" bad_nonce) == 0 && $(field "$b" bad_nonce) == 0 ]] ||
		rk_fail "riked's REDIRECT carried wrong nonce data"
	(($(field "$a" redirect) > 0)) || rk_fail "riked answered no IKE_SA_INIT with REDIRECT"
	stats=$(rk_status_json gwf | python3 -c 'import json,sys; s=json.load(sys.stdin)["stats"]
print("half_open %s cookies_sent %s redirects_sent_init %s sa_established %s" % (s.get("half_open"),
      s.get("cookies_sent"), s.get("redirects_sent_init"), s.get("sa_established")))')
	rk_log "gateway stats after the floods: $stats"
	rk_stop g gwf
	rate=$(awk -v a="$(field "$a" rate)" -v b="$(field "$b" rate)" 'BEGIN { printf "%.0f", (a + b) / 2 }')
	mem=$(awk -v r0="$(field "$a" rss_after)" -v r1="$(field "$b" rss_after)" -v n="$(field "$b" redirect)" \
		'BEGIN { printf "%.2f", (r1 - r0) * 1024 / n }')
	echo "$rate" >"$RK_RUN/flood-rate"
	report "flood: IKE_SA_INIT with REDIRECT_SUPPORTED from 256 sockets (64 addresses), 4 in flight each, ${FLOOD_S} s x 2"
	report "  riked redirects: $(field "$a" rate)/s and $(field "$b" rate)/s (lost $(field "$a" lost)+$(field "$b" lost), cookies $(field "$a" cookie)+$(field "$b" cookie), other $(field "$a" other)+$(field "$b" other)); riked CPU $(field "$b" cpu_ms) ms for $(field "$b" redirect) redirects ($(us_per "$b") us each)"
	report "  riked RSS $(field "$a" rss_before) -> $(field "$a" rss_after) -> $(field "$b" rss_after) KiB: $mem bytes per redirected client (second flood); $stats"
	[[ -z $ls_line ]] || report "  pluto --global-redirect (reference, same generator): $(field "$ls_line" rate)/s, RSS $(field "$ls_line" rss_before) -> $(field "$ls_line" rss_after) KiB, CPU $(field "$ls_line" cpu_ms) ms ($(us_per "$ls_line") us each)"
}

section_handshake() {
	local hs_rk hs_sw rate
	[[ -n ${RK_NSMAP[g]:-} ]] || flood_setup
	handshakes rike "$HS_K"
	handshakes sw "$HS_K"
	hs_rk=$(cat "$RK_RUN/hs-rike")
	hs_sw=$(cat "$RK_RUN/hs-sw")
	report "handshake: full IKE_SA_INIT + IKE_AUTH (+ Child SA) on a riked gateway, counted there: $hs_rk/s from a riked client with $HS_K connections, $hs_sw/s from charon with $HS_K connections (both clients on the same 2 cores)"
	report "  CPU ms (gateway, client): riked client $(cat "$RK_RUN/hs-cpu-rike"), charon client $(cat "$RK_RUN/hs-cpu-sw")"
	if [[ -s $RK_RUN/flood-rate ]]; then
		rate=$(cat "$RK_RUN/flood-rate")
		report "  IKE_SA_INIT redirects / full handshakes: $(awk -v r="$rate" -v h="$hs_rk" 'BEGIN { printf "%.1fx", r / h }') (riked client), $(awk -v r="$rate" -v h="$hs_sw" 'BEGIN { printf "%.1fx", r / h }') (charon client); goal >= 10x"
	fi
}

# ================================================================ drain
# Clients: ceil(N / PER) riked instances, each in its own namespace dcK with
# PER connections (distinct identities d<i>.rike.test and inner /32s
# 10.50.x.y), all on one bridge with the two gateways:
#
#   [dc0] 10.91.1.1 --+
#   [dc1] 10.91.1.2 --+-- br0 [dsw] --+-- 10.91.0.1 [d1] riked gw1
#   ...               |               +-- 10.91.0.2 [d2] riked gw2
#
# PER (DRAIN_PER_CLIENT) stays at most 64 by default: riked remembers the
# follow times (RFC 5685 7) of at most 64 connections per process and lets
# the rest share one ring, so a single riked with more than ~68 redirected
# connections refuses the rest as "loop: 5 redirects in 300 s".
section_drain() {
	local n=$DRAIN_N per=$DRAIN_PER_CLIENT i k nk t0 t1 every dur
	local -a samples=()
	nk=$(((n + per - 1) / per))
	ns_create dsw
	ip -n "$(ns_name dsw)" link add br0 type bridge || rk_fail "bridge"
	ip -n "$(ns_name dsw)" link set br0 up || rk_fail "bridge up"
	for k in d1 d2; do
		ns_create "$k"
		link_ns "$k" dsw "10.91.0.${k#d}/16" ""
		ip -n "$(ns_name dsw)" link set "to_$k" master br0 || rk_fail "bridge port"
		ns_addr "$k" lo 10.10.2.1/32
	done
	local hopen='half_open_per_source = 100000; half_open_cookie_threshold = 1000000;'
	RIKED_WRAPPER=$RK_RUN/stamp.sh rk_start d1 dg1 \
		"$(gw_conf dg1 10.91.0.1 10.50.0.0/16 'redirect = { grace = 10; };' "$hopen")"
	RIKED_WRAPPER=$RK_RUN/stamp.sh rk_start d2 dg2 "$(gw_conf dg2 10.91.0.2 10.50.0.0/16 '' "$hopen")"
	for ((k = 0; k < nk; k++)); do
		ns_create "dc$k"
		link_ns "dc$k" dsw "10.91.1.$((k + 1))/16" ""
		ip -n "$(ns_name dsw)" link set "to_dc$k" master br0 || rk_fail "bridge port"
		for ((i = k * per; i < (k + 1) * per && i < n; i++)); do
			((i > k * per)) && echo ","
			swrk_riked_conn "d$i" %any 10.91.0.1 "d$i.rike.test" gw.rike.test \
				"10.50.$((i / 250)).$((i % 250 + 1))/32" 10.10.2.1/32 "$IKE" "$ESP" start \
				"keep_up = true;"
		done >"$RK_RUN/drain-conns-$k"
		RIKED_WRAPPER=$RK_RUN/stamp.sh rk_start "dc$k" "dcl$k" \
			"$(swrk_riked_conf "dcl$k" "$(cat "$RK_RUN/drain-conns-$k")" |
				sed 's/log_level = "debug"/log_level = "info"/')"
	done
	# progress from the gateways' child-up lines: polling "status --json" of
	# 1000 SAs ten times a second would itself load the machine
	wait_until $((n / 5 + 60)) log_count_ge dg1 child-up "$n" ||
		rk_fail "drain: gw1 logged $(grep -c child-up "$(rk_log_file dg1)") of $n child-up"
	sa_count_is dg1 "$n" || rk_fail "drain: gw1 has $(sa_count dg1 ESTABLISHED) of $n SAs"
	rk_log "drain: $n clients ($nk riked instances x <= $per connections) established with gw1"
	# SAMPLE clients spread over the list ping every 20 ms from their /32
	every=$((n / SAMPLE))
	((every > 0)) || every=1
	dur=$((n / DRAIN_RATE + 10))
	for ((i = 0; i < n; i += every)); do
		local a="10.50.$((i / 250)).$((i % 250 + 1))" kk=$((i / per))
		ns_addr "dc$kk" lo "$a/32"
		rk_spawn "ping:d$i" "$RK_RUN/d$i.ping" ip netns exec "$(ns_name "dc$kk")" \
			ping -D -n -i 0.02 -w "$dur" -I "$a" 10.10.2.1
		samples+=("d$i")
	done
	sleep 1.5
	t0=$(rk_now_us)
	out=$(rk_ctl dg1 redirect --drain --to 10.91.0.2 --rate "$DRAIN_RATE") || rk_fail "drain failed: $out"
	rk_log "drain: $out"
	wait_until $((n / DRAIN_RATE * 3 + 30)) log_count_ge dg2 child-up "$n" ||
		rk_fail "drain: gw2 logged $(grep -c child-up "$(rk_log_file dg2)") of $n child-up"
	# the moment of the n-th child-up on gw2 (as read from its log)
	t1=$(grep child-up "$(rk_log_file dg2)" | awk -v n="$n" 'NR == n { printf "%.0f", $1 * 1e6; exit }')
	sa_count_is dg2 "$n" || rk_fail "drain: gw2 holds $(sa_count dg2 ESTABLISHED) of $n SAs"
	# gw1 deletes what a client keeps after grace (10 s); the clients delete
	# the old SA themselves once the new one is up (RFC 5685 5)
	local left
	for ((i = 0; i < 30; i++)); do
		left=$(sa_count dg1)
		[[ $left == 0 ]] && break
		sleep 1
	done
	[[ $left == 0 ]] || rk_fail "drain: gw1 still holds $left SAs 30 s after the move"
	rk_log "drain status: $(rk_ctl dg1 redirect --status --json)"
	local worst=0 wstall=0 lost=0 sent=0 r gap stall l se
	for i in "${samples[@]}"; do
		wait_until $((dur + 5)) eval '! rk_pid_alive '"$(rk_label_pid "ping:$i")" || true
		rk_kill_labels "ping:$i"
		# the window is around this client's own move (its redirect-followed
		# line, timestamped as read); the second before it is the noise floor
		local tf bg bs
		tf=$(awk -v c="\"$i\"" '$0 ~ c && /redirect-followed/ { print $1; exit }' \
			"$(rk_log_file "dcl$((${i#d} / per))")")
		[[ -n $tf ]] || rk_fail "drain: no redirect-followed for $i"
		read -r gap stall l se bg bs <<<"$(ping_window "$RK_RUN/$i.ping" "$tf")"
		rk_log "drain sample $i: around its move largest gap $gap ms, stall $stall ms, $l/$se lost" \
			"(the second before: gap $bg ms, stall $bs ms)"
		sent=$((sent + se))
		lost=$((lost + l))
		worst=$(awk -v a="$worst" -v b="$gap" 'BEGIN { print (b > a) ? b : a }')
		wstall=$(awk -v a="$wstall" -v b="$stall" 'BEGIN { print (b > a) ? b : a }')
	done
	# per connection: redirect-followed -> the next child-up of that conn
	r=$(python3 - "$RK_RUN"/rk-dcl*/riked.log <<-'PY'
		import re, sys
		fol, up = {}, {}
		for f in sys.argv[1:]:
		    for line in open(f, errors="replace"):
		        m = re.match(r'(\d+\.\d+) .*"(d\d+)" .*\b(redirect-followed|child-up)\b', line)
		        if not m:
		            continue
		        t, c, ev = float(m.group(1)), m.group(2), m.group(3)
		        if ev == "redirect-followed":
		            fol.setdefault(c, t)
		        elif c in fol and c not in up:
		            up[c] = t
		d = sorted((up[c] - fol[c]) * 1000 for c in up)
		if not d:
		    print("no redirect-followed/child-up pairs")
		else:
		    print("%d followed; redirect-followed -> new child-up median %.1f ms, max %.1f ms" % (
		        len(d), d[len(d) // 2], d[-1]))
	PY
	)
	local refused
	refused=$(cat "$RK_RUN"/rk-dcl*/riked.log | grep -c 'redirect-refused')
	report "drain: $n established clients ($nk riked instances x <= $per connections) from riked gw1 to gw2, --rate $DRAIN_RATE"
	report "  all moved in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') s (ideal $(awk -v n="$n" -v r="$DRAIN_RATE" 'BEGIN { printf "%.1f", n / r }') s); $r; $refused refused"
	report "  ${#samples[@]} sample clients pinging every 20 ms, in [-0.2 s, +2.5 s] around each one's move: largest gap $worst ms, largest stall $wstall ms, $lost of $sent lost"
	for ((k = 0; k < nk; k++)); do
		rk_stop "dc$k" "dcl$k"
	done
	rk_stop d1 dg1
	rk_stop d2 dg2
}

for s in "${SECTIONS[@]}"; do
	rk_log "==== section $s"
	declare -F "section_$s" >/dev/null || rk_fail "no section $s"
	"section_$s"
done
echo
echo "bench/redirect.sh $* ($(((($(rk_now_us) - T_START) / 1000000))) s; riked $(git rev-parse --short HEAD 2>/dev/null))"
cat "$REPORT"
rk_pass
