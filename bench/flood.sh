#!/bin/bash
#
# bench/flood.sh: riked against strongSwan as the responder gateway under a
# spoofed IKE_SA_INIT flood (RFC 7296 2.6 cookies; RFC 8019), on this machine
# in the same run. See bench/README.md ("IKE_SA_INIT flood").
#
#                          [ns pgN] charon: tunnel 10.10.1.1 <-> 10.10.2.1 up before
#                               |   the flood, pings through it every 20 ms
#                     10.99.1.1 | 10.99.1.2
#   [ns liN] charon ---------- [ns gwN] riked or charon (the gateway: one
#   legit initiator  10.99.2.1   10.99.2.2  wildcard socket per port, cookies on,
#   (from flood+3 s)            |           default thresholds), inner 10.10.2.1
#                     10.99.3.2 | 10.99.3.1   route 10.200.0.0/16 via 10.99.3.1
#                          [ns flN] rike-flood: IKE_SA_INIT from random sources
#                                   in 10.200.0.0/16; replies to them come back
#                                   here and are counted and dropped (nftables)
#
# For each gateway (riked, charon) and each flood rate, in fresh namespaces:
#   - the flood runs FLOOD_S seconds at RATE requests/s (rike-flood reports
#     what it really sent);
#   - LEGIT_AT s into the flood the legit initiator (strongSwan, the same for
#     both gateways, default retransmits 4 s x 1.8^n) starts; recorded: whether
#     `swanctl --initiate` succeeds (IKE and Child SA up, bounded by LEGIT_BOUND
#     s) and, from its log, the time from its first IKE_SA_INIT to ESTABLISHED;
#   - the established tunnel's pings (ping -i 0.02 for the flood's duration):
#     sent, received;
#   - the gateway's CPU during the flood (utime+stime of its PID, all threads);
#   - half-open IKE SAs and RSS at the end of the flood and AFTER_S s later
#     (riked: rikectl status --json; charon: swanctl --stats);
#   - AFTER_S s after the flood the legit initiator connects once more (a
#     gateway that never forgets the flood's half-open SAs stays in cookie
#     mode, or worse).
# Also logged: the gateway's kernel UDP receive-buffer drops, how the gateway
# answered the spoofed sources (short answers, i.e. COOKIE or other notifies,
# vs. full IKE_SA_INIT responses), riked's cookies_sent counter.
#
# Usage:  sudo bash bench/flood.sh [--quick]
#         (builds riked, rikectl and rike-flood into build-bench/ unless RIKE_BIN is set)
#         --quick: one rate (10000/s), 8 s flood, 35 s after; about 2 minutes
# Knobs:  RATES="1000 10000 50000" FLOOD_S=20 AFTER_S=70 LEGIT_AT=3 LEGIT_BOUND=30
#         GATEWAYS="rike strongswan" RIKED_LOG_LEVEL=notice
#         RIKE_BIN=DIR  use riked, rikectl and bench/rike-flood from DIR
# Exits 0 when every measurement ran (whatever the figures); cleans up all
# namespaces and processes (lib.sh's EXIT trap).

set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD

QUICK=0
case ${1:-} in
--quick) QUICK=1 ;;
"") ;;
*)
	echo "usage: $0 [--quick]" >&2
	exit 2
	;;
esac
if ((QUICK)); then
	read -r -a RATES <<<"${RATES:-10000}"
	FLOOD_S=${FLOOD_S:-8}
	AFTER_S=${AFTER_S:-35}
else
	read -r -a RATES <<<"${RATES:-1000 10000 50000}"
	FLOOD_S=${FLOOD_S:-20}
	AFTER_S=${AFTER_S:-70}
fi
LEGIT_AT=${LEGIT_AT:-3}
LEGIT_BOUND=${LEGIT_BOUND:-30}
read -r -a GATEWAYS <<<"${GATEWAYS:-rike strongswan}"
RIKED_LOG_LEVEL=${RIKED_LOG_LEVEL:-notice}
IKE_PROPOSAL=aes256gcm16-prfsha256-x25519 # also rike-flood's proposal
ESP_PROPOSAL=aes256gcm16
FLOOD_NET=10.200.0.0/16

if [[ -z ${RIKE_BIN:-} ]]; then
	[[ $(id -u) == 0 ]] || {
		echo "needs root: sudo bash $0" >&2
		exit 77
	}
	bash scripts/deps.sh || exit 1
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
	cmake --build build-bench -j2 --target riked rikectl rike-flood >/dev/null || exit 1
	export RIKE_BIN=$ROOT/build-bench
fi

RK_DUMP_LINES=60
# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
sw_need
rk_need
need_cmd ping python3 nft
FLOOD="$(rk_bin_dir)/bench/rike-flood"
[[ -x $FLOOD ]] || rk_skip "rike-flood not built ($FLOOD)"

PSK=0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718
GW_PG=10.99.1.2 PG=10.99.1.1
GW_LI=10.99.2.2 LI=10.99.2.1
GW_FL=10.99.3.2 FL=10.99.3.1
N=0 # measurements so far (names namespaces and daemons)

# ---------------------------------------------------------------- configs

# riked_gw_conf NAME: the gateway: "pg" for the pinging peer, "rw" for anyone
# (the legit initiator, and the flood), both on the wildcard address.
riked_gw_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "$RIKED_LOG_LEVEL"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; };
		connections = (
		  { name = "pg"; local = "%any"; remote = "$PG"; local_id = "gw.bench"; remote_id = "pg.bench";
		    auth = { method = "psk"; secret = "$PSK"; };
		    ike_proposals = [ "$IKE_PROPOSAL" ]; esp_proposals = [ "$ESP_PROPOSAL" ];
		    local_ts = [ "10.10.2.0/24" ]; remote_ts = [ "10.10.1.0/24" ]; start = "wait"; },
		  { name = "rw"; local = "%any"; remote = "%any"; local_id = "gw.bench"; remote_id = "li.bench";
		    auth = { method = "psk"; secret = "$PSK"; };
		    ike_proposals = [ "$IKE_PROPOSAL" ]; esp_proposals = [ "$ESP_PROPOSAL" ];
		    local_ts = [ "10.10.2.0/24" ]; remote_ts = [ "10.10.3.0/24" ]; start = "wait"; } );
	EOF
}

# sw_conn NAME REMOTE_ADDRS LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS: one swanctl connection.
sw_conn() {
	cat <<-EOF
		$1 {
			version = 2
			remote_addrs = $2
			proposals = $IKE_PROPOSAL
			local {
				auth = psk
				id = $3
			}
			remote {
				auth = psk
				id = $4
			}
			children {
				$1 {
					mode = tunnel
					local_ts = $5
					remote_ts = $6
					esp_proposals = $ESP_PROPOSAL
					start_action = none
				}
			}
		}
	EOF
}

sw_secrets() {
	cat <<-EOF
		secrets {
			ike-bench {
				id-gw = gw.bench
				id-pg = pg.bench
				id-li = li.bench
				secret = $PSK
			}
		}
	EOF
}

sw_gw_conf() {
	printf 'connections {\n%s\n%s\n}\n%s\n' \
		"$(sw_conn pg "$PG" gw.bench pg.bench 10.10.2.0/24 10.10.1.0/24)" \
		"$(sw_conn rw %any gw.bench li.bench 10.10.2.0/24 10.10.3.0/24)" "$(sw_secrets)"
}

sw_peer_conf() { # sw_peer_conf NAME GW_ADDR LOCAL_TS
	printf 'connections {\n%s\n}\n%s\n' \
		"$(sw_conn "$1" "$2" "$1.bench" gw.bench "$3" 10.10.2.0/24)" "$(sw_secrets)"
}

# The charon gateway logs at level 0, as throughput.sh: a debug log line per
# flood packet would measure the logger. The peers keep lib.sh's level 2.
SW_QUIET='filelog { charon { default = 0 } }'

# ---------------------------------------------------------------- helpers

# CPU time (clock ticks, user + system, all threads) of PID.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

# Udp: InDatagrams, RcvbufErrors and SndbufErrors of namespace NS.
udp_stats() {
	ns_exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $2, $6, $7 }'
}

# Half-open IKE SAs of the gateway (riked: stats.half_open when riked reports
# it, else the SAs in state INIT_DONE; charon: swanctl --stats), and all IKE SAs.
half_open() {
	local out
	case $KIND in
	rike)
		out=$(rk_status_json "r$GW" 2>/dev/null) || {
			echo "? ?"
			return
		}
		python3 -c 'import json, sys
d = json.load(sys.stdin)
st = d.get("stats", {})
ho = st.get("half_open", sum(1 for s in d["sas"] if s["state"] == "INIT_DONE"))
print(ho, len(d["sas"]))' <<<"$out" 2>/dev/null || echo "? ?"
		;;
	sw)
		out=$(sw_swanctl "s$GW" --stats 2>/dev/null) || {
			echo "? ?"
			return
		}
		sed -n 's/^IKE_SAs: \([0-9]*\) total, \([0-9]*\) half-open.*/\2 \1/p' <<<"$out"
		;;
	esac
}

# The flooder's namespace counts and drops what the gateway sends to the
# spoofed sources: short answers (a notify alone: COOKIE, INVALID_KE_PAYLOAD,
# ...) and full IKE_SA_INIT responses. No flood source exists anywhere.
flood_sink() {
	ns_exec "$1" nft -f - <<-EOF || rk_fail "nft in $1"
		table inet flood_sink {
			counter short { }
			counter full { }
			chain pre {
				type filter hook prerouting priority raw; policy accept;
				ip saddr $GW_FL udp sport 500 udp length < 120 counter name "short" drop
				ip saddr $GW_FL udp sport 500 counter name "full" drop
			}
		}
	EOF
}

sink_count() { # sink_count NS COUNTER
	ns_exec "$1" nft list counter inet flood_sink "$2" 2>/dev/null |
		sed -n 's/.*packets \([0-9]*\).*/\1/p' | head -1
}

# topo: fresh namespaces gwN, pgN, liN, flN (see the drawing above).
topo() {
	N=$((N + 1))
	GW=gw$N PGN=pg$N LIN=li$N FLN=fl$N
	ns_create "$GW"
	ns_create "$PGN"
	ns_create "$LIN"
	ns_create "$FLN"
	link_ns "$PGN" "$GW" "$PG/24" "$GW_PG/24"
	link_ns "$LIN" "$GW" "$LI/24" "$GW_LI/24"
	link_ns "$FLN" "$GW" "$FL/24" "$GW_FL/24"
	ns_addr "$GW" lo 10.10.2.1/32
	ns_addr "$PGN" lo 10.10.1.1/32
	ns_addr "$LIN" lo 10.10.3.1/32
	ip -n "$(ns_name "$GW")" route add "$FLOOD_NET" via "$FL" ||
		rk_fail "route to the flood sources"
	flood_sink "$FLN"
	ns_exec "$PGN" ping -c 1 -W 2 "$GW_PG" >/dev/null 2>&1 || rk_fail "veth $PGN<->$GW passes nothing"
}

gw_start() {
	case $KIND in
	rike)
		rk_start "$GW" "r$GW" "$(riked_gw_conf "r$GW")"
		GW_PID=$(rk_label_pid "rk:r$GW")
		;;
	sw)
		sw_start "$GW" "s$GW" "$SW_QUIET"
		sw_load "$GW" "s$GW" "$(sw_gw_conf)" || rk_fail "swanctl load (gateway)"
		GW_PID=$(rk_label_pid "sw:s$GW")
		;;
	esac
}

gw_stop() {
	case $KIND in
	rike) rk_stop "$GW" "r$GW" ;;
	sw) sw_stop "$GW" "s$GW" ;;
	esac
}

# legit_connect OUTFILE: initiate the legit peer; writes "rc seconds" to OUTFILE.
# Run in the background; bounded by swanctl --timeout (LEGIT_BOUND) and timeout(1).
legit_connect() {
	local t0 rc
	t0=$(rk_now_us)
	sw_initiate "$LIN" "s$LIN" li li "$LEGIT_BOUND" >/dev/null 2>&1
	rc=$?
	echo "$rc $(awk -v a="$t0" -v b="$(rk_now_us)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')" >"$1"
}

# What the legit initiator's charon log says since byte OFFSET: COOKIE
# answers received, IKE_SA_INIT retransmits (message ID 0), and the seconds
# from "initiating IKE_SA" to "IKE_SA ... established" (or "none"). The
# swanctl --initiate wall time also counts swanctl's own start and vici
# round trips, which a loaded machine stretches by up to ~0.5 s.
legit_log_summary() {
	local f
	f=$(sw_log "s$LIN")
	tail -c +"$(($1 + 1))" "$f" 2>/dev/null | awk '
		function ts(s, a) { split(s, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
		/initiating IKE_SA li\[/ && t0 == "" { t0 = ts($1) }
		/IKE_SA li\[[0-9]+\] established/ && t1 == "" { t1 = ts($1) }
		/parsed IKE_SA_INIT response .*N\(COOKIE\)/ { c++ }
		/retransmit [0-9]+ of request with message ID 0$/ { r++ }
		END {
			d = "none"
			if (t0 != "" && t1 != "") {
				d = t1 - t0
				if (d < 0) d += 86400
				d = sprintf("%.3f", d)
			}
			printf "%d %d %s\n", c, r, d
		}'
}

# ---------------------------------------------------------------- one measurement

RESULTS="$RK_RUN/results"
: >"$RESULTS"

# measure KIND RATE: one gateway under one flood rate; appends a line of
# key=value pairs to $RESULTS.
measure() {
	local rate=$2 c0 c1 t0 t1 u0 u1 d0 d1 e0 e1 lrc lwall lwall2 tot_end tot_after fpid ppid lpid lfile ho_end ho_after rss_end rss_after
	local fl_out sent achieved legit legit2 ping_out ptx prx logoff cookies retr pings rkstats=""
	KIND=$1
	topo
	gw_start
	sw_start "$PGN" "s$PGN" ""
	sw_load "$PGN" "s$PGN" "$(sw_peer_conf pg "$GW_PG" 10.10.1.0/24)" || rk_fail "swanctl load (pg)"
	sw_initiate "$PGN" "s$PGN" pg pg 15 || rk_fail "$KIND: pinging peer's tunnel did not come up"
	wait_until 10 sw_sa_up "$PGN" "s$PGN" pg pg || rk_fail "$KIND: pinging peer's SA not installed"
	wait_until 10 ns_exec "$PGN" ping -c 1 -W 1 -I 10.10.1.1 10.10.2.1 ||
		rk_fail "$KIND: no ping through the tunnel"
	sw_start "$LIN" "s$LIN" ""
	sw_load "$LIN" "s$LIN" "$(sw_peer_conf li "$GW_LI" 10.10.3.0/24)" || rk_fail "swanctl load (li)"
	read -r u0 d0 e0 < <(udp_stats "$GW")

	rk_log "$KIND: flood at $rate/s for $FLOOD_S s (gateway pid $GW_PID)"
	fl_out="$RK_RUN/flood-$N.out"
	ping_out="$RK_RUN/ping-$N.out"
	c0=$(cpu_ticks "$GW_PID")
	t0=$(rk_now_us)
	rk_spawn "fl:$N" "$fl_out" ip netns exec "$(ns_name "$FLN")" "$FLOOD" --dst "$GW_FL" \
		--src-net "$FLOOD_NET" --rate "$rate" --secs "$FLOOD_S"
	rk_spawn "ping:$N" "$ping_out" ip netns exec "$(ns_name "$PGN")" ping -n -q -i 0.02 \
		-c $((FLOOD_S * 50)) -W 1 -I 10.10.1.1 10.10.2.1
	fpid=$(rk_label_pid "fl:$N")
	ppid=$(rk_label_pid "ping:$N")
	sleep "$LEGIT_AT"
	lfile="$RK_RUN/legit-$N"
	logoff=$(stat -c %s "$(sw_log "s$LIN")" 2>/dev/null || echo 0)
	legit_connect "$lfile" &
	lpid=$!
	wait_until $((FLOOD_S + 10)) eval '! rk_pid_alive '"$fpid" || rk_log "flooder overran its time"
	c1=$(cpu_ticks "$GW_PID")
	t1=$(rk_now_us)
	read -r ho_end tot_end < <(half_open)
	rss_end=$(rss_kb "$GW_PID")
	read -r u1 d1 e1 < <(udp_stats "$GW")
	rk_kill_labels "fl:$N"
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$fl_out")
	achieved=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' "$fl_out")
	[[ -n $sent ]] || rk_fail "rike-flood reported nothing: $(cat "$fl_out")"
	wait "$lpid"
	read -r lrc lwall <"$lfile"
	read -r cookies retr legit < <(legit_log_summary "$logoff")
	((lrc == 0)) && [[ $legit != none ]] || legit="fail"
	wait_until 15 eval '! rk_pid_alive '"$ppid"
	rk_kill_labels "ping:$N"
	ptx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$ping_out")
	prx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$ping_out")
	pings="${ptx:-0}/${prx:-0}"
	rk_log "$KIND $rate/s: flood sent $sent ($achieved/s); legit ${legit} s (swanctl $lwall s, rc $lrc," \
		"COOKIEs seen $cookies, retransmits $retr); pings sent/received $pings;" \
		"half-open at end $ho_end of $tot_end IKE SAs; RSS $rss_end kB;" \
		"gateway UDP in $((u1 - u0)), rcvbuf drops $((d1 - d0)), sndbuf errors $((e1 - e0))"

	# AFTER_S after the flood: what is left, and can the legit peer come back?
	sleep "$(awk -v t1="$t1" -v now="$(rk_now_us)" -v a="$AFTER_S" \
		'BEGIN { s = a - (now - t1) / 1e6; print (s > 0) ? s : 0 }')"
	read -r ho_after tot_after < <(half_open)
	rss_after=$(rss_kb "$GW_PID")
	sw_swanctl "s$LIN" --terminate --ike li --timeout 5 >/dev/null 2>&1
	logoff=$(stat -c %s "$(sw_log "s$LIN")" 2>/dev/null || echo 0)
	legit_connect "$lfile"
	read -r lrc lwall2 <"$lfile"
	read -r _ _ legit2 < <(legit_log_summary "$logoff")
	((lrc == 0)) && [[ $legit2 != none ]] || legit2="fail"
	if [[ $KIND == rike ]]; then
		# riked's own counters: cookies_sent, and half_open_expired and
		# half_open_evicted where riked has them.
		rkstats=" $(rk_status_json "r$GW" 2>/dev/null | python3 -c 'import json, sys
st = json.load(sys.stdin)["stats"]
print(" ".join("%s=%s" % (k, st[k]) for k in
               ("cookies_sent", "cookies_invalid", "half_open_expired", "half_open_evicted") if k in st))' \
			2>/dev/null || echo 'cookies_sent=?')"
	fi
	rk_log "$KIND $rate/s, $AFTER_S s later: half-open $ho_after of $tot_after IKE SAs;" \
		"RSS $rss_after kB; legit again: $legit2 s (swanctl $lwall2 s); answers to spoofed sources:" \
		"short $(sink_count "$FLN" short), full $(sink_count "$FLN" full)${rkstats}"
	echo "gw=$KIND rate=$rate sent=$sent achieved=$achieved legit=$legit legit_cookies=$cookies" \
		"legit_retr=$retr pings=$pings cpu=$(((c1 - c0) * 100000000 / $(getconf CLK_TCK) / (t1 - t0)))" \
		"ho_end=$ho_end ho_after=$ho_after rss_end=$rss_end rss_after=$rss_after legit_after=$legit2" \
		"legit_wall=$lwall legit_after_wall=$lwall2" \
		"udp_in=$((u1 - u0)) rcvbuf_drops=$((d1 - d0)) sndbuf_errors=$((e1 - e0)) short=$(sink_count "$FLN" short)" \
		"full=$(sink_count "$FLN" full)$rkstats" >>"$RESULTS"
	sw_stop "$LIN" "s$LIN"
	sw_stop "$PGN" "s$PGN"
	gw_stop
}

# ---------------------------------------------------------------- main

echo "rike flood: spoofed IKE_SA_INIT from $FLOOD_NET at ${RATES[*]}/s, $FLOOD_S s each;" \
	"legit initiator at +$LEGIT_AT s; $(nproc) CPUs, $(uname -r)"
echo "riked: $(rk_bin_dir)/riked; strongSwan: $("$RK_CHARON" --version 2>/dev/null | head -1 ||
	echo charon)"
for rate in "${RATES[@]}"; do
	for g in "${GATEWAYS[@]}"; do
		case $g in
		rike) measure rike "$rate" ;;
		strongswan) measure sw "$rate" ;;
		*) rk_fail "unknown gateway '$g' (rike or strongswan)" ;;
		esac
	done
done

python3 - "$RESULTS" "$FLOOD_S" "$AFTER_S" "$LEGIT_BOUND" "$LEGIT_AT" <<'EOF'
import sys
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if l.strip()]
flood_s, after_s, bound, legit_at = sys.argv[2:6]
name = {"rike": "riked", "sw": "strongSwan"}

def legit(v, r, during=False):
    if v == "fail":
        return "no (>%s s)" % bound
    # "*": connected only after the flood had stopped
    late = during and float(v) > float(flood_s) - float(legit_at)
    return "%s s%s" % (v, "*" if late else "")

def pings(v):
    tx, rx = (int(x) for x in v.split("/"))
    return "%d/%d lost" % (tx - rx, tx) if tx else "-"

hdr = ("rate/s", "gateway", "sent/s", "legit connects", "COOKIE/retr",
       "pings lost", "CPU", "half-open end/+%ss" % after_s, "RSS MiB end/+%ss" % after_s,
       "legit +%ss" % after_s)
fmt = "%-7s %-10s %7s %15s %11s %15s %5s %18s %18s %11s"
print()
print(fmt % hdr)
for r in rows:
    print(fmt % (r["rate"], name[r["gw"]], r["achieved"], legit(r["legit"], r, True),
                 "%s/%s" % (r["legit_cookies"], r["legit_retr"]), pings(r["pings"]),
                 r["cpu"] + "%", "%s/%s" % (r["ho_end"], r["ho_after"]),
                 "%.1f/%.1f" % (int(r["rss_end"]) / 1024, int(r["rss_after"]) / 1024),
                 legit(r["legit_after"], r)))

def num(v):
    try:
        return float(v)
    except ValueError:
        return None

def ratio(a, b, fmtv="%.2fx"):
    a, b = num(a), num(b)
    if a is None or b is None:
        return "-"
    if b == 0:
        return "-" if a == 0 else "inf"
    return fmtv % (a / b)

print("(legit connects: from the legit initiator's first IKE_SA_INIT, %s s into the flood, to its"
      " IKE SA established (charon's log; swanctl's wall time is in raw);"
      " * = only after the flood had stopped; COOKIE/retr: COOKIE answers the legit initiator"
      " got, IKE_SA_INIT retransmits it made)" % legit_at)
print()
print("rike / strongSwan (same run):")
for rate in dict.fromkeys(r["rate"] for r in rows):
    rk = next((r for r in rows if r["rate"] == rate and r["gw"] == "rike"), None)
    sw = next((r for r in rows if r["rate"] == rate and r["gw"] == "sw"), None)
    if not rk or not sw:
        continue
    lost = lambda r: str(int(r["pings"].split("/")[0]) - int(r["pings"].split("/")[1]))
    print("  %6s/s: legit connect time %s (%s vs %s), gateway CPU %s, RSS at end %s,"
          " pings lost %s vs %s, half-open +%ss %s vs %s" % (
              rate, ratio(rk["legit"], sw["legit"]), legit(rk["legit"], rk, True),
              legit(sw["legit"], sw, True), ratio(rk["cpu"], sw["cpu"]),
              ratio(rk["rss_end"], sw["rss_end"]), lost(rk), lost(sw), after_s,
              rk["ho_after"], sw["ho_after"]))
print()
print("raw:")
for l in open(sys.argv[1]):
    print("  " + l.rstrip())
EOF
rk_pass "flood benchmark done"
