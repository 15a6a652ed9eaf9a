#!/bin/bash
#
# bench/throughput.sh: TCP throughput through one IPsec tunnel and through two
# at once, rike against strongSwan, on this machine in the same run.
#
#   inner 10.10.1.i/32 (lo)                         inner 10.10.2.i/32 (lo)
#   [ns a] iperf3 -c -- TUN -- daemon == veth 10.77.0.0/24 == daemon -- TUN -- iperf3 -s [ns b]
#
#   1 tunnel:  one connection, 10.10.1.0/24 <-> 10.10.2.0/24, one iperf3 stream
#   2 tunnels: two connections (two IKE SAs, two Child SAs, distinct IDs),
#              10.10.1.i/32 <-> 10.10.2.i/32 for i = 1, 2, one iperf3 stream
#              through each at the same time (the sum is reported)
#
#   rike:       riked <-> riked, userspace ESP (TUN rike0, ESP in UDP 4500)
#   strongSwan: charon <-> charon, kernel-libipsec (TUN ipsec0, ESP in UDP 4500)
#   baseline:   iperf3 over the plain veth (no tunnel, MTU 1500)
#
# For each ESP cipher and tunnel count, each tunnel carries one iperf3 TCP
# stream for $SECS seconds after $WARM seconds of warm-up (iperf3 -O, not
# counted). All
# measurements are repeated $RUNS times, interleaved (round 1 runs every
# setup, then round 2, ...) so that load from other processes hits all of
# them alike; the medians and the ratio rike/strongSwan are printed. Each
# measurement gets fresh namespaces and daemons; also printed is the CPU the
# two daemons used (user+system, in % of one core, over the whole iperf3
# run including warm-up) and the throughput per core the daemons used
# (Mbit/s / ((CPU a + CPU b) / 100)), which depends less on how much CPU
# other processes on the machine leave over.
#
# riked's CPU is also shown per thread (its event loop "riked", its packet
# workers "riked-dp0", "riked-dp1", ..., see dataplane_workers in
# riked.conf(5)), so that two tunnels using two cores can be seen; for rows
# with two tunnels also as CPU seconds per thread during the measurement
# proper (after the warm-up; utime + stime deltas from
# /proc/PID/task/TID/stat), each round. The load average before each round
# is printed, as other jobs share the machine.
#
# Usage:  sudo bash bench/throughput.sh
#         (installs scripts/deps.sh, builds riked into build-bench/)
# Knobs:  SECS=10 WARM=2 RUNS=3 CIPHERS="aes256gcm16 aes128gcm16" TUNNELS="1 2"
#         WORKERS="1 2"  run riked once per dataplane_workers value (rows
#                        rike-w1, rike-w2); unset: riked's default
#                        (one packet worker per CPU)
#         RIKE_BIN=DIR  use riked/rikectl from DIR instead of building
# Cleans up everything (lib.sh's EXIT trap): namespaces, daemons, iperf3.

set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD

SECS=${SECS:-10}
WARM=${WARM:-2}
RUNS=${RUNS:-3}
read -r -a CIPHERS <<<"${CIPHERS:-aes256gcm16 aes128gcm16}"
read -r -a TUNNELS <<<"${TUNNELS:-1 2}"
read -r -a WORKERS <<<"${WORKERS:-default}"
IKE_PROPOSAL=aes256gcm16-prfsha256-x25519

if [[ -z ${RIKE_BIN:-} ]]; then
	[[ $(id -u) == 0 ]] || {
		echo "needs root: sudo bash $0" >&2
		exit 77
	}
	bash scripts/deps.sh || exit 1
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
	cmake --build build-bench -j2 --target riked rikectl >/dev/null || exit 1
	export RIKE_BIN=$ROOT/build-bench
fi

RK_DUMP_LINES=60
# shellcheck source-path=SCRIPTDIR/.. source=tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
sw_need
rk_need
need_cmd iperf3 python3 ss
RIKECTL="$(rk_bin_dir)/rikectl"

PSK=0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718
OUT_A=10.77.0.1
OUT_B=10.77.0.2
N=0 # measurements so far (names namespaces and daemons)

# ---------------------------------------------------------------- configs

# Traffic selectors of tunnel I of T on side SIDE (1 = a, 2 = b): ts_of I T SIDE
ts_of() {
	if (($2 == 1)); then echo "10.10.$3.0/24"; else echo "10.10.$3.$1/32"; fi
}

# rk_conf NAME LOCAL REMOTE SIDE PEER_SIDE START CIPHER T: T connections
# (dataplane_workers = $W unless W is "default")
rk_conf() {
	local i workers=""
	[[ $W == default ]] || workers="dataplane_workers = $W;"
	cat <<-EOF
		riked = { log = "stderr"; log_level = "notice"; dataplane = "userspace"; $workers
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; };
		connections = (
	EOF
	for ((i = 1; i <= $8; i++)); do
		cat <<-EOF
			  {
			  name = "bench$i"; local = "$2"; remote = "$3";
			  local_id = "s$4-$i.rike.test"; remote_id = "s$5-$i.rike.test";
			  auth = { method = "psk"; secret = "$PSK"; };
			  ike_proposals = [ "$IKE_PROPOSAL" ];
			  esp_proposals = [ "$7" ];
			  local_ts = [ "$(ts_of "$i" "$8" "$4")" ]; remote_ts = [ "$(ts_of "$i" "$8" "$5")" ];
			  start = "$6";
			  }$( ((i < $8)) && echo ,)
		EOF
	done
	echo ");"
}

# sw_conf LOCAL REMOTE SIDE PEER_SIDE CIPHER T: T connections bench1..T, child bench
sw_conf() {
	local i
	echo "connections {"
	for ((i = 1; i <= $6; i++)); do
		cat <<-EOF
			bench$i {
				version = 2
				local_addrs = $1
				remote_addrs = $2
				proposals = $IKE_PROPOSAL
				local {
					auth = psk
					id = s$3-$i.rike.test
				}
				remote {
					auth = psk
					id = s$4-$i.rike.test
				}
				children {
					bench {
						mode = tunnel
						local_ts = $(ts_of "$i" "$6" "$3")
						remote_ts = $(ts_of "$i" "$6" "$4")
						esp_proposals = $5
						start_action = none
					}
				}
			}
		EOF
	done
	echo "}"
	echo "secrets {"
	for ((i = 1; i <= $6; i++)); do
		cat <<-EOF
			ike-bench$i {
				id-a = s$3-$i.rike.test
				id-b = s$4-$i.rike.test
				secret = $PSK
			}
		EOF
	done
	echo "}"
}

# ---------------------------------------------------------------- helpers

# The charon debug log at level 2 costs CPU per packet: keep it quiet.
SW_QUIET='filelog { charon { default = 0 } }'

# rk_up NAME T: T Child SAs installed
rk_up() {
	local out
	out=$(timeout 5 "$RIKECTL" -s "$(rk_dir "$1")/run/riked.sock" list-sas 2>/dev/null) || return 1
	(($(grep -c "reqid [0-9]*, INSTALLED" <<<"$out") >= $2))
}

# topo: fresh namespaces aN and bN joined by a veth, inner /32s 10.10.{1,2}.{1,2} on lo.
topo() {
	local i
	N=$((N + 1))
	A=a$N
	B=b$N
	ns_create "$A"
	ns_create "$B"
	link_ns "$A" "$B" "$OUT_A/24" "$OUT_B/24"
	for i in 1 2; do
		ns_addr "$A" lo "10.10.1.$i/32"
		ns_addr "$B" lo "10.10.2.$i/32"
	done
	ns_exec "$A" ping -c 1 -W 2 "$OUT_B" >/dev/null 2>&1 || rk_fail "veth $A<->$B passes nothing"
}

# CPU time (clock ticks, user + system) of PID and its threads.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# "TID NAME TICKS" for each thread of PID.
thread_ticks() {
	local t
	for t in /proc/"$1"/task/*; do
		awk -v tid="${t##*/}" '{ n = $0; sub(/^[^(]*\(/, "", n); sub(/\) .*$/, "", n)
			sub(/^.*\) /, ""); print tid, n, $12 + $13 }' "$t/stat" 2>/dev/null
	done
}

# Datagrams the kernel dropped in NS because a UDP socket's buffer was full.
udp_drops() {
	ns_exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }'
}

# Packets the devices in NS (TUN, veth, lo) dropped, both directions.
tun_drops() {
	# shellcheck disable=SC2016 # for sh -c
	ns_exec "$1" sh -c 'cat /sys/class/net/*/statistics/[rt]x_dropped' 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}

# The data plane's non-zero drop counters of riked NAME ("drop_io=12 ..."),
# and how its ESP was received: by the packet workers on their own sockets
# (rx_steered) or by the event loop (rx_via_loop), see riked.conf(5).
rk_drops() {
	timeout 5 "$RIKECTL" --json -s "$(rk_dir "$1")/run/riked.sock" status 2>/dev/null |
		grep -Eo '"(drop_[a-z_]*|rx_steered|rx_via_loop|steer_misses|spi_worker_mismatches)": *[1-9][0-9]*' |
		tr -d '" ' | tr ':' '=' | tr '\n' ' '
}

listening() {
	ns_exec "$1" ss -Hltn "sport = :$2" | grep -q .
}

# iperf NS_CLIENT NS_SERVER T PIDS...: T TCP streams at once, stream i from
# 10.10.1.i in NS_CLIENT to 10.10.2.i in NS_SERVER (port 5200 + i), or one
# from $OUT_A to $OUT_B when T = 0 (the plain veth); sets MBPS (received,
# Mbit/s, the sum), RETR and CPU (the CPU use of each of PIDS, in % of one
# core: "57 93") and THREADS (riked's threads of each of PIDS that used 1 %
# or more: "a:riked=12 a:riked-dp0=85 ... b:...").
iperf() {
	local a=$1 b=$2 t=$3 p i n t_start t_end src dst side
	shift 3
	local -a t0=() t1=() cl=()
	rm -f "$RK_RUN"/threads-"$N"-*
	n=$((t > 0 ? t : 1))
	rm -f "$RK_RUN"/iperf-"$N"-*.json
	for ((i = 1; i <= n; i++)); do
		dst=10.10.2.$i
		((t > 0)) || dst=$OUT_B
		rk_spawn "ip:$N:$i" "$RK_RUN/iperf-$N-$i.log" ip netns exec "$(ns_name "$b")" \
			iperf3 -s -1 -B "$dst" -p $((5200 + i))
		wait_until 5 listening "$b" $((5200 + i)) || rk_fail "iperf3 server did not start"
	done
	i=0
	for p in "$@"; do
		t0+=("$(cpu_ticks "$p")")
		thread_ticks "$p" >"$RK_RUN/threads-$N-$i.0"
		i=$((i + 1))
	done
	t_start=$(rk_now_us)
	# The measurement proper starts after the warm-up: each thread's CPU
	# time then (utime + stime, /proc/PID/task/TID/stat) and at the end.
	(
		sleep "$WARM"
		rk_now_us >"$RK_RUN/threads-$N.w"
		i=0
		for p in "$@"; do
			thread_ticks "$p" >"$RK_RUN/threads-$N-$i.w"
			i=$((i + 1))
		done
	) &
	local snap=$!
	for ((i = 1; i <= n; i++)); do
		src=10.10.1.$i dst=10.10.2.$i
		((t > 0)) || { src=$OUT_A dst=$OUT_B; }
		ns_exec "$a" timeout $((SECS + WARM + 20)) iperf3 -c "$dst" -B "$src" \
			-p $((5200 + i)) -t "$SECS" -O "$WARM" -J >"$RK_RUN/iperf-$N-$i.json" &
		cl+=($!)
	done
	for ((i = 0; i < n; i++)); do
		wait "${cl[i]}" || rk_fail "iperf3 stream $((i + 1)) failed"
	done
	t_end=$(rk_now_us)
	wait "$snap"
	i=0
	for p in "$@"; do
		t1+=("$(cpu_ticks "$p")")
		thread_ticks "$p" >"$RK_RUN/threads-$N-$i.1"
		i=$((i + 1))
	done
	for ((i = 1; i <= n; i++)); do rk_kill_labels "ip:$N:$i"; done
	read -r MBPS RETR < <(python3 -c 'import json, sys
m = r = 0
for f in sys.argv[1:]:
    e = json.load(open(f))["end"]
    m += e["sum_received"]["bits_per_second"] / 1e6
    r += e["sum_sent"]["retransmits"]
print("%.0f %d" % (m, r))' "$RK_RUN"/iperf-"$N"-*.json) || rk_fail "cannot read iperf3's JSON"
	DROPS="UDP rcvbuf drops a/b $(udp_drops "$a")/$(udp_drops "$b"), TUN drops a/b $(tun_drops "$a")/$(tun_drops "$b")"
	CPU=""
	THREADS=""
	MEASURE="$(((t_end - $(cat "$RK_RUN/threads-$N.w")) / 10000))"
	for i in "${!t0[@]}"; do
		CPU+="$(((t1[i] - t0[i]) * 100000000 / $(getconf CLK_TCK) / (t_end - t_start))) "
		side=$( ((i == 0)) && echo a || echo b)
		THREADS+=$(awk -v side="$side" -v hz="$(getconf CLK_TCK)" \
			-v us=$((t_end - t_start)) 'FNR == NR { t0[$1] = $3; next }
			{ pct = int(($3 - t0[$1]) * 100000000 / hz / us)
			  if (pct >= 1) printf "%s:%s=%d ", side, $2, pct }' \
			"$RK_RUN/threads-$N-$i.0" "$RK_RUN/threads-$N-$i.1")
		# CPU seconds (x100) of each thread during the measurement.
		MEASURE+=$(awk -v side="$side" -v hz="$(getconf CLK_TCK)" \
			'FNR == NR { t0[$1] = $3; next }
			{ printf " %s:%s=%d", side, $2, int(($3 - t0[$1]) * 100 / hz) }' \
			"$RK_RUN/threads-$N-$i.w" "$RK_RUN/threads-$N-$i.1")
	done
}

# ---------------------------------------------------------------- setups

bench_veth() {
	topo
	iperf "$A" "$B" 0
}

# pings NAME: one ping through each of the T tunnels
pings() {
	local i
	for ((i = 1; i <= T; i++)); do
		ns_exec "$A" ping -c 1 -W 2 -I "10.10.1.$i" "10.10.2.$i" >/dev/null ||
			rk_fail "no ping through $1 tunnel $i"
	done
}

bench_rike() {
	local cipher=$1 pa pb
	topo
	rk_start "$B" "r$B" "$(rk_conf "r$B" $OUT_B $OUT_A 2 1 wait "$cipher" "$T")"
	rk_start "$A" "r$A" "$(rk_conf "r$A" $OUT_A $OUT_B 1 2 start "$cipher" "$T")"
	wait_until 15 rk_up "r$A" "$T" || rk_fail "rike tunnels ($cipher, $T) did not come up"
	pings rike
	pa=$(rk_label_pid "rk:r$A")
	pb=$(rk_label_pid "rk:r$B")
	iperf "$A" "$B" "$T" "$pa" "$pb"
	DROPS+=", riked drops a/b: $(rk_drops "r$A")/ $(rk_drops "r$B")"
	rk_stop "$A" "r$A"
	rk_stop "$B" "r$B"
}

bench_sw() {
	local cipher=$1 pa pb i
	topo
	sw_start "$A" "s$A" "$SW_QUIET"
	sw_start "$B" "s$B" "$SW_QUIET"
	sw_load "$A" "s$A" "$(sw_conf $OUT_A $OUT_B 1 2 "$cipher" "$T")" || rk_fail "swanctl load"
	sw_load "$B" "s$B" "$(sw_conf $OUT_B $OUT_A 2 1 "$cipher" "$T")" || rk_fail "swanctl load"
	for ((i = 1; i <= T; i++)); do
		sw_initiate "$A" "s$A" bench bench$i 15 ||
			rk_fail "strongSwan tunnel $i ($cipher) did not come up"
		wait_until 10 sw_sa_up "$A" "s$A" "bench$i" bench ||
			rk_fail "strongSwan SA $i not installed"
	done
	pings charon
	pa=$(rk_label_pid "sw:s$A")
	pb=$(rk_label_pid "sw:s$B")
	iperf "$A" "$B" "$T" "$pa" "$pb"
	sw_stop "$A" "s$A"
	sw_stop "$B" "s$B"
}

# ---------------------------------------------------------------- main

RESULTS="$RK_RUN/results"
: >"$RESULTS"
: >"$RESULTS.threads"
: >"$RESULTS.measure"
record() { # record SETUP MBPS CPU...
	echo "$*" >>"$RESULTS"
	rk_log "round $r: $1 $2 Mbit/s, $RETR TCP retransmits${3:+, daemon CPU a/b: ${*:3} % of a core}; $DROPS"
	if [[ $1 == rike* && -n ${THREADS:-} ]]; then
		rk_log "round $r: $1 riked threads, % of a core: $THREADS"
		echo "$1 $THREADS" >>"$RESULTS.threads"
		echo "$1 $MEASURE" >>"$RESULTS.measure"
	fi
}

echo "rike throughput: iperf3, one TCP stream per tunnel, ${SECS} s after ${WARM} s" \
	"warm-up, $RUNS rounds (medians), $(nproc) CPUs, $(uname -r)"
echo "riked: $(rk_bin_dir)/riked; strongSwan: $("$RK_CHARON" --version 2>/dev/null | head -1 ||
	echo charon) with kernel-libipsec"
for ((r = 1; r <= RUNS; r++)); do
	rk_log "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	bench_veth
	record veth "$MBPS"
	for c in "${CIPHERS[@]}"; do
		for T in "${TUNNELS[@]}"; do
			for W in "${WORKERS[@]}"; do
				bench_rike "$c"
				rname=rike
				[[ $W == default ]] || rname=rike-w$W
				# shellcheck disable=SC2086 # CPU is a list
				record "$rname/$c/$T" "$MBPS" $CPU
			done
			bench_sw "$c"
			# shellcheck disable=SC2086
			record "strongswan/$c/$T" "$MBPS" $CPU
		done
	done
done

python3 - "$RESULTS" "${TUNNELS[*]}" "${CIPHERS[@]}" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append((float(f[1]), [float(x) for x in f[2:]]))
threads = {}
for line in open(sys.argv[1] + ".threads"):
    f = line.split()
    for kv in f[1:]:
        k, v = kv.rsplit("=", 1)
        threads.setdefault(f[0], {}).setdefault(k, []).append(float(v))
def med(k):
    return statistics.median(v for v, _ in rows[k])
def cpus(k):
    c = [x for _, x in rows[k] if x]
    return [statistics.median(x[i] for x in c) for i in range(len(c[0]))] if c else []
def cpu(k):
    return "/".join("%.0f%%" % x for x in cpus(k))
def per_core(k):
    # Mbit/s per core the two daemons used, per round, then the median
    v = [m / (sum(x) / 100) for m, x in rows[k] if x and sum(x) > 0]
    return statistics.median(v) if v else 0
def runs(k):
    return " ".join("%.0f" % v for v, _ in rows[k])
print()
print("%-12s %7s %11s %12s %9s   %-11s %-11s %10s %10s %9s" % (
    "cipher", "tunnels", "rike Mbit/s", "sSwan Mbit/s", "rike/sSw", "rike CPU", "sSwan CPU",
    "rike /core", "sSw /core", "rike/sSw"))
for c in sys.argv[3:]:
    for t in sys.argv[2].split():
        sk = "strongswan/%s/%s" % (c, t)
        for rk in [k for k in rows if k.startswith("rike") and k.endswith("/%s/%s" % (c, t))]:
            r, s = med(rk), med(sk)
            rc, sc = per_core(rk), per_core(sk)
            print("%-12s %7s %11.0f %12.0f %8.2fx   %-11s %-11s %10.0f %10.0f %8.2fx  %s" % (
                c, t, r, s, r / s if s else 0, cpu(rk), cpu(sk), rc, sc, rc / sc if sc else 0,
                rk.split("/")[0]))
print("%-12s %7s %11.0f   (plain veth, no tunnel)" % ("baseline", "", med("veth")))
print()
print("CPU: of the daemons a/b, % of one core; /core: Mbit/s per core the two daemons used")
print("riked's threads (median % of one core; a = sender side, b = receiver side):")
for k in threads:
    print("  %-26s %s" % (k, " ".join("%s %.0f" % (n, statistics.median(v))
                                       for n, v in sorted(threads[k].items()))))
# CPU seconds per thread during the measurement proper (after the warm-up),
# from /proc/PID/task/TID/stat utime + stime deltas: several tunnels on
# several workers show up as several threads each near the elapsed time.
print("riked's threads during the measurement, CPU seconds (utime+stime) of the elapsed"
      " seconds, each round:")
for line in open(sys.argv[1] + ".measure"):
    f = line.split()
    if f[0].rsplit("/", 1)[1] == "1":
        continue  # one tunnel: one busy worker, nothing to show
    print("  %-26s %.2f s elapsed: %s" % (f[0], int(f[1]) / 100, " ".join(
        "%s %.2f" % (kv.rsplit("=", 1)[0], int(kv.rsplit("=", 1)[1]) / 100)
        for kv in f[2:] if int(kv.rsplit("=", 1)[1]) > 0)))
print("all rounds (Mbit/s):")
for k in rows:
    print("  %-26s %s" % (k, runs(k)))
EOF
