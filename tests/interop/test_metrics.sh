#!/bin/bash
#
# test_metrics.sh: riked's Prometheus endpoint (riked.conf(5) METRICS,
# riked-metrics(7)) scraped while traffic crosses a tunnel.
#
#   inner 10.10.1.1/32 (lo)                           inner 10.10.2.1/32 (lo)
#   +------ ns a ------+  to_b 10.77.0.1/24           +------ ns b ------+
#   | riked "ra"       |------------------------------| riked "rb"       |
#   | metrics on       |          10.77.0.2/24 to_a   |                  |
#   | 127.0.0.1:9466   |                              |                  |
#   +------------------+                              +------------------+
#
# riked a (initiator) and b (responder) bring up a tunnel-mode Child SA
# between 10.10.1.0/24 and 10.10.2.0/24 (userspace data plane). a serves
# metrics on its namespace's loopback. The test scrapes GET /metrics
# (python3 urllib), pings through the tunnel, scrapes again, and checks:
#   - each scrape is valid text exposition: every line is a HELP, a TYPE or
#     a sample; every sample's family has HELP and TYPE before it, once;
#     counters end in _total; values are numbers;
#   - the gauges: one ESTABLISHED IKE SA, one Child SA, rike_build_info;
#   - the Child SA's packet and byte counters (both directions) and the
#     data plane's moved by at least the pings, and IKE's sent/received
#     counters agree with a liveness check made in between (rikectl dpd);
#   - three clients stalled mid-request block neither scrapes nor IKE;
#   - riked-metrics(7) documents exactly the metric families served;
#   - another path is 404, another method 405;
# and riked -n refuses a non-loopback listen address without allow_remote.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
rk_need
need_cmd ping python3

PINGS=5
OUT_A=10.77.0.1
OUT_B=10.77.0.2
IN_A=10.10.1.1
IN_B=10.10.2.1
PORT=9466

# rk_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START EXTRA_GLOBALS
rk_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "debug"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; $9 };
		connections = ( $(swrk_riked_conn m "$2" "$3" "$6" "$7" "$4" "$5" \
			aes256gcm16-prfsha256-x25519 aes256gcm16 "$8") );
	EOF
}

# shellcheck disable=SC2317 # called through wait_until
rk_up() {
	local out
	out=$(rk_ctl "$1" list-sas 2>/dev/null) || return 1
	grep -q ESTABLISHED <<<"$out" && grep -q "reqid [0-9]*, INSTALLED" <<<"$out"
}

# scrape NS FILE [PATH [METHOD]]: the HTTP status, body into FILE.
scrape() {
	ns_exec "$1" timeout 10 python3 -c '
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[3])
try:
    r = urllib.request.urlopen(req, timeout=5)
    code, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    code, body, ctype = e.code, e.read(), ""
open(sys.argv[2], "wb").write(body)
print(code, ctype)' "http://127.0.0.1:$PORT${3:-/metrics}" "$2" "${4:-GET}" ||
		rk_fail "scraping $1 failed"
}

# CHECK (python3): parse an exposition; print "name{labels} value" per
# sample, sorted, for later lookups. Exits with the first bad line.
CHECK='
import re, sys
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
help_re = re.compile(r"^# HELP (%s) \S.*$" % name_re)
type_re = re.compile(r"^# TYPE (%s) (counter|gauge|untyped|summary|histogram)$" % name_re)
sample_re = re.compile(r"^(%s)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\]|\\\\.)*\",?)*\})? (\S+)$" % name_re)
helped, typed, out = set(), {}, {}
text = open(sys.argv[1], encoding="utf-8").read()
if not text.endswith("\n"):
    sys.exit("exposition does not end in a newline")
for n, line in enumerate(text.splitlines(), 1):
    m = help_re.match(line)
    if m:
        if m.group(1) in helped:
            sys.exit("line %d: second HELP for %s" % (n, m.group(1)))
        helped.add(m.group(1))
        continue
    m = type_re.match(line)
    if m:
        if m.group(1) in typed or m.group(1) not in helped:
            sys.exit("line %d: TYPE without HELP, or twice: %s" % (n, line))
        if m.group(2) == "counter" and not m.group(1).endswith("_total"):
            sys.exit("line %d: counter %s does not end in _total" % (n, m.group(1)))
        typed[m.group(1)] = m.group(2)
        continue
    m = sample_re.match(line)
    if not m:
        sys.exit("line %d is neither HELP, TYPE nor a sample: %r" % (n, line))
    if m.group(1) not in typed:
        sys.exit("line %d: sample of %s before its TYPE" % (n, m.group(1)))
    if not m.group(1).startswith("rike_"):
        sys.exit("line %d: %s lacks the rike_ prefix" % (n, m.group(1)))
    float(m.group(3))
    key = m.group(1) + (m.group(2) or "")
    if key in out:
        sys.exit("line %d: duplicate series %s" % (n, key))
    out[key] = m.group(3)
for k in sorted(out):
    print(k, out[k])
'

# parse FILE OUT: check the exposition in FILE, its samples into OUT.
parse() {
	python3 -c "$CHECK" "$1" >"$2" || rk_fail "$1 is not valid Prometheus text exposition"
	rk_log "$1: $(grep -c . "$2") samples, $(grep -c '^# TYPE' "$1") families, valid"
}

# val SAMPLES SERIES: the value of one series (exact name{labels}); fails if absent.
val() {
	local v
	v=$(awk -v k="$2" '$1 == k { print $2 }' "$1")
	[[ -n $v ]] || rk_fail "no series $2 in $1"
	echo "${v%.*}"
}

# child SAMPLES bytes|packets in|out: the only Child SA's counter.
child() {
	local v n
	v=$(grep -E "^rike_child_sa_$2_total\{conn=\"m\",.*direction=\"$3\"\} " "$1")
	n=$(grep -c . <<<"$v")
	[[ $n == 1 ]] || rk_fail "expected one Child SA $2/$3 series in $1, saw $n"
	echo "${v##* }"
}

# ---------------------------------------------------------------- riked -n

CONF_BAD="$RK_RUN/bad.conf"
printf 'riked = { metrics = { listen = "10.77.0.1:%s"; }; };\nconnections = ();\n' $PORT >"$CONF_BAD"
if out=$("$(rk_bin_dir)/riked" -n -c "$CONF_BAD" 2>&1); then
	rk_fail "riked -n accepted a non-loopback metrics address"
fi
grep -q "not a loopback address" <<<"$out" || rk_fail "riked -n gave no reason: $out"
sed -i 's/; }; };/; allow_remote = true; }; };/' "$CONF_BAD"
"$(rk_bin_dir)/riked" -n -c "$CONF_BAD" >/dev/null 2>&1 || rk_fail "allow_remote not honoured"
rk_log "riked -n refuses a non-loopback metrics address unless allow_remote"

# ---------------------------------------------------------------- tunnel

ns_create a
ns_create b
link_ns a b "$OUT_A/24" "$OUT_B/24"
ns_addr a lo "$IN_A/32"
ns_addr b lo "$IN_B/32"
rk_start b rb "$(rk_conf rb $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test a.rike.test wait "")"
rk_start a ra "$(rk_conf ra $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test b.rike.test start \
	"metrics = { listen = \"127.0.0.1:$PORT\"; };")"
wait_until 15 rk_up ra || rk_fail "no tunnel"

# ---------------------------------------------------------------- scrapes

read -r code ctype < <(scrape a "$RK_RUN/s1.txt")
[[ $code == 200 ]] || rk_fail "GET /metrics: HTTP $code"
[[ $ctype == "text/plain; version=0.0.4"* ]] || rk_fail "Content-Type '$ctype'"
parse "$RK_RUN/s1.txt" "$RK_RUN/s1.samples"
S1="$RK_RUN/s1.samples"
[[ $(val "$S1" 'rike_ike_sas{state="ESTABLISHED"}') == 1 ]] || rk_fail "not one ESTABLISHED IKE SA"
[[ $(val "$S1" 'rike_child_sas') == 1 ]] || rk_fail "not one Child SA"
[[ $(val "$S1" 'rike_conn_ike_sas{conn="m",state="ESTABLISHED"}') == 1 ]] || rk_fail "no conn gauge"
grep -q '^rike_build_info{version="' "$S1" || rk_fail "no rike_build_info"
[[ $(val "$S1" 'rike_ike_sa_established_total') -ge 1 ]] || rk_fail "sa_established 0"

ns_exec a ping -c $PINGS -i 0.2 -W 2 -I $IN_A $IN_B >"$RK_RUN/ping.out" 2>&1 ||
	rk_fail "ping through the tunnel: $(cat "$RK_RUN/ping.out")"
grep -q " $PINGS received" "$RK_RUN/ping.out" || rk_fail "pings lost: $(cat "$RK_RUN/ping.out")"
# Three clients that send half a request and stall: MHD runs on riked's
# loop without blocking, so the liveness check and the scrapes still go on.
# They hold on until the file "$RK_RUN/unstall" appears (at most 30 s);
# riked drops idle clients after 10 s, so this checks only the start.
ns_exec a timeout 40 python3 -c '
import os, socket, sys, time
socks = []
for i in range(3):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
print("stalled", flush=True)
for i in range(300):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)' $PORT "$RK_RUN/unstall" >"$RK_RUN/stall.out" 2>&1 &
STALL=$!
wait_until 15 grep -q stalled "$RK_RUN/stall.out" || rk_fail "stalled clients: $(cat "$RK_RUN/stall.out")"
rk_ctl ra dpd m >/dev/null || rk_fail "rikectl dpd"
# shellcheck disable=SC2317 # called through wait_until
dpd_answered() {
	scrape a "$RK_RUN/s2.txt" >/dev/null && python3 -c "$CHECK" "$RK_RUN/s2.txt" >"$RK_RUN/s2.samples" &&
		(($(val "$RK_RUN/s2.samples" rike_ike_messages_received_total) > $(val "$S1" rike_ike_messages_received_total)))
}
wait_until 5 dpd_answered || rk_fail "the liveness check's answer did not count"
read -r code ctype < <(scrape a "$RK_RUN/s2.txt")
kill -0 $STALL 2>/dev/null || rk_fail "the stalled clients were gone before the scrapes"
touch "$RK_RUN/unstall"
parse "$RK_RUN/s2.txt" "$RK_RUN/s2.samples"
rk_log "scrapes and the liveness check went on with 3 clients stalled mid-request"
wait $STALL
S2="$RK_RUN/s2.samples"

for kind in packets bytes; do
	for dir in in out; do
		v1=$(child "$S1" $kind $dir)
		v2=$(child "$S2" $kind $dir)
		min=$PINGS
		[[ $kind == bytes ]] && min=$((PINGS * 84)) # 20 + 8 + 56 octets per echo
		((v2 - v1 >= min)) || rk_fail "Child SA $kind $dir moved $v1 -> $v2 (< $min)"
		rk_log "Child SA $kind $dir: $v1 -> $v2"
		v1=$(val "$S1" "rike_dataplane_${kind}_total{direction=\"$dir\"}")
		v2=$(val "$S2" "rike_dataplane_${kind}_total{direction=\"$dir\"}")
		((v2 - v1 >= min)) || rk_fail "data plane $kind $dir moved $v1 -> $v2 (< $min)"
	done
done
v1=$(val "$S1" rike_ike_messages_sent_total)
v2=$(val "$S2" rike_ike_messages_sent_total)
((v2 > v1)) || rk_fail "IKE messages sent did not move with the liveness check ($v1 -> $v2)"

# riked-metrics(7) lists exactly the families riked serves.
MAN="$(dirname "${BASH_SOURCE[0]}")/../../man/riked-metrics.7"
diff <(sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' "$RK_RUN/s2.txt" | sort) \
	<(awk 'prev == ".TP" && $1 == ".B" && $2 ~ /^rike_/ { print $2 } { prev = $0 }' "$MAN" | sort) >&2 ||
	rk_fail "the families served and those riked-metrics(7) lists differ (< served, > documented)"
rk_log "riked-metrics(7) documents every family served, and no other"

read -r code _ < <(scrape a "$RK_RUN/other.txt" /other)
[[ $code == 404 ]] || rk_fail "GET /other: HTTP $code, not 404"
read -r code _ < <(scrape a "$RK_RUN/post.txt" /metrics POST)
[[ $code == 405 ]] || rk_fail "POST /metrics: HTTP $code, not 405"
rk_pid_alive "$(rk_label_pid rk:ra)" || rk_fail "riked a died"
rk_stop a ra
rk_stop b rb
rk_pass
