#!/bin/bash
# The Debian package end to end (issue 14, "Install and run as a service"):
#
#  1. `cpack -G DEB` builds rike_VERSION_ARCH.deb from this build tree;
#  2. dpkg installs it into a fresh root: this machine's /usr, /etc and
#     dpkg database as read-only lower layers of overlay mounts (so Depends
#     are checked against what is really installed and nothing reaches the
#     host), a private /run, /tmp and /var/lib, in a mount namespace of its
#     own and a network namespace with only loopback;
#  3. checks what the package installed: conffile, unit enabled by the
#     postinst but not started (no systemd in the root), tmpfiles entry,
#     `systemd-analyze verify` of the unit where it works;
#  4. runs the unit's ExecStartPre and ExecStart command lines as written in
#     the installed unit, with the unit's CapabilityBoundingSet= and
#     NoNewPrivileges= (setpriv) and, as ProtectSystem=strict with its
#     RuntimeDirectory= and StateDirectory= would, in a mount namespace of
#     its own where all is read-only but /run/riked, /var/lib/riked and
#     /tmp, under a notify socket this test listens on (sd_notify(3):
#     tests/tools/notify_listen.py), with WATCHDOG_USEC;
#  5. checks READY=1, WATCHDOG=1 pings, a reload (SIGHUP: RELOADING=1 then
#     READY=1, a new connection taken, a broken file reported and the old
#     configuration kept), the log format (RFC 3339 timestamps), and stop
#     (SIGTERM: STOPPING=1, exit 0);
#  6. starts it again with log = "journal" and a connection, with a journal
#     socket this test listens on, and checks the entries' fields
#     (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, RIKE_CONN, RIKE_SA_SERIAL,
#     RIKE_SPI_I, RIKE_SPI_R, RIKE_EVENT).
#
# Root only (mounts, namespaces); skips (77) without the tools it needs.
set -u

BUILD=${RIKE_BUILD:-}
SRC=${RIKE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ "${1:-}" != --inner ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
	for t in cpack dpkg unshare chroot setpriv python3 mount; do
		command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		{ echo "SKIP: no overlayfs"; exit 77; }
	[ -f "$BUILD/CPackConfig.cmake" ] || { echo "FAIL: no CPackConfig.cmake in '$BUILD'"; exit 1; }
	TMP=$(mktemp -d /tmp/rike-pkg.XXXXXX)
	trap 'rm -rf "$TMP"' EXIT
	t0=$(date +%s)
	if ! cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/pkg" >"$TMP/cpack.log" 2>&1; then
		cat "$TMP/cpack.log"
		echo "FAIL: cpack"
		exit 1
	fi
	deb=$(ls "$TMP"/pkg/rike_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { cat "$TMP/cpack.log"; echo "FAIL: cpack made no rike_*.deb"; exit 1; }
	echo "built $(basename "$deb") in $(($(date +%s) - t0)) s"
	# Everything mounted below goes away with the namespace.
	unshare --mount --net --propagation private bash "$0" --inner "$TMP" "$deb"
	exit $?
fi

# ---- inside the namespaces ----
TMP=$2
DEB=$3
R=$TMP/root
fail=0
riked_pid=
listen_pid=
bad() {
	echo "FAIL: $*"
	fail=1
}
cleanup() {
	[ -n "$riked_pid" ] && kill -KILL "$riked_pid" 2>/dev/null
	[ -n "$listen_pid" ] && kill "$listen_pid" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

ip link set lo up
mkdir -p "$R"/{usr,etc,run,tmp,dev,proc,sys,var/lib/dpkg,var/log} "$TMP"/{up,work}/{usr,etc,dpkg}
for l in bin sbin lib lib64 lib32 libx32; do
	[ -L "/$l" ] && ln -s "$(readlink "/$l")" "$R/$l"
done
ov() { # ov LOWER TARGET NAME
	mount -t overlay "rike-$3" -o "lowerdir=$1,upperdir=$TMP/up/$3,workdir=$TMP/work/$3" "$2"
}
ov /usr "$R/usr" usr && ov /etc "$R/etc" etc && ov /var/lib/dpkg "$R/var/lib/dpkg" dpkg || {
	echo "FAIL: overlay mounts"
	exit 1
}
mount -t tmpfs rike-run "$R/run" && mount -t tmpfs rike-tmp "$R/tmp" &&
	mount --rbind /dev "$R/dev" && mount -t proc proc "$R/proc" && mount --rbind /sys "$R/sys" || {
	echo "FAIL: mounts"
	exit 1
}
# A machine without rike: no earlier configuration, state or unit links.
rm -rf "$R/etc/riked" "$R/etc/systemd/system/multi-user.target.wants/riked.service"

# ---- install ----
cp "$DEB" "$R/tmp/rike.deb"
if ! chroot "$R" dpkg --no-triggers -i /tmp/rike.deb >"$TMP/dpkg.log" 2>&1; then
	cat "$TMP/dpkg.log"
	echo "FAIL: dpkg -i (Depends not met on this machine, or a maintainer script failed)"
	exit 1
fi
q() { chroot "$R" dpkg-query -W -f="$1" rike 2>/dev/null; }
[[ $(q '${Status}') == "install ok installed" ]] || bad "package status: $(q '${Status}')"
q '${Depends}' | grep -q 'libsystemd0' || bad "Depends lacks libsystemd0: $(q '${Depends}')"
q '${Conffiles}' | grep -q '/etc/riked/riked.conf' || bad "/etc/riked/riked.conf is not a conffile"
for f in /usr/sbin/riked /usr/sbin/rikectl /lib/systemd/system/riked.service \
	/usr/lib/tmpfiles.d/riked.conf /etc/riked/riked.conf /usr/share/man/man8/riked.8.gz \
	/usr/share/man/man8/rikectl.8.gz /usr/share/man/man5/riked.conf.5.gz; do
	[ -e "$R$f" ] || bad "not installed: $f"
done
[[ $(stat -c %a "$R/etc/riked/riked.conf") == 600 ]] ||
	bad "/etc/riked/riked.conf mode $(stat -c %a "$R/etc/riked/riked.conf"), want 600"
# postinst: enabled (deb-systemd-helper's link), not started (no systemd here).
[ -L "$R/etc/systemd/system/multi-user.target.wants/riked.service" ] ||
	bad "postinst did not enable riked.service"
chroot "$R" riked --version | grep -Eq '^riked [0-9]+\.[0-9]+\.[0-9]+' || bad "riked --version"
chroot "$R" rikectl --version | grep -Eq '^rikectl [0-9]+\.[0-9]+\.[0-9]+' || bad "rikectl --version"

# tmpfiles.d: the run and state directories, as systemd-tmpfiles makes them at boot.
if command -v systemd-tmpfiles >/dev/null; then
	chroot "$R" systemd-tmpfiles --create riked.conf || bad "systemd-tmpfiles --create riked.conf"
	[[ $(stat -c %a "$R/run/riked" 2>/dev/null) == 750 ]] || bad "/run/riked not made 0750"
	[[ $(stat -c %a "$R/var/lib/riked" 2>/dev/null) == 700 ]] || bad "/var/lib/riked not made 0700"
fi

unit=$R/lib/systemd/system/riked.service
if command -v systemd-analyze >/dev/null; then
	# Offline verify needs no running systemd; it checks the syntax, the
	# directives and that the ExecStart programs exist in the root.
	if ! chroot "$R" systemd-analyze verify /lib/systemd/system/riked.service >"$TMP/verify.log" 2>&1; then
		cat "$TMP/verify.log"
		bad "systemd-analyze verify riked.service"
	elif [ -s "$TMP/verify.log" ]; then
		echo "systemd-analyze verify said:"
		cat "$TMP/verify.log"
	fi
fi

# ---- the unit's command lines ----
key() { sed -n "s/^$1=//p" "$unit" | head -n 1; }
exec_start=$(key ExecStart)
exec_pre=$(key ExecStartPre)
caps=$(key CapabilityBoundingSet)
[[ $(key Type) == notify ]] || bad "Type=$(key Type), want notify"
[[ $(key WatchdogSec) =~ ^[0-9]+s?$ ]] || bad "no WatchdogSec="
[[ $exec_start == /usr/sbin/riked\ * ]] || bad "ExecStart=$exec_start"
# CAP_NET_ADMIN CAP_NET_BIND_SERVICE -> -all,+net_admin,+net_bind_service
bset=-all
for c in $caps; do
	c=${c#CAP_}
	bset+=",+${c,,}"
done
priv=(setpriv --bounding-set="$bset")
[[ $(key NoNewPrivileges) == yes ]] && priv+=(--no-new-privs)
echo "ExecStart: $exec_start; capabilities: $caps"

# as_unit CMD...: CMD in the root as the unit runs it (see 4. above). It
# execs, so that `as_unit ... &` leaves riked's PID in $!; run it in a
# subshell in the foreground.
mkdir -p "$R/run/riked" "$R/var/lib/riked"
as_unit() {
	exec unshare --mount --propagation private bash -c '
		R=$1
		shift
		for d in run/riked var/lib/riked tmp; do
			mount --bind "$R/$d" "$R/$d" || exit 1
		done
		mount --rbind "$R" "$R" || exit 1
		for d in "" /usr /etc /var/lib/dpkg /run; do
			mount -o remount,bind,ro "$R$d" || exit 1
		done
		exec chroot "$R" "$@"' as_unit "$R" "${priv[@]}" "$@"
}

if [ -n "$exec_pre" ] && ! (as_unit $exec_pre) >"$TMP/pre.log" 2>&1; then
	cat "$TMP/pre.log"
	bad "ExecStartPre ($exec_pre) failed on the shipped configuration"
fi

NOTES=$TMP/notify.log
: >"$NOTES"
python3 "$SRC/tests/tools/notify_listen.py" "$R/run/notify.sock" "$NOTES" 30 150 &
listen_pid=$!
for _ in $(seq 100); do
	[ -S "$R/run/notify.sock" ] && break
	sleep 0.1
done
[ -S "$R/run/notify.sock" ] || { echo "FAIL: notify listener did not start"; exit 1; }

LOG=$TMP/riked.log
# In the ASan build, leak checking wants ptrace, which the unit's reduced
# capabilities may refuse; the other tests check riked for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
# $exec_start is split on spaces as systemd would split it (no quoting in it).
NOTIFY_SOCKET=/run/notify.sock WATCHDOG_USEC=1000000 \
	as_unit $exec_start >"$LOG" 2>&1 &
riked_pid=$!

# wait_note PATTERN [AFTER_LINE] [SECONDS]: a notify line matching after line AFTER_LINE.
wait_note() {
	local pat=$1 after=${2:-0} secs=${3:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		tail -n +"$((after + 1))" "$NOTES" | grep -Eq "$pat" && return 0
		kill -0 "$riked_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
lines() { wc -l <"$NOTES"; }

if ! wait_note '(^|\|| )READY=1' 0 20; then
	cat "$LOG"
	echo "FAIL: no READY=1 (notify messages: $(cat "$NOTES"))"
	exit 1
fi
grep -q 'starting: config /etc/riked/riked.conf' "$LOG" || bad "no start line in the log"
# capabilities as the unit gives them
eff=$(sed -n 's/^CapEff:\t//p' "/proc/$riked_pid/status")
[[ $eff == 0000000000001400 ]] || bad "riked's CapEff $eff, want 0000000000001400 (NET_ADMIN, NET_BIND_SERVICE)"

# Watchdog: WatchdogSec/2 = 500 ms here; at least two pings in 2 s.
n0=$(lines)
sleep 2
pings=$(tail -n +"$((n0 + 1))" "$NOTES" | grep -c 'WATCHDOG=1')
[ "$pings" -ge 2 ] || bad "$pings WATCHDOG=1 in 2 s with WATCHDOG_USEC=1000000"

# The file system is read-only for riked but for its own directories.
grep -q 'riked: .*Read-only file system' "$LOG" && bad "riked tried to write outside its directories"
# The control socket works with the unit's directories.
chroot "$R" rikectl status >"$TMP/status.txt" 2>&1 || bad "rikectl status: $(cat "$TMP/status.txt")"

# Reload with a new connection: RELOADING=1, then READY=1 naming 1 connection.
cat >>"$R/etc/riked/riked.conf" <<'CONF'
connections = ( {
  name = "added";
  remote = "192.0.2.1";
  local_id = "a.example";
  remote_id = "b.example";
  auth = { method = "psk"; secret = "0x00112233445566778899aabbccddeeff"; };
  start = "wait";
} );
CONF
sed -i '0,/^connections = ();/s///' "$R/etc/riked/riked.conf"
chroot "$R" riked -n -c /etc/riked/riked.conf || bad "the edited configuration does not check"
n0=$(lines)
kill -HUP "$riked_pid"
wait_note 'RELOADING=1' "$n0" || bad "SIGHUP: no RELOADING=1"
n1=$(tail -n +"$((n0 + 1))" "$NOTES" | grep -n 'RELOADING=1' | head -n 1 | cut -d: -f1)
wait_note 'READY=1.*running: 1 connections' "$((n0 + ${n1:-0}))" ||
	bad "SIGHUP: no READY=1 with 1 connection after RELOADING=1: $(tail -n +"$((n0 + 1))" "$NOTES" | grep -v WATCHDOG)"
grep -q 'configuration reloaded from /etc/riked/riked.conf (1 connections)' "$LOG" ||
	bad "reload not logged"

# A broken file: reported, READY=1 again, the old configuration kept.
echo 'riked = { dataplane = "nonsense"; };' >"$R/etc/riked/riked.conf"
n0=$(lines)
kill -HUP "$riked_pid"
wait_note 'READY=1.*reload failed, old configuration kept: 1 connections' "$n0" ||
	bad "broken reload: no READY=1 saying it failed: $(tail -n +"$((n0 + 1))" "$NOTES" | grep -v WATCHDOG)"
grep -q 'reload failed, keeping the old configuration' "$LOG" || bad "broken reload not logged"

# Log lines on stderr: RFC 3339 UTC timestamp with milliseconds first.
bad_ts=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z riked\[[0-9]+\]: ' "$LOG")
[ "$bad_ts" -eq 0 ] || bad "$bad_ts log lines without a timestamp: $(grep -Ev '^[0-9]{4}-' "$LOG" | head -n 3)"

# stop_riked WHAT: SIGTERM, then STOPPING=1 and exit 0 within 10 s.
stop_riked() {
	local n0 rc=
	n0=$(lines)
	kill -TERM "$riked_pid"
	for _ in $(seq 100); do
		if ! kill -0 "$riked_pid" 2>/dev/null; then
			wait "$riked_pid"
			rc=$?
			break
		fi
		sleep 0.1
	done
	[ -n "$rc" ] || bad "$1: riked still running 10 s after SIGTERM"
	[ -n "$rc" ] || kill -KILL "$riked_pid"
	riked_pid=
	[[ $rc == 0 ]] || bad "$1: riked exited $rc after SIGTERM"
	tail -n +"$((n0 + 1))" "$NOTES" | grep -q 'STOPPING=1' || bad "$1: SIGTERM, no STOPPING=1"
}
stop_riked "stop"
grep -q 'riked .* stopped' "$LOG" || bad "no stop line in the log"

# ---- the journal: structured entries (sd_journal_sendv's native protocol) ----
mkdir -p "$R/run/systemd/journal"
JNL=$TMP/journal.log
: >"$JNL"
python3 "$SRC/tests/tools/notify_listen.py" "$R/run/systemd/journal/socket" "$JNL" 30 60 &
jpid=$!
for _ in $(seq 100); do
	[ -S "$R/run/systemd/journal/socket" ] && break
	sleep 0.1
done
cat >"$R/etc/riked/riked.conf" <<'CONF'
riked = { log = "journal"; dataplane = "userspace"; };
connections = ( {
  name = "jconn";
  local = "127.0.0.1";
  remote = "127.0.0.2";
  local_id = "a.example";
  remote_id = "b.example";
  auth = { method = "psk"; secret = "0x00112233445566778899aabbccddeeff"; };
  start = "start";
} );
CONF
n0=$(lines)
NOTIFY_SOCKET=/run/notify.sock as_unit $exec_start >"$TMP/riked2.log" 2>&1 &
riked_pid=$!
wait_note 'READY=1' "$n0" 20 || bad "journal: no READY=1: $(cat "$TMP/riked2.log")"
# jentry FIELD=VALUE...: an entry (one line of $JNL, fields split by "|") with all of them.
jentry() {
	local line f ok
	while IFS= read -r line; do
		ok=1
		for f in "$@"; do
			[[ "|${line#* }|" == *"|$f|"* ]] || ok=0
		done
		[ $ok -eq 1 ] && return 0
	done <"$JNL"
	return 1
}
for _ in $(seq 50); do
	jentry RIKE_EVENT=init-sent && break
	sleep 0.1
done
jentry PRIORITY=5 SYSLOG_IDENTIFIER=riked RIKE_SUBSYS=daemon ||
	bad "journal: no daemon entry with PRIORITY=5 SYSLOG_IDENTIFIER=riked"
grep -q 'MESSAGE=notice daemon riked .* starting: config /etc/riked/riked.conf' "$JNL" ||
	bad "journal: no start MESSAGE"
jentry PRIORITY=6 RIKE_SUBSYS=ike RIKE_CONN=jconn RIKE_SA_SERIAL=1 RIKE_EVENT=init-sent \
	'RIKE_SPI_R=0000000000000000' || bad "journal: no init-sent entry with the SA's fields"
grep -Eq '\|RIKE_SPI_I=[0-9a-f]{16}\|' "$JNL" || bad "journal: RIKE_SPI_I is not 16 hex digits"
[ -s "$TMP/riked2.log" ] && bad "journal: riked wrote to stderr: $(head -n 3 "$TMP/riked2.log")"
stop_riked "journal"
kill "$jpid" 2>/dev/null

if [ $fail -ne 0 ]; then
	echo "---- riked's log"
	cat "$LOG"
	echo "---- notify messages (without watchdog pings)"
	grep -v '^[0-9.]* WATCHDOG=1$' "$NOTES"
	echo "---- journal entries"
	cat "$JNL" 2>/dev/null
	exit 1
fi
echo "PASS: package installed, unit's command line ran: READY, $pings watchdog pings in 2 s, reload, stop, journal fields"
exit 0
