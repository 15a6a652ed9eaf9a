#!/bin/bash
# bench/setup_rate.sh: how fast a responder sets up IKE SAs with their Child
# SA, what CPU and memory each costs it; riked against strongSwan, with the
# same initiator (rike-load(8)) for every responder, in the same run.
#
#   [ns c] rike-load 10.77.0.1  ==== veth ====  10.77.0.2 responder [ns g]
#
# Responders (CASES, in this order, each started fresh for every size):
#   riked-ike    riked, clients without Child SAs (rike-load --no-child):
#                the IKE engine alone
#   riked        riked, Child SAs installed in the userspace data plane
#   sw-pure      strongSwan 5.9.8 charon whose kernel interface installs
#                nothing (the load-tester plugin's fake_kernel; built from
#                Debian's source package into SW_CACHE on first run)
#   sw-libipsec  Debian's strongSwan 5.9.8 charon with kernel-libipsec
#                (real Child SAs in its userspace data plane)
# Per case and size: SA/s (rike-load's setup rate), responder CPU per SA
# (utime+stime of /proc/PID/stat before and after), memory per SA (VmRSS
# after - before, over the established SAs; for riked also its heap in use
# per SA, rikectl status: the allocator's own count, so the RSS slope minus it
# is holes and free chunks), the initiator's CPU per SA
# (rike-load's user+system time), then ratios riked/strongSwan.
# PROJECT_SIZES adds runs of riked-ike (and sw-pure) at larger sizes for the
# memory projection (RSS at 100,000 and 200,000 SAs, slope to 1,000,000).
#
# Environment: SIZES (default "5000 20000 100000"), CASES, PROJECT_SIZES
# (default none), CONCURRENCY (100), TIME_LIMIT (s per run, 600), RIKE_BIN
# (a build directory; default build/), SW_CACHE, OUT (the report's file;
# default /tmp/rike-setup-rate-DATE.md), PERF (a file prefix: record the
# responder with `perf record -e cpu-clock -g` (PERF_CALLGRAPH="--call-graph dwarf"
# for a libc or libcrypto caller) during each run into
# PERF.CASE-N.data; PERF_INITIATOR=prefix records rike-load the same way),
# RIKE_TUNABLES (GLIBC_TUNABLES for riked and rike-load;
# default glibc.malloc.hugetlb=1 as riked.service sets it; empty: none;
# strongSwan runs as Debian starts it), DH_REUSE (riked's dh_reuse, seconds a
# responder key pair serves IKE_SA_INIT, RFC 7296 2.12; default 0 as riked's;
# strongSwan has no such setting). Needs root (namespaces).
# TRAFFIC=P: in the cases with real Child SAs (riked, sw-libipsec), each
# client then sends P ICMP echoes through its Child SA to 10.0.0.1
# (rike-load --traffic, TRAFFIC_PPS packets per second in all, default
# 5000) and the report adds a table of loss and round trips; the CPU per
# SA then includes that traffic.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
export RIKE_BIN=${RIKE_BIN:-$SRC/build}
source "$SRC/tests/interop/lib.sh"

SIZES=${SIZES:-5000 20000 100000}
CASES=${CASES:-riked-ike riked sw-pure sw-libipsec}
PROJECT_SIZES=${PROJECT_SIZES:-}
CONCURRENCY=${CONCURRENCY:-100}
RIKE_TUNABLES=${RIKE_TUNABLES-glibc.malloc.hugetlb=1}
DH_REUSE=${DH_REUSE:-0}
TIME_LIMIT=${TIME_LIMIT:-600}
TRAFFIC=${TRAFFIC:-}
TRAFFIC_PPS=${TRAFFIC_PPS:-5000}
# Plain text: the load-tester plugin takes its preshared_key literally,
# swanctl and riked would decode a 0x... value.
PSK=bench-setup-rate-key
IKE_PROP=aes128gcm16-prfsha256-x25519
ESP_PROP=aes128gcm16
GW=10.77.0.2
CL=10.77.0.1
DEB_CHARON=$RK_CHARON
DEB_SWANCTL=$RK_SWANCTL

# ---------------------------------------------------------------- strongSwan with load-tester
# Debian's packages lack the load-tester plugin (INTEROP-NOTES.md): build
# 5.9.8 from Debian's own source package into SW_CACHE, once. apt-get uses
# a private sources list there; the system's apt configuration is untouched.
SW_VER=5.9.8
SW_SHA256=d3303a43c0bd7b75a12b64855e8edcb53696f06190364f26d1533bde1f2e453c
SW_CACHE=${SW_CACHE:-/var/cache/rike-bench/strongswan-$SW_VER-load-tester}
SW_PREFIX=$SW_CACHE/prefix

sw_build() {
	local d=$SW_CACHE tarball
	[[ -x $SW_PREFIX/libexec/ipsec/charon && -e $SW_PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so ]] &&
		return 0
	rk_log "building strongSwan $SW_VER with load-tester into $d (once, ~5-15 min)"
	mkdir -p "$d/apt/lists/partial" "$d/src" || return 1
	tarball=$d/src/strongswan_$SW_VER.orig.tar.bz2
	if [[ ! -e $tarball ]]; then
		printf 'deb-src http://deb.debian.org/debian bookworm main\n' >"$d/apt/sources.list"
		local aopt=(-o Dir::Etc::SourceList="$d/apt/sources.list" -o Dir::Etc::SourceParts=-
			-o Dir::State::Lists="$d/apt/lists" -o APT::Sandbox::User=root)
		apt-get "${aopt[@]}" -q update >"$d/apt.log" 2>&1 || return 1
		# Only the upstream tarball is needed (Debian's patches are not).
		(cd "$d/src" && apt-get "${aopt[@]}" -q source --download-only strongswan >>"$d/apt.log" 2>&1)
	fi
	echo "$SW_SHA256  $tarball" | sha256sum -c --quiet - || return 1
	rm -rf "$d/build" && mkdir -p "$d/build" && tar -xjf "$tarball" -C "$d/build" || return 1
	(cd "$d/build/strongswan-$SW_VER" &&
		./configure --prefix="$SW_PREFIX" --sysconfdir="$SW_PREFIX/etc" --with-piddir="$d/run" \
			--enable-load-tester --enable-openssl --enable-swanctl --enable-vici \
			--disable-stroke --disable-gmp --disable-ikev1 --disable-scepclient --disable-pki \
			--disable-charon-cmd --enable-curve25519 &&
		make -j2 && make install) >"$d/build.log" 2>&1
}

# ---------------------------------------------------------------- responders

riked_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "warning"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state";
		          half_open_per_source = 1000000; half_open_cookie_threshold = 1000000;
		          half_open_max = 1000000; qcd = { enabled = false; }; dh_reuse = $DH_REUSE; };
		connections = ( { name = "clients"; local = "$GW"; remote = "%any";
		  local_id = "gw.load.example"; remote_id = "%any";
		  auth = { method = "psk"; secret = "$PSK"; };
		  local_ts = [ "10.0.0.1/32" ]; remote_ts = [ "10.128.0.0/10" ];
		  ike_proposals = [ "$IKE_PROP" ]; esp_proposals = [ "$ESP_PROP" ]; } );
	EOF
}

sw_conf() {
	cat <<-EOF
		connections {
		  clients {
		    version = 2
		    local_addrs = $GW
		    proposals = $IKE_PROP
		    local { auth = psk
		            id = gw.load.example }
		    remote { auth = psk }
		    children {
		      c { local_ts = 10.0.0.1/32
		          remote_ts = 10.128.0.0/10
		          esp_proposals = $ESP_PROP }
		    }
		  }
		}
		secrets { ike-all { secret = $PSK } }
	EOF
}

# Tuned for many clients (INTEROP-NOTES.md), logging off.
SW_TUNING="ikesa_table_size = 4096
	ikesa_table_segments = 16
	block_threshold = 1000000
	cookie_threshold = 1000000
	init_limit_half_open = 0"

# start_responder CASE NAME (in this shell: lib.sh records the PID);
# RESP_PID is the responder's PID afterwards.
start_responder() {
	case $1 in
	riked | riked-ike)
		GLIBC_TUNABLES=$RIKE_TUNABLES rk_start g "$2" "$(riked_conf "$2")"
		RESP_PID=$(rk_label_pid "rk:$2")
		;;
	sw-pure | sw-libipsec)
		if [[ $1 == sw-pure ]]; then
			# Its pid file and load-tester socket live in $SW_CACHE/run
			# (--with-piddir), not under the per-instance /run: one such
			# charon at a time, which this script keeps to.
			mkdir -p "$SW_CACHE/run" && rm -f "$SW_CACHE/run/charon.pid"
			RK_CHARON=$SW_PREFIX/libexec/ipsec/charon RK_SWANCTL=$SW_PREFIX/sbin/swanctl
			RK_SW_PLUGINS="random nonce openssl pem pkcs1 x509 pubkey kdf curve25519 load-tester kernel-netlink socket-default vici"
			RK_SW_LOGLEVEL=${SW_LOGLEVEL:--1} sw_start g "$2" "$SW_TUNING
	plugins { load-tester { enable = yes
		initiators = 0
		fake_kernel = yes
		preshared_key = $PSK
		initiator_id = nobody@nowhere.invalid
		responder_id = nobody.invalid } }"
		else
			RK_CHARON=$DEB_CHARON RK_SWANCTL=$DEB_SWANCTL
			RK_SW_PLUGINS="random nonce openssl pem pkcs1 x509 pubkey kdf curve25519 kernel-libipsec kernel-netlink socket-default vici"
			RK_SW_LOGLEVEL=${SW_LOGLEVEL:--1} sw_start g "$2" "$SW_TUNING"
		fi
		sw_load g "$2" "$(sw_conf)" || rk_fail "swanctl load for $2"
		RESP_PID=$(rk_label_pid "sw:$2")
		;;
	esac
}

stop_responder() {
	case $1 in
	riked*) rk_stop g "$2" ;;
	sw-*) sw_stop g "$2" ;;
	esac
}

# The process's CPU (utime+stime, clock ticks) and RSS (KiB). charon's
# children would not count, but it has none; both are single processes.
proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
proc_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# riked's heap in use in octets (rikectl status: the allocator's own count,
# mallinfo2), or "-" for strongSwan.
ctl_heap() {
	[[ $1 == riked* ]] || { echo -; return; }
	rk_ctl "$2" status --json | python3 -c 'import json, sys
print(json.load(sys.stdin)["result"]["memory"]["heap_in_use"])' 2>/dev/null || echo -
}

# run_one CASE N: one fresh responder, N clients; appends a result line
# "case n established failed rate cpu_ms_per_sa kb_per_sa rss_kb secs
# initiator_cpu heap_b_per_sa reasons".
run_one() {
	local case=$1 n=$2 name pid cpu0 rss0 cpu1 rss1 heap0 heap1 extra=() json tick
	name=$case-$n
	start_responder "$case" "$name"
	pid=$RESP_PID
	[[ -n $pid ]] && rk_pid_alive "$pid" || rk_fail "cannot start $case"
	sleep 1
	cpu0=$(proc_cpu "$pid")
	rss0=$(proc_rss "$pid")
	heap0=$(ctl_heap "$case" "$name")
	[[ $case == riked-ike ]] && extra=(--no-child)
	[[ -n $TRAFFIC && ($case == riked || $case == sw-libipsec) ]] &&
		extra=(--traffic --traffic-dst 10.0.0.1 --packets "$TRAFFIC" --packet-rate "$TRAFFIC_PPS")
	rk_log "$case: $n clients"
	local perf_pid=
	if [[ -n ${PERF:-} ]]; then
		perf record -q -e cpu-clock ${PERF_CALLGRAPH:--g} -p "$pid" -o "$PERF.$name.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	# --no-delete: the responder keeps its SAs for the RSS reading and is
	# stopped afterwards; time-bounded by --time-limit and timeout(1).
	# The subshell's `times` (its children's user and system time, the
	# second line) is the initiator's CPU: on 2 cores the rate is bounded
	# by the responder's and the initiator's CPU per SA together.
	(
		GLIBC_TUNABLES=$RIKE_TUNABLES timeout $((TIME_LIMIT + 120)) ip netns exec "$(ns_name c)" "$RIKE_BIN/rike-load" \
			--remote $GW --local $CL --psk "$PSK" --remote-id gw.load.example \
			--ike $IKE_PROP --esp $ESP_PROP --count "$n" --concurrency "$CONCURRENCY" \
			--timeout 60 --time-limit "$TIME_LIMIT" --no-delete --json "${extra[@]}" \
			>"$RK_RUN/$name.json" 2>"$RK_RUN/$name.err"
		times >"$RK_RUN/$name.times"
	) &
	local load_pid=$! iperf=
	if [[ -n ${PERF_INITIATOR:-} ]]; then
		sleep 0.3
		local lp
		lp=$(pgrep -n -x rike-load) &&
			perf record -q -e cpu-clock ${PERF_CALLGRAPH:--g} -p "$lp" -o "$PERF_INITIATOR.$name.data" >/dev/null 2>&1 &
		iperf=$!
	fi
	wait "$load_pid"
	[[ -n $iperf ]] && { kill -INT "$iperf" 2>/dev/null; wait "$iperf" 2>/dev/null; }
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" 2>/dev/null
		wait "$perf_pid" 2>/dev/null
	fi
	sleep 1
	cpu1=$(proc_cpu "$pid")
	rss1=$(proc_rss "$pid")
	heap1=$(ctl_heap "$case" "$name")
	tick=$(getconf CLK_TCK)
	json=$(cat "$RK_RUN/$name.json")
	[[ -n $json ]] || json='{"established":0,"failed":0,"setup_rate":0,"setup_secs":0,"failures":{}}'
	python3 - "$case" "$n" "$cpu0" "$cpu1" "$rss0" "$rss1" "$tick" "$json" "$RK_RUN/$name.times" "$heap0" "$heap1" <<-'PY' >>"$RK_RUN/results"
		import json, re, sys
		case, n, c0, c1, r0, r1, tick = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:8])
		r = json.loads(sys.argv[8])
		est = r["established"]
		cpu = (c1 - c0) * 1000.0 / tick / est if est else 0
		mem = (r1 - r0) * 1024.0 / est / 1000 if est else 0
		try:  # "0m1.234s 0m0.567s": the children's line of `times`
		    t = open(sys.argv[9]).read().split("\n")[1].split()
		    secs = sum(int(m) * 60 + float(s) for m, s in (re.match(r"(\d+)m([\d.]+)s", x).groups() for x in t))
		    icpu = "%.3f" % (secs * 1000.0 / est) if est else "0"
		except (OSError, IndexError, AttributeError):
		    icpu = "?"
		reasons = ";".join("%s=%d" % (k.replace(" ", "_"), v) for k, v in r["failures"].items()) or "-"
		h0, h1 = sys.argv[10:12]
		heap = "%.0f" % ((int(h1) - int(h0)) / est) if est and "-" not in (h0, h1) else "-"
		print(case, n, est, r["failed"], "%.0f" % r["setup_rate"], "%.3f" % cpu, "%.1f" % mem,
		      r1, "%.1f" % r["setup_secs"], icpu, heap, reasons)
	PY
	tail -1 "$RK_RUN/results" >&2
	if [[ ${extra[0]:-} == --traffic ]]; then
		python3 - "$case" "$n" "$json" <<-'PY' >>"$RK_RUN/traffic"
			import json, sys
			e = json.loads(sys.argv[3]).get("esp")
			if e:
			    fails = ";".join("%s=%d" % kv for kv in e["failures"].items() if kv[1]) or "-"
			    print(sys.argv[1], sys.argv[2], e["clients"], e["clients_all_replies"], e["sent"],
			          e["received"], e["lost"], "%.0f" % e["pps"], "%.3f" % e["rtt_ms"]["p50"],
			          "%.3f" % e["rtt_ms"]["p99"], "%.3f" % e["rtt_ms"]["max"], fails)
		PY
		tail -1 "$RK_RUN/traffic" >&2
	fi
	stop_responder "$case" "$name"
}

# ---------------------------------------------------------------- report

report() {
	python3 - "$RK_RUN/results" <<-'PY'
		import sys
		rows = [l.split(None, 11) for l in open(sys.argv[1]) if l.strip()]
		res = {(r[0], int(r[1])): r for r in rows}
		print("\n| responder | SAs | established | failed | SA/s | CPU ms/SA | KB/SA | RSS KiB | setup s | initiator CPU ms/SA | heap B/SA | failures |")
		print("|---|---|---|---|---|---|---|---|---|---|---|---|")
		for r in rows:
		    print("| " + " | ".join(x.strip() for x in r) + " |")
		sizes = sorted({int(r[1]) for r in rows})
		print("\nRatios riked/strongSwan (rate: higher is better for riked; CPU and memory: lower is):")
		for n in sizes:
		    for rk in ("riked", "riked-ike"):
		        for sw in ("sw-pure", "sw-libipsec"):
		            a, b = res.get((rk, n)), res.get((sw, n))
		            if not a or not b:
		                continue
		            # A run where more than 1% of the clients failed measured
		            # something else than setting SAs up: no ratio from it.
		            bad = [r[0] for r in (a, b) if int(r[2]) < 0.99 * n]
		            if bad:
		                print("  %6d  %-9s / %-11s  no ratio: %s failed (see its row)" % (n, rk, sw, " and ".join(bad)))
		                continue
		            f = lambda i: "%.2fx" % (float(a[i]) / float(b[i])) if float(b[i]) else "-"
		            print("  %6d  %-9s / %-11s  rate %s  cpu %s  mem %s" % (n, rk, sw, f(4), f(5), f(6)))
		ike = sorted((n, int(r[7])) for (c, n), r in res.items() if c == "riked-ike")
		if len(ike) >= 2:
		    (n1, m1), (n2, m2) = ike[-2], ike[-1]
		    slope = (m2 - m1) / (n2 - n1)
		    print("\nMemory projection, riked IKE SAs (no Child SA): RSS %d KiB at %d, %d KiB at %d;"
		          " slope %.2f KB/SA; 1,000,000 SAs: ~%.0f MiB" %
		          (m1, n1, m2, n2, slope * 1.024, (m2 + slope * (1000000 - n2)) / 1024))
	PY
	[[ -s $RK_RUN/traffic ]] || return 0
	echo
	echo "Traffic (rike-load --traffic, $TRAFFIC echoes per client, $TRAFFIC_PPS/s in all):"
	echo
	echo "| responder | SAs | clients | all replies | sent | received | lost | packets/s | RTT p50 ms | p99 | max | failures |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	sed 's/ / | /g; s/^/| /; s/$/ |/' "$RK_RUN/traffic"
}

# ---------------------------------------------------------------- main

skip_unless_root
rk_need
need_cmd python3 awk
[[ -x $RIKE_BIN/rike-load ]] || rk_fail "rike-load not built in $RIKE_BIN"
if [[ " $CASES " == *" sw-pure "* ]]; then
	sw_build || rk_fail "strongSwan with load-tester did not build (see $SW_CACHE/*.log)"
fi
ns_create c
ns_create g
link_ns c g $CL/24 $GW/24
# The gateway's inner address (its TS), which charon's routes use as source.
ns_exec g ip addr add 10.0.0.1/32 dev lo || rk_fail "inner address"
# Many datagrams in flight: larger socket buffers than the defaults.
ns_exec g sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 || true
: >"$RK_RUN/results"
: >"$RK_RUN/traffic"
rk_log "sizes: $SIZES; cases: $CASES; concurrency $CONCURRENCY; time limit ${TIME_LIMIT}s per run; riked dh_reuse $DH_REUSE"
for n in $SIZES; do
	for c in $CASES; do
		run_one "$c" "$n"
	done
done
for n in $PROJECT_SIZES; do
	for c in riked-ike sw-pure; do
		[[ " $CASES " == *" $c "* ]] && run_one "$c" "$n"
	done
done
OUT=${OUT:-/tmp/rike-setup-rate-$(date +%Y%m%d-%H%M%S).md}
report | tee "$OUT"
rk_pass "report in $OUT"
