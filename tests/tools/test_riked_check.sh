#!/bin/bash
# `riked -n` (check the configuration and exit): the warning about a config
# holding pre-shared keys that others may read, and the file errors that
# libconfig alone reports without a reason (a directory, a missing @include).
set -u

BIN=${RIKE_BIN:-${RIKE_BUILD:-}}
if [ ! -x "$BIN/riked" ]; then
	echo "riked not built in '$BIN'"
	exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# check WANT_RC GREP_PATTERN|- ARGS...: runs riked -n ARGS; "-" wants an empty stderr
check() {
	local want=$1 pat=$2 rc
	shift 2
	"$BIN/riked" -n "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: riked -n $*: exit $rc, want $want; stderr: $(cat "$TMP/err")"
		fail=1
	elif [ "$pat" = - ] && [ -s "$TMP/err" ]; then
		echo "FAIL: riked -n $*: unexpected stderr: $(cat "$TMP/err")"
		fail=1
	elif [ "$pat" != - ] && ! grep -qF -- "$pat" "$TMP/err"; then
		echo "FAIL: riked -n $*: stderr lacks '$pat': $(cat "$TMP/err")"
		fail=1
	fi
}

conf=$TMP/riked.conf
cat >"$conf" <<'CONF'
connections = ( {
  name = "c";
  remote = "192.0.2.1";
  auth = { method = "psk"; secret = "0x00112233445566778899aabbccddeeff"; };
} );
CONF
chmod 0644 "$conf"
check 0 "riked: warning: $conf holds pre-shared keys and is readable by group or others (mode 0644)" -c "$conf"
[ "$(wc -l <"$TMP/err")" = 1 ] || { echo "FAIL: more than one warning line"; fail=1; }
chmod 0600 "$conf"
check 0 - -c "$conf"
# A good file: one summary line on stdout (connections, data plane, extensions).
want="configuration OK: $conf: 1 connection(s) (1 start, 0 wait); dataplane userspace; extensions: qcd 1, mobike 1, redirect 1, fragmentation 1; puzzles off"
if [ "$(cat "$TMP/out")" != "$want" ]; then
	echo "FAIL: riked -n summary: '$(cat "$TMP/out")', want '$want'"
	fail=1
fi

check 1 "$TMP: cannot read: Is a directory" -c "$TMP"

printf '@include "conns.conf"\n' >"$TMP/inc.conf"
check 1 "$TMP/inc.conf:1: cannot include $TMP/conns.conf: No such file or directory" -c "$TMP/inc.conf"

# crypto_workers: 0 (inline) to 64 threads.
for v in 0 64; do
	sed "1i riked = { crypto_workers = $v; };" "$conf" >"$TMP/w.conf"
	chmod 0600 "$TMP/w.conf"
	check 0 - -c "$TMP/w.conf"
done
sed '1i riked = { crypto_workers = 65; };' "$conf" >"$TMP/w.conf"
check 1 "$TMP/w.conf:1: 'crypto_workers' = 65 is out of range 0..64" -c "$TMP/w.conf"

# dh_reuse: 0 (off) to 60 seconds (RFC 7296 2.12).
for v in 0 60; do
	sed "1i riked = { dh_reuse = $v; };" "$conf" >"$TMP/w.conf"
	chmod 0600 "$TMP/w.conf"
	check 0 - -c "$TMP/w.conf"
done
sed '1i riked = { dh_reuse = 61; };' "$conf" >"$TMP/w.conf"
check 1 "$TMP/w.conf:1: 'dh_reuse' = 61 is out of range 0..60" -c "$TMP/w.conf"

# mobike_announce_rate: 1 to 1000000 per second (RFC 4555 3.6).
sed '1i riked = { mobike_announce_rate = 0; };' "$conf" >"$TMP/w.conf"
check 1 "$TMP/w.conf:1: 'mobike_announce_rate' = 0 is out of range 1..1000000" -c "$TMP/w.conf"

# dataplane_workers: 0 or 1 (on the event loop) to 64 packet threads;
# the userspace data plane's only.
for v in 0 1 2 64; do
	sed "1i riked = { dataplane_workers = $v; };" "$conf" >"$TMP/w.conf"
	chmod 0600 "$TMP/w.conf"
	check 0 - -c "$TMP/w.conf"
done
sed '1i riked = { dataplane_workers = 65; };' "$conf" >"$TMP/w.conf"
check 1 "$TMP/w.conf:1: 'dataplane_workers' = 65 is out of range 0..64" -c "$TMP/w.conf"
sed '1i riked = { dataplane = "xfrm"; dataplane_workers = 2; };' "$conf" >"$TMP/w.conf"
check 1 "'dataplane_workers' applies to dataplane = \"userspace\" only" -c "$TMP/w.conf"

[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
