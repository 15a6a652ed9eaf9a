#!/bin/bash
#
# bench/throughput.sh: TCP throughput through one IPsec tunnel, rike against
# strongSwan, on this machine in the same run.
#
#   inner 10.10.1.1/32 (lo)                         inner 10.10.2.1/32 (lo)
#   [ns a] iperf3 -c -- TUN -- daemon == veth 10.77.0.0/24 == daemon -- TUN -- iperf3 -s [ns b]
#
#   rike:       riked <-> riked, userspace ESP (TUN rike0, ESP in UDP 4500)
#   strongSwan: charon <-> charon, kernel-libipsec (TUN ipsec0, ESP in UDP 4500)
#   baseline:   iperf3 over the plain veth (no tunnel, MTU 1500)
#
# For each ESP cipher both tunnels carry one iperf3 TCP stream for $SECS
# seconds after $WARM seconds of warm-up (iperf3 -O, not counted). All
# measurements are repeated $RUNS times, interleaved (round 1 runs every
# setup, then round 2, ...) so that load from other processes hits all of
# them alike; the medians and the ratio rike/strongSwan are printed. Each
# measurement gets fresh namespaces and daemons; also printed is the CPU the
# two daemons used (user+system, in % of one core, over the whole iperf3
# run including warm-up).
#
# Usage:  sudo bash bench/throughput.sh
#         (installs scripts/deps.sh, builds riked into build-bench/)
# Knobs:  SECS=10 WARM=2 RUNS=3 CIPHERS="aes256gcm16 aes128gcm16"
#         RIKE_BIN=DIR  use riked/rikectl from DIR instead of building
# Cleans up everything (lib.sh's EXIT trap): namespaces, daemons, iperf3.

set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD

SECS=${SECS:-10}
WARM=${WARM:-2}
RUNS=${RUNS:-3}
read -r -a CIPHERS <<<"${CIPHERS:-aes256gcm16 aes128gcm16}"
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
IN_A=10.10.1.1
IN_B=10.10.2.1
N=0 # measurements so far (names namespaces and daemons)

# ---------------------------------------------------------------- configs

# rk_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START CIPHER
rk_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "notice"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; };
		connections = ( {
		  name = "bench"; local = "$2"; remote = "$3";
		  local_id = "$6"; remote_id = "$7";
		  auth = { method = "psk"; secret = "$PSK"; };
		  ike_proposals = [ "$IKE_PROPOSAL" ];
		  esp_proposals = [ "$9" ];
		  local_ts = [ "$4" ]; remote_ts = [ "$5" ];
		  start = "$8";
		} );
	EOF
}

# sw_conf LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID CIPHER
sw_conf() {
	cat <<-EOF
		connections {
			bench {
				version = 2
				local_addrs = $1
				remote_addrs = $2
				proposals = $IKE_PROPOSAL
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
						esp_proposals = $7
						start_action = none
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

# ---------------------------------------------------------------- helpers

# The charon debug log at level 2 costs CPU per packet: keep it quiet.
SW_QUIET='filelog { charon { default = 0 } }'

rk_up() {
	local out
	out=$(timeout 5 "$RIKECTL" -s "$(rk_dir "$1")/run/riked.sock" list-sas 2>/dev/null) || return 1
	grep -q ESTABLISHED <<<"$out" && grep -q "reqid [0-9]*, INSTALLED" <<<"$out"
}

# topo: fresh namespaces aN and bN joined by a veth, inner /32s on lo.
topo() {
	N=$((N + 1))
	A=a$N
	B=b$N
	ns_create "$A"
	ns_create "$B"
	link_ns "$A" "$B" "$OUT_A/24" "$OUT_B/24"
	ns_addr "$A" lo "$IN_A/32"
	ns_addr "$B" lo "$IN_B/32"
	ns_exec "$A" ping -c 1 -W 2 "$OUT_B" >/dev/null 2>&1 || rk_fail "veth $A<->$B passes nothing"
}

# CPU time (clock ticks, user + system) of PID and its threads.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
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

listening() {
	ns_exec "$1" ss -Hltn "sport = :5201" | grep -q .
}

# iperf NS_CLIENT NS_SERVER SRC DST PIDS...: one TCP stream from SRC in
# NS_CLIENT to DST in NS_SERVER; sets MBPS (received, Mbit/s) and CPU (the
# CPU use of each of PIDS, in % of one core: "57 93").
iperf() {
	local a=$1 b=$2 src=$3 dst=$4 out p i t_start t_end
	shift 4
	local -a t0=() t1=()
	rk_spawn "ip:$N" "$RK_RUN/iperf-$N.log" ip netns exec "$(ns_name "$b")" \
		iperf3 -s -1 -B "$dst"
	wait_until 5 listening "$b" || rk_fail "iperf3 server did not start"
	for p in "$@"; do t0+=("$(cpu_ticks "$p")"); done
	t_start=$(rk_now_us)
	out=$(ns_exec "$a" timeout $((SECS + WARM + 20)) iperf3 -c "$dst" -B "$src" \
		-t "$SECS" -O "$WARM" -J) || rk_fail "iperf3 $src -> $dst failed"
	t_end=$(rk_now_us)
	for p in "$@"; do t1+=("$(cpu_ticks "$p")"); done
	rk_kill_labels "ip:$N"
	read -r MBPS RETR < <(python3 -c 'import json, sys
e = json.load(sys.stdin)["end"]
print("%.0f %d" % (e["sum_received"]["bits_per_second"] / 1e6, e["sum_sent"]["retransmits"]))' \
		<<<"$out") || rk_fail "cannot read iperf3's JSON"
	DROPS="UDP rcvbuf drops a/b $(udp_drops "$a")/$(udp_drops "$b"), TUN drops a/b $(tun_drops "$a")/$(tun_drops "$b")"
	CPU=""
	for i in "${!t0[@]}"; do
		CPU+="$(((t1[i] - t0[i]) * 100000000 / $(getconf CLK_TCK) / (t_end - t_start))) "
	done
}

# ---------------------------------------------------------------- setups

bench_veth() {
	topo
	iperf "$A" "$B" "$OUT_A" "$OUT_B"
}

bench_rike() {
	local cipher=$1 pa pb
	topo
	rk_start "$B" "r$B" "$(rk_conf "r$B" $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 \
		b.rike.test a.rike.test wait "$cipher")"
	rk_start "$A" "r$A" "$(rk_conf "r$A" $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 \
		a.rike.test b.rike.test start "$cipher")"
	wait_until 15 rk_up "r$A" || rk_fail "rike tunnel ($cipher) did not come up"
	ns_exec "$A" ping -c 1 -W 2 -I "$IN_A" "$IN_B" >/dev/null || rk_fail "no ping through rike"
	pa=$(rk_label_pid "rk:r$A")
	pb=$(rk_label_pid "rk:r$B")
	iperf "$A" "$B" "$IN_A" "$IN_B" "$pa" "$pb"
	rk_stop "$A" "r$A"
	rk_stop "$B" "r$B"
}

bench_sw() {
	local cipher=$1 pa pb
	topo
	sw_start "$A" "s$A" "$SW_QUIET"
	sw_start "$B" "s$B" "$SW_QUIET"
	sw_load "$A" "s$A" "$(sw_conf $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test \
		b.rike.test "$cipher")" || rk_fail "swanctl load"
	sw_load "$B" "s$B" "$(sw_conf $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test \
		a.rike.test "$cipher")" || rk_fail "swanctl load"
	sw_initiate "$A" "s$A" bench bench 15 || rk_fail "strongSwan tunnel ($cipher) did not come up"
	wait_until 10 sw_sa_up "$A" "s$A" bench bench || rk_fail "strongSwan SA not installed"
	ns_exec "$A" ping -c 1 -W 2 -I "$IN_A" "$IN_B" >/dev/null || rk_fail "no ping through charon"
	pa=$(rk_label_pid "sw:s$A")
	pb=$(rk_label_pid "sw:s$B")
	iperf "$A" "$B" "$IN_A" "$IN_B" "$pa" "$pb"
	sw_stop "$A" "s$A"
	sw_stop "$B" "s$B"
}

# ---------------------------------------------------------------- main

RESULTS="$RK_RUN/results"
: >"$RESULTS"
record() { # record SETUP MBPS CPU...
	echo "$*" >>"$RESULTS"
	rk_log "round $r: $1 $2 Mbit/s, $RETR TCP retransmits${3:+, daemon CPU a/b: ${*:3} % of a core}; $DROPS"
}

echo "rike throughput: iperf3, 1 TCP stream, ${SECS} s after ${WARM} s warm-up, $RUNS" \
	"rounds (medians), $(nproc) CPUs, $(uname -r)"
echo "riked: $(rk_bin_dir)/riked; strongSwan: $("$RK_CHARON" --version 2>/dev/null | head -1 ||
	echo charon) with kernel-libipsec"
for ((r = 1; r <= RUNS; r++)); do
	bench_veth
	record veth "$MBPS"
	for c in "${CIPHERS[@]}"; do
		bench_rike "$c"
		# shellcheck disable=SC2086 # CPU is a list
		record "rike/$c" "$MBPS" $CPU
		bench_sw "$c"
		# shellcheck disable=SC2086
		record "strongswan/$c" "$MBPS" $CPU
	done
done

python3 - "$RESULTS" "${CIPHERS[@]}" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append((float(f[1]), f[2:]))
def med(k):
    return statistics.median(v for v, _ in rows[k])
def cpu(k):
    c = [x for _, x in rows[k] if x]
    if not c:
        return ""
    return "/".join("%.0f%%" % statistics.median(float(x[i]) for x in c)
                    for i in range(len(c[0])))
def runs(k):
    return " ".join("%.0f" % v for v, _ in rows[k])
print()
print("%-12s %12s %12s %10s   %-16s %-16s" % ("cipher", "rike Mbit/s", "sSwan Mbit/s",
                                              "rike/sSwan", "rike CPU a/b", "sSwan CPU a/b"))
for c in sys.argv[2:]:
    r, s = med("rike/" + c), med("strongswan/" + c)
    print("%-12s %12.0f %12.0f %9.2fx   %-16s %-16s" % (c, r, s, r / s if s else 0,
                                                      cpu("rike/" + c), cpu("strongswan/" + c)))
print("%-12s %12.0f   (plain veth, no tunnel)" % ("baseline", med("veth")))
print()
print("all rounds (Mbit/s):")
for k in rows:
    print("  %-24s %s" % (k, runs(k)))
EOF
