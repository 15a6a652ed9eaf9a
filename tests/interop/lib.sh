# shellcheck shell=bash
#
# tests/interop/lib.sh: the network-namespace harness for interop tests.
#
# Sourced by tests/interop/test_*.sh. It owns everything a test creates:
# network namespaces, veth pairs, charon (strongSwan) and riked instances,
# tshark captures and the run directory that holds their configs and logs.
# All names carry a per-run prefix (rk<pid>), so parallel runs and leftovers
# of killed runs never collide. An EXIT trap stops every recorded process by
# PID, deletes every namespace and, on failure, dumps the logs.
# See tests/interop/README.md for the API and the gotchas found on the way.
#
# Conventions: functions return 0/1 and log what went wrong; rk_fail logs and
# exits 1; rk_skip exits 77 (CTest "skipped"). Every wait is bounded.

[[ -n ${RK_LIB_LOADED:-} ]] && return 0
RK_LIB_LOADED=1

RK_PREFIX=${RK_PREFIX:-rk$$}
RK_CHARON=${RK_CHARON:-/usr/lib/ipsec/charon}
RK_SWANCTL=${RK_SWANCTL:-swanctl}
# The load list from INTEROP-NOTES.md: kernel-libipsec must precede kernel-netlink.
RK_SW_PLUGINS=${RK_SW_PLUGINS:-random nonce openssl pem pkcs1 x509 revocation constraints pubkey kdf curve25519 kernel-libipsec kernel-netlink socket-default vici updown}
RK_CAPTURE_FILTER=${RK_CAPTURE_FILTER:-udp port 500 or udp port 4500 or esp}
RK_DUMP_LINES=${RK_DUMP_LINES:-400}

declare -A RK_NSMAP=()  # logical namespace name -> real name (rk<pid>_<name>)
RK_NSLIST=()            # logical names, creation order
declare -A RK_PID=()    # label (sw:NAME, rk:NAME, ts:FILE) -> pid
RK_LABELS=()            # labels, start order
RK_VETHS=()             # "realns ifname" of every veth end we created
RK_LOGS=()              # logs dumped on failure
RK_EXIT_HOOKS=()        # commands run first by the cleanup (tests may append)
RK_T0=${EPOCHREALTIME//[^0-9]/}

RK_RUN=$(mktemp -d "${TMPDIR:-/tmp}/${RK_PREFIX}.XXXXXX") || {
	echo "lib.sh: cannot create run directory" >&2
	exit 1
}
chmod 755 "$RK_RUN"
mkdir -p "$RK_RUN/home"

# ---------------------------------------------------------------- logging

# Microseconds since the epoch, without forking.
rk_now_us() {
	echo "${EPOCHREALTIME//[^0-9]/}"
}

rk_log() {
	local now=${EPOCHREALTIME//[^0-9]/}
	local rel=$(((now - RK_T0) / 1000))
	printf '[%s +%d.%03ds] %s\n' "$(date +%T.%3N)" $((rel / 1000)) $((rel % 1000)) "$*" >&2
}

# Also from a subshell, such as $(...): it then signals the test's shell,
# whose USR1 trap exits 1, so a failure can never be swallowed.
rk_fail() {
	rk_log "FAIL: $*"
	[[ $BASHPID == "$$" ]] || kill -USR1 "$$"
	exit 1
}

rk_skip() {
	rk_log "SKIP: $*"
	exit 77
}

rk_pass() {
	rk_log "PASS${1:+: $*}"
	exit 0
}

# "3" or "1.5" seconds -> milliseconds
rk_ms() {
	local s=$1 int frac
	int=${s%%.*}
	frac=000
	[[ $s == *.* ]] && frac="${s#*.}000"
	echo $((10#${int:-0} * 1000 + 10#${frac:0:3}))
}

# Dump the tail of every recorded log to stderr (called on failure).
rk_dump_logs() {
	local f
	for f in "${RK_LOGS[@]}"; do
		[[ -s $f ]] || continue
		echo "======== $f (last $RK_DUMP_LINES lines) ========" >&2
		tail -n "$RK_DUMP_LINES" "$f" >&2
	done
	echo "======== end of logs ========" >&2
}

# ---------------------------------------------------------------- preconditions

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || rk_skip "command '$c' not found"
	done
}

# Exit 77 unless we are root and can create network namespaces.
skip_unless_root() {
	[[ $(id -u) == 0 ]] || rk_skip "needs root (network namespaces)"
	need_cmd ip nft
	local probe="${RK_PREFIX}_probe"
	ip netns add "$probe" >/dev/null 2>&1 || rk_skip "ip netns is unavailable"
	ip netns del "$probe" >/dev/null 2>&1 || true
	rk_reap_stale
}

# Exit 77 unless strongSwan with kernel-libipsec can run here.
sw_need() {
	need_cmd "$RK_SWANCTL" unshare
	[[ -x $RK_CHARON ]] || rk_skip "$RK_CHARON not installed"
	[[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]] ||
		rk_skip "strongSwan kernel-libipsec plugin not installed"
	[[ -c /dev/net/tun ]] || rk_skip "/dev/net/tun missing (kernel-libipsec needs TUN)"
}

# ---------------------------------------------------------------- polling

# wait_until TIMEOUT_S cmd... : run cmd every 0.1 s until it succeeds or
# TIMEOUT_S (may be fractional) has passed. cmd must not block; its output
# is discarded. Bounded both by a deadline and by an iteration count.
wait_until() {
	local ms deadline max i
	ms=$(rk_ms "$1")
	shift
	deadline=$(($(rk_now_us) + ms * 1000))
	max=$((ms / 100 + 2))
	for ((i = 0; i < max; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		(($(rk_now_us) >= deadline)) && break
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- processes

# True while PID exists and is not a zombie (a killed charon can stay a
# zombie for a while; kill -0 succeeds on zombies).
rk_pid_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# rk_spawn LABEL LOGFILE cmd... : start cmd in the background, output to
# LOGFILE, and record its PID under LABEL. The PID is the command's own
# (ip netns exec, unshare and sh -c 'exec' all exec in place).
rk_spawn() {
	local label=$1 logf=$2
	shift 2
	[[ -z ${RK_PID[$label]:-} ]] || rk_fail "process '$label' already running"
	"$@" </dev/null >"$logf" 2>&1 &
	RK_PID[$label]=$!
	RK_LABELS+=("$label")
	RK_LOGS+=("$logf")
}

rk_label_pid() {
	echo "${RK_PID[$1]:-}"
}

# Stop the processes recorded under the given labels: SIGTERM (or $RK_SIG),
# up to 5 s grace, then SIGKILL, then reap. Never by name.
rk_kill_labels() {
	local label pid left i
	local -a pids=()
	for label in "$@"; do
		pid=${RK_PID[$label]:-}
		[[ -n $pid ]] || continue
		pids+=("$pid")
		kill "-${RK_SIG:-TERM}" "$pid" 2>/dev/null || true
		unset "RK_PID[$label]"
	done
	for ((i = 0; i < 50; i++)); do
		left=0
		for pid in "${pids[@]}"; do
			rk_pid_alive "$pid" && left=1
		done
		((left)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if rk_pid_alive "$pid"; then
			rk_log "pid $pid ignored SIGTERM for 5 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 30; i++)); do
			rk_pid_alive "$pid" || break
			sleep 0.1
		done
		wait "$pid" 2>/dev/null || true # reap our child (clears the zombie)
	done
	return 0
}

# ---------------------------------------------------------------- namespaces

# Real name of a logical namespace.
ns_name() {
	local n=${RK_NSMAP[$1]:-}
	[[ -n $n ]] || rk_fail "unknown namespace '$1'"
	echo "$n"
}

# ns_create NAME: a fresh namespace rk<pid>_NAME with lo up and IPv6 DAD off.
ns_create() {
	local name=$1 ns="${RK_PREFIX}_$1"
	[[ -z ${RK_NSMAP[$name]:-} ]] || rk_fail "namespace '$name' exists"
	ip netns add "$ns" || rk_fail "ip netns add $ns"
	RK_NSMAP[$name]=$ns
	RK_NSLIST+=("$name")
	ip -n "$ns" link set lo up || rk_fail "lo up in $ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 >/dev/null 2>&1 || true
	return 0
}

# ns_exec NAME cmd... (cmd must be a program, not a shell function)
ns_exec() {
	local ns
	ns=$(ns_name "$1") || exit 1
	shift
	ip netns exec "$ns" "$@"
}

# ns_addr NAME IFACE ADDR: add ADDR; without a prefix length, IPv4 gets /24
# and IPv6 /64. IPv6 addresses are added nodad (usable at once).
ns_addr() {
	local ns addr=$3 extra=()
	ns=$(ns_name "$1") || exit 1
	if [[ $addr == *:* ]]; then
		[[ $addr == */* ]] || addr="$addr/64"
		extra=(nodad)
	else
		[[ $addr == */* ]] || addr="$addr/24"
	fi
	ip -n "$ns" addr add "$addr" dev "$2" "${extra[@]}" || rk_fail "addr $addr on $2 in $1"
}

# link_ns A B ADDR_A ADDR_B: a veth pair, "to_B" in A and "to_A" in B (so
# logical names may be at most 12 characters). An empty ADDR adds none.
link_ns() {
	local a=$1 b=$2 nsa nsb
	nsa=$(ns_name "$a") || exit 1
	nsb=$(ns_name "$b") || exit 1
	((${#a} <= 12 && ${#b} <= 12)) || rk_fail "namespace names too long for veth names"
	ip link add "to_$b" netns "$nsa" type veth peer name "to_$a" netns "$nsb" ||
		rk_fail "veth $a<->$b"
	RK_VETHS+=("$nsa to_$b" "$nsb to_$a")
	[[ -z ${3:-} ]] || ns_addr "$a" "to_$b" "$3"
	[[ -z ${4:-} ]] || ns_addr "$b" "to_$a" "$4"
	ip -n "$nsa" link set "to_$b" up || rk_fail "link up"
	ip -n "$nsb" link set "to_$a" up || rk_fail "link up"
}

# nat_middle A M B [A_ADDR M_A_ADDR M_B_ADDR B_ADDR]
#
#   A (A_ADDR) ---- (M_A_ADDR) M (M_B_ADDR) ---- (B_ADDR) B
#                              masquerade
#
# Creates missing namespaces, links them, routes A's default via M and has M
# masquerade everything leaving towards B (nftables "inet", so IPv4 or IPv6).
# B has no route to A's subnet: it sees only M_B_ADDR.
# Defaults: 192.168.77.2, 192.168.77.1, 10.78.0.1, 10.78.0.2.
# Masquerade keeps source ports when it can (500 stays 500); set
# RK_NAT_PORTS=LO-HI (e.g. 20000-30000) to map UDP to that range instead,
# as real NATs do.
nat_middle() {
	local a=$1 m=$2 b=$3 n fam=-4 udp_rule=""
	local a_addr=${4:-192.168.77.2} ma_addr=${5:-192.168.77.1}
	local mb_addr=${6:-10.78.0.1} b_addr=${7:-10.78.0.2}
	for n in "$a" "$m" "$b"; do
		[[ -n ${RK_NSMAP[$n]:-} ]] || ns_create "$n"
	done
	link_ns "$a" "$m" "$a_addr" "$ma_addr"
	link_ns "$m" "$b" "$mb_addr" "$b_addr"
	[[ $ma_addr == *:* ]] && fam=-6
	ip -n "$(ns_name "$a")" "$fam" route add default via "${ma_addr%/*}" ||
		rk_fail "default route in $a"
	ns_exec "$m" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null ||
		rk_fail "forwarding in $m"
	[[ -z ${RK_NAT_PORTS:-} ]] ||
		udp_rule="oifname \"to_$b\" meta l4proto udp masquerade to :$RK_NAT_PORTS"
	ns_exec "$m" nft -f - <<-EOF || rk_fail "nft masquerade in $m"
		table inet rk_nat {
			chain post {
				type nat hook postrouting priority srcnat; policy accept;
				$udp_rule
				oifname "to_$b" masquerade
			}
		}
	EOF
}

# Delete namespaces of earlier runs whose test shell is gone (for example
# after a CTest timeout killed it): kill their processes by PID, then delete.
rk_reap_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^rk([0-9]+)_ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ $pid == "$$" || -e /proc/$pid ]] && continue
		rk_log "removing stale namespace $ns (run $pid is gone)"
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	return 0
}

# ---------------------------------------------------------------- strongSwan

sw_dir() {
	echo "$RK_RUN/sw-$1"
}

# Run swanctl against instance NAME (vici socket in its run directory).
# Bounded by timeout(1); swanctl itself needs no namespace.
sw_swanctl() {
	local dir
	dir=$(sw_dir "$1")
	shift
	STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" \
		timeout "${RK_SWANCTL_TIMEOUT:-30}" "$RK_SWANCTL" "$@"
}

sw_write_conf() {
	local dir=$1 more=$2
	cat >"$dir/strongswan.conf" <<-EOF
		charon {
			load_modular = no
			load = $RK_SW_PLUGINS
			plugins {
				vici {
					socket = unix://$dir/charon.vici
				}
			}
			filelog {
				charon {
					path = $dir/charon.log
					time_format = %T
					time_add_ms = yes
					ike_name = yes
					append = no
					flush_line = yes
					default = ${RK_SW_LOGLEVEL:-2}
				}
			}
			syslog {
				daemon {
					default = -1
				}
			}
			$more
		}
		swanctl {
			socket = unix://$dir/charon.vici
		}
	EOF
}

# sw_start NS NAME [EXTRA]: start charon NAME in namespace NS. EXTRA is
# inserted verbatim into the charon { } section of its strongswan.conf
# (e.g. "ikesa_table_size = 4096"). /run is a private bind mount of
# $dir/run (charon's pid file path is compiled in). Waits up to 10 s for
# the vici socket to answer.
sw_start() {
	local ns dir pid
	ns=$(ns_name "$1") || exit 1
	dir=$(sw_dir "$2")
	mkdir -p "$dir/run" "$dir/swanctl" || rk_fail "mkdir $dir"
	sw_write_conf "$dir" "${3:-}"
	RK_LOGS+=("$dir/charon.log")
	# shellcheck disable=SC2016 # $1/$2 are sh -c's arguments
	STRONGSWAN_CONF="$dir/strongswan.conf" rk_spawn "sw:$2" "$dir/charon.out" \
		ip netns exec "$ns" unshare -m sh -c 'mount --bind "$1" /run && exec "$2"' \
		sh "$dir/run" "$RK_CHARON"
	pid=$(rk_label_pid "sw:$2")
	wait_until 10 sw_ready "$2" "$pid" || true
	rk_pid_alive "$pid" || rk_fail "charon $2 died at startup (see $dir/charon.out)"
	sw_swanctl "$2" --stats >/dev/null 2>&1 || rk_fail "charon $2: vici not answering after 10 s"
	rk_log "charon $2 up in $1 (pid $pid)"
}

# Ready, or dead (so wait_until stops early; sw_start checks which).
sw_ready() {
	rk_pid_alive "$2" || return 0
	sw_swanctl "$1" --stats
}

# sw_load NS NAME TEXT: write TEXT as NAME's swanctl.conf and load it.
sw_load() {
	local dir
	dir=$(sw_dir "$2")
	printf '%s\n' "$3" >"$dir/swanctl/swanctl.conf"
	sw_swanctl "$2" --load-all --noprompt --file "$dir/swanctl/swanctl.conf" \
		>>"$dir/swanctl.out" 2>&1 || {
		cat "$dir/swanctl.out" >&2
		rk_log "swanctl --load-all failed for $2"
		return 1
	}
	rk_log "charon $2: loaded swanctl.conf"
}

# sw_initiate NS NAME CHILD [IKE] [TIMEOUT_S]: initiate CHILD (and its IKE
# SA); returns swanctl's status. Output goes to $dir/swanctl.out.
sw_initiate() {
	local dir timeout=${5:-15} ike=()
	dir=$(sw_dir "$2")
	[[ -z ${4:-} ]] || ike=(--ike "$4")
	rk_log "charon $2: initiate $3"
	RK_SWANCTL_TIMEOUT=$((timeout + 5)) sw_swanctl "$2" --initiate --child "$3" "${ike[@]}" \
		--timeout "$timeout" >>"$dir/swanctl.out" 2>&1
}

# sw_list_sas NS NAME [swanctl options]: print swanctl --list-sas.
sw_list_sas() {
	local name=$2
	shift 2
	sw_swanctl "$name" --list-sas "$@"
}

# sw_sa_up NS NAME IKE CHILD: true when IKE is ESTABLISHED and CHILD INSTALLED.
sw_sa_up() {
	local out
	out=$(sw_list_sas "$1" "$2" --ike "$3" 2>/dev/null) || return 1
	grep -Eq "^$3: #[0-9]+, ESTABLISHED" <<<"$out" &&
		grep -Eq "^ +$4: #[0-9]+, reqid [0-9]+, INSTALLED" <<<"$out"
}

# sw_log NAME: path of charon NAME's debug log (for grep).
sw_log() {
	echo "$(sw_dir "$1")/charon.log"
}

# sw_stop NS NAME
sw_stop() {
	rk_kill_labels "sw:$2"
	rk_log "charon $2 stopped"
}

# ---------------------------------------------------------------- riked

rk_bin_dir() {
	echo "${RIKE_BIN:-${RIKE_BUILD:-}}"
}

# The riked command line, kept in one place: rk_riked_argv CONFIG_FILE
# sets RK_RIKED_ARGV. $RIKED_WRAPPER (e.g. "valgrind -q") is prepended.
rk_riked_argv() {
	local -a wrap=()
	read -r -a wrap <<<"${RIKED_WRAPPER:-}"
	RK_RIKED_ARGV=("${wrap[@]}" "$(rk_bin_dir)/riked" -f -c "$1")
}

rk_need() {
	[[ -x $(rk_bin_dir)/riked ]] || rk_skip "riked not built (RIKE_BIN=$(rk_bin_dir))"
}

rk_dir() {
	echo "$RK_RUN/rk-$1"
}

# rk_start NS NAME CONFIG_TEXT: write the config to $dir/riked.conf and
# start riked in NS (private /run = $dir/run, like charon), output to
# $dir/riked.log. Fails if it exits within 0.3 s.
rk_start() {
	local ns dir pid
	ns=$(ns_name "$1") || exit 1
	dir=$(rk_dir "$2")
	mkdir -p "$dir/run" || rk_fail "mkdir $dir"
	printf '%s\n' "$3" >"$dir/riked.conf"
	# It holds PSKs: riked warns about a config others may read.
	chmod 600 "$dir/riked.conf"
	rk_riked_argv "$dir/riked.conf"
	# shellcheck disable=SC2016 # $1/$@ are sh -c's arguments
	rk_spawn "rk:$2" "$dir/riked.log" ip netns exec "$ns" unshare -m \
		sh -c 'd=$1; shift; mount --bind "$d" /run && exec "$@"' sh "$dir/run" \
		"${RK_RIKED_ARGV[@]}"
	pid=$(rk_label_pid "rk:$2")
	sleep 0.3
	rk_pid_alive "$pid" || rk_fail "riked $2 exited at startup (see $dir/riked.log)"
	rk_log "riked $2 up in $1 (pid $pid)"
}

# rk_log_file NAME: path of riked NAME's output (stdout and stderr).
rk_log_file() {
	echo "$(rk_dir "$1")/riked.log"
}

# rk_stop NS NAME
rk_stop() {
	rk_kill_labels "rk:$2"
	rk_log "riked $2 stopped"
}

# ---------------------------------------------------------------- tshark

# tshark_start NS IFACE FILE [FILTER]: capture on IFACE in namespace NS to
# FILE (relative names go into the run directory). The capture filter
# defaults to $RK_CAPTURE_FILTER; pass "" as FILTER for everything.
# Returns once dumpcap has opened the capture (bounded, 30 s: tshark loads its
# dissectors slowly on a busy machine): tshark's
# "Capturing on" comes earlier, before packets are seen; "Capture started"
# (its File: message) comes after.
tshark_start() {
	local ns file=$3 filter=("-f" "${4-$RK_CAPTURE_FILTER}")
	ns=$(ns_name "$1") || exit 1
	[[ $file == */* ]] || file="$RK_RUN/$file"
	[[ -n ${4-$RK_CAPTURE_FILTER} ]] || filter=()
	HOME="$RK_RUN/home" rk_spawn "ts:$file" "$file.log" \
		ip netns exec "$ns" tshark -n -q -i "$2" "${filter[@]}" -w "$file"
	wait_until 30 grep -q "Capturing on" "$file.log" ||
		rk_fail "tshark on $1/$2 did not start (see $file.log)"
	if ! wait_until 3 grep -q "Capture started" "$file.log"; then
		rk_log "tshark printed no 'Capture started'; waiting 0.5 s instead"
		sleep 0.5
	fi
	rk_log "tshark capturing on $1/$2 -> $file"
}

# Wait (at most 5 s) until FILE has not grown for RK_CAPTURE_QUIET_MS
# (default 800). dumpcap gets packets from the kernel in blocks that are
# handed over only after a read timeout, and packets of an unfinished block
# are lost when capture stops: stopping right after the last packet loses it.
tshark_settle() {
	local file=$1 quiet=$((${RK_CAPTURE_QUIET_MS:-800} / 100)) last=-1 size same=0 i
	for ((i = 0; i < 50 && same < quiet; i++)); do
		size=$(stat -c %s "$file" 2>/dev/null || echo 0)
		if [[ $size == "$last" ]]; then
			same=$((same + 1))
		else
			same=0
			last=$size
		fi
		sleep 0.1
	done
}

# tshark_stop [FILE]: stop one capture, or all of them, after they have
# settled (tshark_settle). SIGINT lets tshark finish writing the file.
tshark_stop() {
	local l labels=()
	if [[ -n ${1:-} ]]; then
		l=$1
		[[ $l == */* ]] || l="$RK_RUN/$l"
		labels=("ts:$l")
	else
		for l in "${!RK_PID[@]}"; do
			[[ $l == ts:* ]] && labels+=("$l")
		done
	fi
	for l in "${labels[@]}"; do
		tshark_settle "${l#ts:}"
	done
	RK_SIG=INT rk_kill_labels "${labels[@]}"
}

# tshark_read FILE tshark-options...: read a capture (empty profile).
# tshark's complaints go to $RK_RUN/tshark-read.err; returns its status.
tshark_read() {
	local file=$1
	shift
	[[ $file == */* ]] || file="$RK_RUN/$file"
	HOME="$RK_RUN/home" timeout 60 tshark -n -r "$file" "$@" 2>"$RK_RUN/tshark-read.err"
}

# tshark_count FILE DISPLAY_FILTER: number of matching frames. A bad
# filter or unreadable file fails the test (never a silent 0).
tshark_count() {
	local out
	out=$(tshark_read "$1" -Y "$2" -T fields -e frame.number) || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $1 -Y '$2' failed"
	}
	[[ -n $out ]] || {
		echo 0
		return 0
	}
	grep -c . <<<"$out"
}

# ---------------------------------------------------------------- cleanup

rk_cleanup() {
	local rc=$? h name ns v p
	trap - EXIT INT TERM USR1
	set +e
	for h in "${RK_EXIT_HOOKS[@]}"; do
		eval "$h"
	done
	if ((rc != 0 && rc != 77)); then
		rk_log "test failed (status $rc); logs follow"
		rk_dump_logs
	fi
	rk_kill_labels "${RK_LABELS[@]}"
	for name in "${RK_NSLIST[@]}"; do
		ns=${RK_NSMAP[$name]}
		# Anything still inside (tshark's dumpcap, updown scripts) was
		# started by this run: kill it by PID.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for v in "${RK_VETHS[@]}"; do
		ip -n "${v% *}" link del "${v#* }" >/dev/null 2>&1
	done
	for name in "${RK_NSLIST[@]}"; do
		ip netns del "${RK_NSMAP[$name]}" 2>/dev/null
	done
	if ((rc == 0 || rc == 77)) && [[ -z ${RIKE_KEEP:-} ]]; then
		rm -rf "$RK_RUN"
	else
		rk_log "run directory kept: $RK_RUN"
	fi
	exit "$rc"
}

trap rk_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 1' USR1

# ================================================================ riked <-> strongSwan
# Helpers of the test_sw_*.sh tests (riked facing charon): config text for
# both ends, rikectl, and a checker that compares what both ends report.

RK_SW_PSK=${RK_SW_PSK:-0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718}

# rk_ctl NAME ARGS...: rikectl against riked NAME's control socket (bounded).
rk_ctl() {
	timeout 10 "$(rk_bin_dir)/rikectl" -s "$(rk_dir "$1")/run/riked.sock" "${@:2}"
}

# rk_status_json NAME: riked NAME's SAs (list-sas) and counters (status)
# as one object {"sas": [...], "stats": {...}, "dataplane": {...}}, taken
# out of rikectl's schema-1 replies (rikectl(8), JSON).
rk_status_json() {
	local d rc
	d=$(mktemp -d) || return 1
	# Files, not arguments: a gateway's list-sas outgrows the argument limit.
	rk_ctl "$1" status --json >"$d/s" && rk_ctl "$1" list-sas --json >"$d/l" &&
		python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["result"]
l = json.load(open(sys.argv[2]))["result"]
print(json.dumps({"sas": l["sas"], "stats": s["stats"], "dataplane": s["dataplane"]}))' "$d/s" "$d/l"
	rc=$?
	rm -rf "$d"
	return $rc
}

# swrk_pair [SW_START_OPTIONS]: the riked/strongSwan pair most interop
# tests use: ns r (riked, 10.77.0.1/24, inner RK_IN/32 on lo) and ns s
# (charon "s", 10.77.0.2/24, inner SW_IN/32 on lo) on one veth, charon
# started with the given options (sw_start).
RK_IN=10.10.1.1
SW_IN=10.10.2.1
swrk_pair() {
	ns_create r
	ns_create s
	link_ns r s 10.77.0.1/24 10.77.0.2/24
	ns_addr r lo "$RK_IN/32"
	ns_addr s lo "$SW_IN/32"
	sw_start s s "$@"
}

# swrk_riked_conf NAME CONNECTION_GROUPS: a whole riked.conf (userspace data
# plane, debug log (or $RK_RIKED_LOGLEVEL) to stderr, control socket
# /run/riked.sock) around the given "{ ... }" connection groups.
swrk_riked_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "${RK_RIKED_LOGLEVEL:-debug}"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; };
		connections = ( $2 );
	EOF
}

# swrk_riked_conn NAME LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS
#                 IKE_PROPOSAL ESP_PROPOSAL START [EXTRA_SETTINGS]
swrk_riked_conn() {
	cat <<-EOF
		{ name = "$1"; local = "$2"; remote = "$3"; local_id = "$4"; remote_id = "$5";
		  auth = { method = "psk"; secret = "$RK_SW_PSK"; };
		  ike_proposals = [ "$8" ]; esp_proposals = [ "$9" ];
		  local_ts = [ "$6" ]; remote_ts = [ "$7" ]; start = "${10}"; ${11:-} }
	EOF
}

# swrk_sw_conf NAME LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS
#              IKE_PROPOSAL ESP_PROPOSAL [EXTRA_CONN_SETTINGS]
# A swanctl.conf with IKE and Child config both called NAME, PSK RK_SW_PSK.
swrk_sw_conf() {
	cat <<-EOF
		connections {
			$1 {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				proposals = $8
				${10:-}
				local {
					auth = psk
					id = $4
				}
				remote {
					auth = psk
					id = $5
				}
				children {
					$1 {
						mode = tunnel
						local_ts = $6
						remote_ts = $7
						esp_proposals = $9
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-$1 {
				id-a = $4
				id-b = $5
				secret = $RK_SW_PSK
			}
		}
	EOF
}

# The checker (python3): riked's status --json against swanctl --list-sas
# --raw for one connection. Written once into the run directory.
swrk_checker() {
	local py="$RK_RUN/swrk_check.py"
	[[ -s $py ]] && {
		echo "$py"
		return 0
	}
	cat >"$py" <<-'PYEOF'
		import json, re, sys

		# riked (IANA registry names) -> strongSwan names
		DH = {"256-bit random ECP group": "ECP_256", "384-bit random ECP group": "ECP_384",
		      "521-bit random ECP group": "ECP_521", "Curve25519": "CURVE_25519",
		      "Curve448": "CURVE_448", "2048-bit MODP Group": "MODP_2048",
		      "3072-bit MODP Group": "MODP_3072", "4096-bit MODP Group": "MODP_4096"}
		TOK = re.compile(r'([^\s{}=]+)=\[([^\]]*)\]|([^\s{}=]+)=(\S+)|(\S+) \{|(\})')

		def parse_raw(text):
		    """swanctl --raw: 'list-sa event {NAME {k=v ... child-sas {C {...}}}}'."""
		    sas, stack = [], []
		    for m in TOK.finditer(text):
		        if m.group(1):
		            stack[-1][m.group(1)] = m.group(2).split()
		        elif m.group(3):
		            stack[-1][m.group(3)] = m.group(4)
		        elif m.group(5):
		            d = {}
		            if stack:
		                stack[-1][m.group(5)] = d
		            else:
		                if m.group(5) == "event":
		                    sas.append(d)
		            stack.append(d)
		        else:
		            stack.pop()
		    return sas

		def encr(name):
		    return name[5:] if name.startswith("ENCR_") else name

		def integ(name):
		    if name in (None, "AUTH_NONE", "NONE"):
		        return None
		    return name[5:] if name.startswith("AUTH_") else name

		def main():
		    rkf, swf, conn, want_conn = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
		    rk = json.load(open(rkf))
		    raw = open(swf).read()
		    # 'list-sa event {' precedes each SA; 'event' becomes the stack root
		    raw = raw.replace("list-sa event {", "event {").replace("list-sas reply {}", "")
		    sw_all = [list(e.values())[0] for e in parse_raw(raw) if e]
		    sw_names = [list(e.keys())[0] for e in parse_raw(raw) if e]
		    errs = []
		    rks = [s for s in rk["sas"] if s["conn"] == conn]
		    sws = [s for n, s in zip(sw_names, sw_all) if n == conn]
		    if len(rks) != 1 or len(sws) != 1:
		        print("IKE SAs: riked %d (%s), strongSwan %d (%s)" % (
		            len(rks), " ".join(s["state"] for s in rks),
		            len(sws), " ".join(s.get("state", "?") for s in sws)))
		        return 1
		    r, s = rks[0], sws[0]
		    rc = r["children"]
		    # strongSwan keeps a rekeyed Child SA's inbound half for
		    # delete_rekeyed_delay (5 s) in state DELETED: not a live pair
		    sc = [c for c in s.get("child-sas", {}).values() if c.get("state") != "DELETED"]
		    if r["state"] != "ESTABLISHED" or s.get("state") != "ESTABLISHED":
		        errs.append("IKE state riked %s strongSwan %s" % (r["state"], s.get("state")))
		    if (r["spi_i"], r["spi_r"]) != (s.get("initiator-spi"), s.get("responder-spi")):
		        errs.append("IKE SPIs riked %s_i %s_r, strongSwan %s_i %s_r" % (
		            r["spi_i"], r["spi_r"], s.get("initiator-spi"), s.get("responder-spi")))
		    got = (encr(r["encr"]), str(r["encr_keybits"]), integ(r["integ"]), r["prf"],
		           DH.get(r["dh"], r["dh"]))
		    exp = (s.get("encr-alg"), s.get("encr-keysize"), s.get("integ-alg"), s.get("prf-alg"),
		           s.get("dh-group"))
		    if got != exp:
		        errs.append("IKE algorithms riked %s, strongSwan %s" % (got, exp))
		    if len(rc) != 1 or len(sc) != 1:
		        errs.append("Child SAs: riked %d, strongSwan %d" % (len(rc), len(sc)))
		    else:
		        c, d = rc[0], sc[0]
		        if not c["installed"] or d.get("state") != "INSTALLED":
		            errs.append("Child state riked installed=%s strongSwan %s" % (
		                c["installed"], d.get("state")))
		        if (c["spi_in"], c["spi_out"]) != (d.get("spi-out"), d.get("spi-in")):
		            errs.append("Child SPIs riked in %s out %s, strongSwan in %s out %s" % (
		                c["spi_in"], c["spi_out"], d.get("spi-in"), d.get("spi-out")))
		        pfs = c.get("pfs_group", "none")
		        got = (encr(c["encr"]), str(c["encr_keybits"]), integ(c["integ"]),
		               None if pfs == "none" else DH.get(pfs, pfs),
		               "yes" if c["udp_encap"] else "no", c["mode"].upper())
		        exp = (d.get("encr-alg"), d.get("encr-keysize"), d.get("integ-alg"),
		               d.get("dh-group"), d.get("encap", "no"), d.get("mode"))
		        if got != exp:
		            errs.append("Child algorithms riked %s, strongSwan %s" % (got, exp))
		    if errs:
		        print("; ".join(errs))
		        return 1
		    # one line for the log and for callers that compare SPIs over time
		    c, d = rc[0], sc[0]
		    print("ike %s_i %s_r %s-%s/%s/%s/%s child %s/%s %s-%s%s nat_t=%s riked=%s strongswan=%s:%s" % (
		        r["spi_i"], r["spi_r"], encr(r["encr"]), r["encr_keybits"], integ(r["integ"]) or "-",
		        r["prf"], s.get("dh-group"), c["spi_in"], c["spi_out"], encr(c["encr"]),
		        c["encr_keybits"],
		        ("/" + integ(c["integ"]) if integ(c["integ"]) else "") +
		        ("/" + d["dh-group"] if d.get("dh-group") else ""),
		        str(r["nat_t"]).lower(), r["remote"], s.get("remote-host"), s.get("remote-port")))
		    return 0

		sys.exit(main())
	PYEOF
	echo "$py"
}

# swrk_check RK_NAME SW_NAME CONN: true when riked RK_NAME and charon
# SW_NAME each hold exactly one ESTABLISHED IKE SA of CONN with exactly one
# installed Child SA, the IKE and Child SPIs pair up, and both report the
# same algorithms. Prints one summary line (SPIs, algorithms, peers) or
# what differs; the last report is kept in $RK_RUN/swrk-last.txt.
swrk_check() {
	local py rkf="$RK_RUN/swrk-rk.json" swf="$RK_RUN/swrk-sw.txt" out rc
	py=$(swrk_checker)
	rk_status_json "$1" >"$rkf" 2>/dev/null || {
		echo "rikectl status failed" | tee "$RK_RUN/swrk-last.txt"
		return 1
	}
	sw_swanctl "$2" --list-sas --raw >"$swf" 2>/dev/null || {
		echo "swanctl --list-sas failed" | tee "$RK_RUN/swrk-last.txt"
		return 1
	}
	out=$(python3 "$py" "$rkf" "$swf" "$3")
	rc=$?
	printf '%s\n' "$out" | tee "$RK_RUN/swrk-last.txt"
	return "$rc"
}

# swrk_wait_check TIMEOUT RK_NAME SW_NAME CONN: wait until swrk_check passes;
# logs the summary, or fails the test with the last difference.
swrk_wait_check() {
	wait_until "$1" swrk_check "$2" "$3" "$4" ||
		rk_fail "riked $2 / charon $3 disagree on '$4': $(cat "$RK_RUN/swrk-last.txt")"
	rk_log "agreed: $(cat "$RK_RUN/swrk-last.txt")"
}

# swrk_json NAME PY_EXPR: evaluate a python expression over riked NAME's
# status --json (bound to d), e.g. 'len(d["sas"])'. Prints the result.
swrk_json() {
	rk_status_json "$1" 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}

# swrk_sw_count SW_NAME CONN: number of IKE SAs of CONN charon SW_NAME lists.
swrk_sw_count() {
	sw_swanctl "$1" --list-sas --ike "$2" 2>/dev/null | grep -Ec "^$2: #[0-9]+, "
}

# swrk_sw_none SW_NAME CONN: true when charon SW_NAME has no IKE SA of CONN.
swrk_sw_none() {
	local n
	n=$(swrk_sw_count "$1" "$2")
	[[ $n == 0 ]]
}

# swrk_ping NS SRC DST [COUNT]: COUNT (3) pings from SRC to DST, every one
# answered, else the test fails.
swrk_ping() {
	local out n=${4:-3}
	out=$(ns_exec "$1" ping -c "$n" -i 0.2 -W 2 -I "$2" "$3" 2>&1)
	grep -q " $n received" <<<"$out" || {
		printf '%s\n' "$out" >&2
		rk_fail "ping $2 -> $3 through the tunnel lost packets"
	}
	rk_log "ping $2 -> $3: $n/$n answered, rtt $(sed -n 's/^rtt [^=]*= //p' <<<"$out")"
}

# ================================================================ libreswan
# pluto (libreswan 4.10) as a test peer next to strongSwan, without
# installing it (its Debian package conflicts with strongSwan's): the .deb
# and the two it needs that are not on these machines (libldns3,
# libnss3-tools for certutil) are unpacked with dpkg -x into RK_LS_ROOT
# (tests/interop/get-libreswan.sh does that). pluto execs a compiled-in
# /usr/libexec/ipsec/addconn, so inside pluto's own mount namespace a tmpfs
# covers /usr/libexec and the unpacked usr/libexec/ipsec is bound there.
# libreswan cannot install Child SAs here (no kernel ESP): IKE-level tests
# only (INTEROP-NOTES.md).

RK_LS_ROOT=${RK_LS_ROOT:-/var/cache/rike-interop/libreswan}

ls_env() {
	LD_LIBRARY_PATH="$RK_LS_ROOT/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}

# Exit 77 unless an unpacked libreswan 4.10 is found in RK_LS_ROOT.
ls_need() {
	local b=$RK_LS_ROOT/usr/libexec/ipsec
	[[ -x $b/pluto && -x $b/whack && -x $b/addconn && -x $RK_LS_ROOT/usr/bin/certutil ]] ||
		rk_skip "libreswan not unpacked in RK_LS_ROOT=$RK_LS_ROOT (run tests/interop/get-libreswan.sh)"
	ls_env ldd "$b/pluto" "$RK_LS_ROOT/usr/bin/certutil" 2>/dev/null | grep -q 'not found' &&
		rk_skip "libreswan in $RK_LS_ROOT misses libraries: $(ls_env ldd "$b/pluto" | grep 'not found')"
	ls_env "$b/pluto" --version 2>&1 | grep -q 'Libreswan 4\.' ||
		rk_skip "$b/pluto is not libreswan 4.x"
	return 0
}

ls_dir() {
	echo "$RK_RUN/ls-$1"
}

# ls_whack NAME ARGS...: whack against pluto NAME's control socket (bounded).
ls_whack() {
	ls_env timeout 10 "$RK_LS_ROOT/usr/libexec/ipsec/whack" --ctlsocket "$(ls_dir "$1")/run/pluto.ctl" "${@:2}"
}

# ls_start NS NAME CONFIG_TEXT [PLUTO_ARGS...]: write CONFIG_TEXT (the conn
# sections of an ipsec.conf; "config setup" is written here) and the PSK
# secrets file, create an empty NSS database, start pluto in NS and add
# every conn with "auto=add" (addconn --autoall). Waits up to 10 s for the
# control socket. PSK: RK_SW_PSK, for any pair of identities.
ls_start() {
	local ns dir pid b=$RK_LS_ROOT/usr/libexec/ipsec
	ns=$(ns_name "$1") || exit 1
	dir=$(ls_dir "$2")
	mkdir -p "$dir/run" "$dir/nss" "$dir/ipsec.d" || rk_fail "mkdir $dir"
	cat >"$dir/ipsec.conf" <<-EOF
		config setup
		    logfile=$dir/pluto.log
		    logappend=no
		    logtime=yes
		    plutodebug=base
		    dumpdir=$dir/run
		    ipsecdir=$dir/ipsec.d
		    nssdir=$dir/nss
		$3
	EOF
	# a PSK written 0x... is hexadecimal for riked and swanctl; libreswan
	# reads it so only unquoted (quoted, it is the literal string)
	if [[ $RK_SW_PSK == 0x* ]]; then
		printf '%%any %%any : PSK %s\n' "$RK_SW_PSK" >"$dir/ipsec.secrets"
	else
		printf '%%any %%any : PSK "%s"\n' "$RK_SW_PSK" >"$dir/ipsec.secrets"
	fi
	chmod 600 "$dir/ipsec.secrets"
	ls_env "$RK_LS_ROOT/usr/bin/certutil" -N -d "sql:$dir/nss" --empty-password \
		>"$dir/certutil.out" 2>&1 || rk_fail "certutil -N for pluto $2 (see $dir/certutil.out)"
	RK_LOGS+=("$dir/pluto.log")
	# shellcheck disable=SC2016 # $1.. are sh -c's arguments
	ls_env rk_spawn "ls:$2" "$dir/pluto.out" ip netns exec "$ns" unshare -m sh -c \
		'mount -t tmpfs none /usr/libexec && mkdir /usr/libexec/ipsec &&
		 mount --bind "$1" /usr/libexec/ipsec && shift && exec "$@"' sh "$b" \
		"$b/pluto" --nofork --config "$dir/ipsec.conf" --secretsfile "$dir/ipsec.secrets" \
		--rundir "$dir/run" --nssdir "$dir/nss" --ipsecdir "$dir/ipsec.d" \
		--logfile "$dir/pluto.log" "${@:4}"
	pid=$(rk_label_pid "ls:$2")
	wait_until 10 ls_ready "$2" "$pid" || true
	rk_pid_alive "$pid" || rk_fail "pluto $2 died at startup (see $dir/pluto.out, pluto.log)"
	[[ -S $dir/run/pluto.ctl ]] || rk_fail "pluto $2: no control socket after 10 s"
	ls_env timeout 10 "$b/addconn" --ctlsocket "$dir/run/pluto.ctl" --config "$dir/ipsec.conf" \
		--autoall >>"$dir/addconn.out" 2>&1 || rk_fail "addconn for pluto $2 (see $dir/addconn.out)"
	rk_log "pluto $2 up in $1 (pid $pid)"
}

# Ready (control socket answers), or dead.
ls_ready() {
	rk_pid_alive "$2" || return 0
	[[ -S $(ls_dir "$1")/run/pluto.ctl ]] && ls_whack "$1" --briefstatus
}

ls_log() {
	echo "$(ls_dir "$1")/pluto.log"
}

ls_stop() {
	rk_kill_labels "ls:$2"
	rk_log "pluto $2 stopped"
}

# ================================================================ redirect (RFC 5685)
# Helpers of the test_*redirect*.sh tests and bench/redirect.sh.

# rk_sa_count NAME CONN [STATE]: IKE SAs of CONN (any, or in STATE) in
# riked NAME's status --json; "-" when rikectl fails.
rk_sa_count() {
	rk_status_json "$1" 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(1 for s in d["sas"] if s["conn"] == sys.argv[1] and
          (len(sys.argv) < 3 or s["state"] == sys.argv[2])))' "${@:2}" 2>/dev/null || echo -
}

# rk_has_sa NAME CONN: true when riked NAME holds an ESTABLISHED IKE SA of
# CONN with an installed Child SA.
rk_has_sa() {
	rk_status_json "$1" 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(s["conn"] == sys.argv[1] and s["state"] == "ESTABLISHED" and
                  any(c.get("installed") for c in s["children"]) for s in d["sas"]) else 1)' "$2"
}

# rk_no_sa NAME CONN: true when riked NAME holds no IKE SA of CONN.
rk_no_sa() {
	[[ $(rk_sa_count "$1" "$2") == 0 ]]
}

# sw_sa_remote SW_NAME IKE: the remote host of charon's ESTABLISHED IKE SA
# IKE ("" when there is none).
sw_sa_remote() {
	sw_swanctl "$1" --list-sas --ike "$2" 2>/dev/null | awk -v n="$2" '
		$1 == n ":" { up = ($3 == "ESTABLISHED,") }
		up && $1 == "remote" { sub(/\[.*/, "", $NF); print $NF; exit }'
}

# ping_gaps FILE [INTERVAL_MS]: from "ping -D" output, print
# "sent received lost max_gap_ms" (max_gap_ms: largest time between two
# consecutive echo replies, by receive timestamp; sent: highest icmp_seq
# answered or the count ping printed at exit).
ping_gaps() {
	awk '
		/bytes from/ {
			ts = substr($1, 2, length($1) - 2) + 0
			if (n++ > 0 && (ts - last) * 1000 > gap) gap = (ts - last) * 1000
			last = ts
			for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { s = substr($i, 10) + 0; if (s > hi) hi = s }
		}
		/packets transmitted/ { tx = $1 + 0 }
		END { if (tx < hi) tx = hi; printf "%d %d %d %.1f\n", tx, n, tx - n, gap }' "$1"
}

# rd_counter_check NAME KEY OP N: riked NAME's redirect counter KEY
# (sent_init, sent_auth, sent_active, followed, refused, ignored) compared
# with N (OP: -eq, -ge) in both places the spec puts it: "rikectl redirect
# --status --json" (KEY) and the stats of "rikectl status --json"
# (redirects_KEY). Prints what differs and returns 1.
rd_counter_check() {
	local a b
	a=$(rk_ctl "$1" redirect --status --json 2>/dev/null | python3 -c 'import json, sys
print(json.load(sys.stdin)["result"].get(sys.argv[1], "missing"))' "$2" 2>/dev/null) || a="(rikectl redirect --status failed)"
	b=$(rk_status_json "$1" 2>/dev/null | python3 -c 'import json, sys
print(json.load(sys.stdin)["stats"].get("redirects_" + sys.argv[1], "missing"))' "$2" 2>/dev/null) ||
		b="(rikectl status failed)"
	if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
		case $3 in
		-eq) ((a == $4 && b == $4)) && return 0 ;;
		-ge) ((a >= $4 && b >= $4)) && return 0 ;;
		*) rk_fail "rd_counter_check: unknown comparison $3" ;;
		esac
	fi
	echo "$1: redirect --status $2 = $a, status stats redirects_$2 = $b (want $3 $4)"
	return 1
}

# ================================================================ mobility
# Helpers of the MOBIKE tests (test_mobike_*.sh) and bench/mobike.sh:
# extra links, address changes, a continuous ping with loss accounting, and
# strongSwan's IKE keys turned into a tshark decryption row, so notifies
# inside SK (UPDATE_SA_ADDRESSES, COOKIE2) can be checked on the wire.

# link_ns_if A B IF_A IF_B ADDR_A ADDR_B: like link_ns, with the interface
# names given (several links between the same two namespaces).
link_ns_if() {
	local nsa nsb
	nsa=$(ns_name "$1") || exit 1
	nsb=$(ns_name "$2") || exit 1
	ip link add "$3" netns "$nsa" type veth peer name "$4" netns "$nsb" ||
		rk_fail "veth $1/$3 <-> $2/$4"
	RK_VETHS+=("$nsa $3" "$nsb $4")
	[[ -z ${5:-} ]] || ns_addr "$1" "$3" "$5"
	[[ -z ${6:-} ]] || ns_addr "$2" "$4" "$6"
	ip -n "$nsa" link set "$3" up || rk_fail "link up $3"
	ip -n "$nsb" link set "$4" up || rk_fail "link up $4"
}

# ns_stub_addr NAME IFACE ADDR: ADDR on an interface of its own inside
# namespace NAME (one end of a veth pair kept inside NAME, both ends up),
# for an address reachable over several links. Not on lo: strongSwan counts
# addresses on loopback as unusable and, on the next address event (an
# IPv6 link-local address appearing), moves its end of a MOBIKE SA away
# from such an address by itself.
ns_stub_addr() {
	local ns
	ns=$(ns_name "$1") || exit 1
	ip -n "$ns" link add "$2" type veth peer name "${2}p" || rk_fail "stub $2 in $1"
	RK_VETHS+=("$ns $2")
	ip -n "$ns" link set "$2" up || rk_fail "stub $2 up"
	ip -n "$ns" link set "${2}p" up || rk_fail "stub ${2}p up"
	ns_addr "$1" "$2" "$3"
}

# ns_mobile NAME: sysctls of a namespace whose addresses come and go:
# secondaries are promoted when the primary address of a subnet is deleted
# (else the kernel deletes them with it) and reverse-path filtering is off
# (multihomed hosts receive on either link).
ns_mobile() {
	ns_exec "$1" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 \
		net.ipv4.conf.default.promote_secondaries=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null || rk_fail "sysctls in $1"
	local d
	for d in $(ip -n "$(ns_name "$1")" -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
		ns_exec "$1" sysctl -qw "net.ipv4.conf.$d.promote_secondaries=1" \
			"net.ipv4.conf.$d.rp_filter=0" >/dev/null 2>&1 || true
	done
}

# ipb_start NAME: a long-running `ip -force -batch` in namespace NAME that
# reads its commands from a FIFO. ns_addr_del and ns_link_down then hand it
# the change instead of starting ip: a fresh `ip` took 5-35 ms to start on
# this loaded machine, so the time before it ran was no useful bound. The
# FIFO is opened read-write by the test shell (never blocks, never EOF).
declare -A RK_IPB_FD=()
ipb_start() {
	local ns fifo="$RK_RUN/ipb-$1.fifo" fd
	ns=$(ns_name "$1") || exit 1
	mkfifo "$fifo" || rk_fail "mkfifo $fifo"
	exec {fd}<>"$fifo"
	RK_IPB_FD[$1]=$fd
	# shellcheck disable=SC2046 # rk_rt is empty or "chrt -f 10"
	rk_spawn "ipb:$1" "$RK_RUN/ipb-$1.log" ip netns exec "$ns" $(rk_rt) ip -force -batch "$fifo"
}

# rk_rt: "chrt -f 10" when realtime scheduling works here, else nothing. The
# ip batch and ip monitor run with it: on this loaded 2-core machine they
# were woken 1-15 ms late otherwise, which blurred the time of the change.
rk_rt() {
	if chrt -f 10 true >/dev/null 2>&1; then
		echo "chrt -f 10"
	fi
}

# rk_ip_change NAME CHECK_CMD IP_ARGS...: run `ip IP_ARGS` in NAME (through
# its ipb_start batch if there is one, else a new ip), then wait (2 s at
# most) until CHECK_CMD succeeds. RK_DEL_T0 = epoch time just before the
# change was handed over (a lower bound of the kernel's change),
# RK_DEL_T1 = when CHECK_CMD first saw it done (an upper bound).
rk_ip_change() {
	local name=$1 check=$2 ns fd
	shift 2
	ns=$(ns_name "$name") || exit 1
	fd=${RK_IPB_FD[$name]:-}
	RK_DEL_T0=$EPOCHREALTIME
	if [[ -n $fd ]]; then
		printf '%s\n' "$*" >&"$fd" || rk_fail "ip batch in $name: $*"
	else
		ip -n "$ns" "$@" || rk_fail "ip $* in $name"
	fi
	local i
	for ((i = 0; i < 200; i++)); do
		eval "$check" && break
		sleep 0.01
	done
	RK_DEL_T1=$EPOCHREALTIME
	((i < 200)) || rk_fail "ip $* in $name: not done after 2 s (see $RK_RUN/ipb-$name.log)"
}

# ns_addr_del NAME IFACE ADDR (same prefix defaults as ns_addr), timed as
# rk_ip_change says (RK_DEL_T0, RK_DEL_T1).
ns_addr_del() {
	local ns addr=$3
	ns=$(ns_name "$1") || exit 1
	if [[ $addr == *:* ]]; then
		[[ $addr == */* ]] || addr="$addr/64"
	else
		[[ $addr == */* ]] || addr="$addr/24"
	fi
	rk_ip_change "$1" "! ip -n $ns -o addr show dev $2 | grep -q ' ${addr%/*}/'" \
		addr del "$addr" dev "$2"
}

# ns_link_down NAME IFACE: like ns_addr_del, for `ip link set IFACE down`.
ns_link_down() {
	local ns
	ns=$(ns_name "$1") || exit 1
	rk_ip_change "$1" "! ip -n $ns -o link show dev $2 | grep -q '[<,]UP[,>]'" link set "$2" down
}

# mon_start LABEL NS: `ip -ts monitor address link route` in NS, to
# $RK_RUN/mon-LABEL.out: when the kernel applied an address or link change
# (the ip command's own start-up, 5-15 ms on a loaded machine, is not).
mon_start() {
	local ns
	ns=$(ns_name "$2") || exit 1
	# shellcheck disable=SC2046 # rk_rt is empty or "chrt -f 10"
	rk_spawn "mon:$1" "$RK_RUN/mon-$1.out" ip netns exec "$ns" $(rk_rt) ip -ts monitor address link route
	sleep 0.2
}

# mon_time LABEL AFTER REGEX: epoch time of the first event line after
# epoch time AFTER that matches REGEX (python re); empty if none.
mon_time() {
	python3 - "$RK_RUN/mon-$1.out" "$2" "$3" <<-'PYEOF'
		import datetime, re, sys
		f, after, rx = sys.argv[1], float(sys.argv[2]) - 0.001, re.compile(sys.argv[3])
		for line in open(f, errors="replace"):
		    m = re.match(r'^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\] (.*)', line)
		    if not m:
		        continue
		    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
		    if t >= after and rx.search(m.group(2)):
		        print("%.6f" % t)
		        break
	PYEOF
}

# mon_event_time LABEL REGEX: when `ip monitor` read the change that
# ns_addr_del / ns_link_down just made (mon_time after RK_DEL_T0), waited
# for up to 2 s; RK_DEL_T1 when the monitor did not report it. An upper
# bound of the kernel's time: a daemon may react before the monitor reads.
mon_event_time() {
	local t="" i
	for ((i = 0; i < 20; i++)); do
		t=$(mon_time "$1" "$RK_DEL_T0" "$2")
		[[ -n $t ]] && break
		sleep 0.1
	done
	if [[ -z $t ]]; then
		rk_log "ip monitor did not report /$2/; using the ip command's return time"
		t=$RK_DEL_T1
	fi
	echo "$t"
}

# ---------------------------------------------------------------- ping stream

# ping_start LABEL NS SRC DST [INTERVAL_S]: a continuous ping (default every
# 10 ms) with receive timestamps (-D) into ping_file LABEL. With -l 3, ping's
# token bucket may send up to 3 at once to catch up: without it a ping woken
# late never catches up, and on this loaded 2-core machine "-i 0.01" gave
# ~60 requests/s instead of 100.
ping_start() {
	local ns
	ns=$(ns_name "$2") || exit 1
	rk_spawn "ping:$1" "$(ping_file "$1")" ip netns exec "$ns" \
		ping -D -n -l 3 -i "${5:-0.01}" -I "$3" "$4"
}

ping_file() {
	echo "$RK_RUN/ping-$1.out"
}

# ping_stop LABEL: SIGINT (ping prints its summary), after letting the
# requests in flight come back.
ping_stop() {
	sleep 0.2
	RK_SIG=INT rk_kill_labels "ping:$1"
}

# ping_replied_since LABEL T: true when a reply arrived after epoch time T.
ping_replied_since() {
	local f
	f=$(ping_file "$1")
	tail -n 50 "$f" 2>/dev/null | awk -v t="$2" '
		/bytes from/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) ok = 1 }
		END { exit !ok }'
}

# ping_report LABEL T0 [T_END] [T_DONE]: what the stream saw around an event
# at epoch time T0 (known done by T_DONE, default T0), one line of key=value:
#   sent, recv      requests up to the last one answered, replies (duplicates once)
#   lost            requests up to the last answered one that got no reply
#   outage_ms       T0 -> first reply to a request sent at or after T_DONE
#                   (send time = receive time - rtt), "none" if there was none:
#                   a request sent while the change was still under way may
#                   get through the old path and must not end the outage
#   maxgap_ms       largest gap between consecutive replies from T0 - 1 s on
#   after           replies to requests sent after T0
#   tail_lost       lost among the last 50 requests up to the last answered one
#   rate_hz         requests per second the stream achieved
# Only requests sent before T_END (default: all) count.
ping_report() {
	python3 - "$(ping_file "$1")" "$2" "${3:-0}" "${4:-$2}" <<-'PYEOF'
		import re, sys
		f, t0, tend, tdone = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
		rx = re.compile(r'^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) .*time=([\d.]+) ms')
		rep = {}
		for line in open(f, errors="replace"):
		    m = rx.match(line)
		    if not m:
		        continue
		    recv, seq, rtt = float(m.group(1)), int(m.group(2)), float(m.group(3)) / 1000
		    if tend and recv - rtt > tend:
		        continue
		    rep.setdefault(seq, (recv, recv - rtt))
		if not rep:
		    print("sent=0 recv=0 lost=0 outage_ms=none maxgap_ms=none after=0 tail_lost=0 rate_hz=none")
		    sys.exit(0)
		lo, hi = min(rep), max(rep)
		missing = [s for s in range(lo, hi + 1) if s not in rep]
		after = sorted(v[0] for v in rep.values() if v[1] >= t0)
		done = sorted(v[0] for v in rep.values() if v[1] >= tdone)
		outage = "%.1f" % ((done[0] - t0) * 1000) if done else "none"
		times = sorted(v[0] for v in rep.values() if v[0] >= t0 - 1)
		gaps = [b - a for a, b in zip(times, times[1:])]
		maxgap = "%.1f" % (max(gaps) * 1000) if gaps else "none"
		tail = [s for s in range(max(lo, hi - 49), hi + 1) if s not in rep]
		span = rep[hi][1] - rep[lo][1]
		rate = "%.0f" % ((hi - lo) / span) if span > 0 else "none"
		print("sent=%d recv=%d lost=%d outage_ms=%s maxgap_ms=%s after=%d tail_lost=%d rate_hz=%s" % (
		    hi - lo + 1, len(rep), len(missing), outage, maxgap, len(after), len(tail), rate))
	PYEOF
}

# kv KEY "k=v k=v ...": the value of KEY in a ping_report line.
kv() {
	local w
	for w in $2; do
		[[ $w == "$1="* ]] && {
			echo "${w#*=}"
			return 0
		}
	done
	return 1
}

# ---------------------------------------------------------------- IKE keys on the wire

# sw_keylog_conf NAME: strongswan.conf lines (for sw_start's EXTRA) that make
# charon NAME log IKE key material (ike = 4) to $dir/keys.log. Test peers
# only: this logs secrets.
sw_keylog_conf() {
	cat <<-EOF
		filelog {
			keys {
				path = $(sw_dir "$1")/keys.log
				ike_name = yes
				append = no
				flush_line = yes
				default = -1
				ike = 4
			}
		}
	EOF
}

# sw_ike_keyrow NAME IKE: a Wireshark ikev2_decryption_table row for charon
# NAME's current IKE SA of connection IKE (SPIs from swanctl, SK_ei/SK_er
# from keys.log, matched by the SA's unique id). AES-GCM-16 with 256-bit keys
# only (the suite the MOBIKE tests use); fails the test otherwise.
sw_ike_keyrow() {
	local raw spi_i spi_r uid enc
	raw=$(sw_list_sas "" "$1" --ike "$2" --raw 2>/dev/null) || rk_fail "swanctl --list-sas ($1)"
	spi_i=$(sed -n 's/.* initiator-spi=\([0-9a-f]*\) .*/\1/p' <<<"$raw" | head -1)
	spi_r=$(sed -n 's/.* responder-spi=\([0-9a-f]*\) .*/\1/p' <<<"$raw" | head -1)
	uid=$(sed -n 's/^list-sa event {[^ ]* {uniqueid=\([0-9]*\) .*/\1/p' <<<"$raw" | head -1)
	enc=$(sed -n 's/.* encr-alg=\([^ ]*\) encr-keysize=\([0-9]*\) .*/\1-\2/p' <<<"$raw" | head -1)
	[[ -n $spi_i && -n $spi_r && -n $uid ]] || rk_fail "charon $1 has no IKE SA '$2'"
	[[ $enc == AES_GCM_16-256 ]] || rk_fail "sw_ike_keyrow: IKE cipher $enc unsupported"
	python3 - "$(sw_dir "$1")/keys.log" "$2" "$uid" "$spi_i" "$spi_r" <<-'PYEOF' ||
		import re, sys
		log, name, uid, spi_i, spi_r = sys.argv[1:]
		# a responder's SA has no name before IKE_AUTH: "<UID>", later "<NAME|UID>"
		tag = re.compile(r'<(?:%s\|)?%s> ' % (re.escape(name), uid))
		keys, cur = {}, None
		hexl = re.compile(r'^\s*\d+: ((?:[0-9A-F]{2} )+)')
		for line in open(log, errors="replace"):
		    t = tag.search(line)
		    if not t:
		        continue
		    rest = line[t.end():]
		    m = re.match(r'\s*(Sk_e[ir]) secret => (\d+) bytes', rest)
		    if m:
		        cur = m.group(1)
		        keys[cur] = ""
		        continue
		    h = hexl.match(rest) if cur else None
		    if h:
		        keys[cur] += h.group(1).replace(" ", "").lower()
		    else:
		        cur = None
		if len(keys.get("Sk_ei", "")) != 72 or len(keys.get("Sk_er", "")) != 72:
		    sys.exit("no AES-GCM-256 SK_ei/SK_er for %s in %s" % (tag, log))
		print('%s,%s,%s,%s,"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"' % (
		    spi_i, spi_r, keys["Sk_ei"], keys["Sk_er"]))
	PYEOF
		rk_fail "no IKE keys of $2 in charon $1's keys.log"
}

# tshark_ike FILE [KEYROW]: one line per IKE message in capture FILE:
#   frame epoch_time src dst exchange R-flag msgid notify,notify,...
# (notify types as numbers, including those inside SK when KEYROW decrypts
# them; "-" when none). tshark failing fails the test.
tshark_ike() {
	local -a o=()
	[[ -z ${2:-} ]] || o=(-o "uat:ikev2_decryption_table:$2")
	tshark_read "$1" "${o[@]}" -Y isakmp -T fields -E occurrence=a -E aggregator=, \
		-e frame.number -e frame.time_epoch -e ip.src -e ipv6.src -e ip.dst -e ipv6.dst \
		-e isakmp.exchangetype -e isakmp.flag_r -e isakmp.messageid -e isakmp.notify.msgtype |
		awk -F'\t' '{ printf "%s %s %s %s %s %s %s %s\n", $1, $2, ($3 != "" ? $3 : $4),
			($5 != "" ? $5 : $6), $7, $8, $9, ($10 != "" ? $10 : "-") }' || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $1 (IKE) failed"
	}
}

# tshark_esp FILE: one line per ESP-in-UDP packet: frame epoch_time src dst spi
tshark_esp() {
	tshark_read "$1" -Y esp -T fields -e frame.number -e frame.time_epoch \
		-e ip.src -e ipv6.src -e ip.dst -e ipv6.dst -e esp.spi |
		awk -F'\t' '{ print $1, $2, ($3 != "" ? $3 : $4), ($5 != "" ? $5 : $6), $7 }' || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $1 (ESP) failed"
	}
}
