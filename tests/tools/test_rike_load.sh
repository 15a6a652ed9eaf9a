#!/bin/bash
# rike-load(8) against riked on the loopback of a namespace of its own:
# N clients (IKE SA + Child SA, distinct identities, PSK) with riked as the
# responder, its Child SAs installed in the userspace data plane. The
# report must count N established and 0 failed, its JSON must parse, and
# riked must hold N IKE SAs with N distinct peer identities while rike-load
# holds them. Then traffic options that make no sense must refuse, and a
# wrong PSK must show up as failures with a reason, not as a hang.
set -u -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"
skip_unless_root
rk_need
need_cmd python3
LOAD=$(rk_bin_dir)/rike-load
[[ -x $LOAD ]] || rk_skip "rike-load not built"
N=${RIKE_LOAD_N:-200}
PSK=0x6c6f61642d746573742d736563726574

ns_create l
conf=$(swrk_riked_conf gw "{ name = \"clients\"; local = \"127.0.0.1\"; remote = \"%any\";
  local_ts = [ \"10.0.0.1/32\" ]; remote_ts = [ \"10.128.0.0/10\" ];
  local_id = \"gw.load.example\"; remote_id = \"%any\";
  auth = { method = \"psk\"; secret = \"$PSK\"; };
  ike_proposals = [ \"aes128gcm16-prfsha256-x25519\" ]; esp_proposals = [ \"aes128gcm16\" ]; }")
# One source address for every client: the per-source half-open cap goes up.
conf=${conf/dataplane = \"userspace\";/dataplane = \"userspace\"; ike_port = 15500; natt_port = 15501; half_open_per_source = 100000; half_open_cookie_threshold = 100000;}
conf=${conf/log_level = \"debug\"/log_level = \"notice\"}
rk_start l gw "$conf"

run_load() { # OUT ARGS...: rike-load in the namespace, bounded
	local out=$1
	shift
	timeout 120 ip netns exec "$(ns_name l)" "$LOAD" --remote 127.0.0.1 --local 127.0.0.2 \
		--port 15500 --natt-port 15501 --ike aes128gcm16-prfsha256-x25519 --esp aes128gcm16 \
		--remote-id gw.load.example "$@" >"$RK_RUN/$out" 2>"$RK_RUN/$out.err"
}

# 1. N clients, at most 50 at once, held 3 s so riked's table can be read.
run_load ok.json --psk "$PSK" --count "$N" --concurrency 50 --json --hold 3 &
lpid=$!
wait_until 60 test -s "$RK_RUN/ok.json" || rk_fail "no report within 60 s"
sleep 0.5
rk_status_json gw >"$RK_RUN/status.json" || rk_fail "rikectl status"
wait "$lpid"
rc=$?
rk_log "rike-load: $(cat "$RK_RUN/ok.json")"
[[ $rc == 0 ]] || rk_fail "rike-load exited $rc: $(cat "$RK_RUN/ok.json.err")"
python3 - "$RK_RUN/ok.json" "$RK_RUN/status.json" "$N" <<'PY' || rk_fail "report or status wrong"
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[3])
assert r["count"] == n and r["started"] == n, r
assert r["established"] == n, r
assert r["failed"] == 0 and r["failures"] == {}, r
assert r["setup_rate"] > 0 and 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] <= r["latency_ms"]["max"], r
st = json.load(open(sys.argv[2]))
sas = [s for s in st["sas"] if s.get("state") == "ESTABLISHED"]
assert len(sas) == n, "riked holds %d established SAs, want %d" % (len(sas), n)
assert all(len(s["children"]) == 1 for s in sas), "an SA without its Child SA"
PY
# rike-load deleted its SAs at exit: riked must be empty again.
wait_until 20 sh -c "! $(rk_bin_dir)/rikectl -s $(rk_dir gw)/run/riked.sock list-sas --json | grep -q ESTABLISHED" ||
	rk_fail "riked still holds SAs after rike-load's deletes"

# 2. Traffic options without --traffic, or --traffic without Child SAs,
# are usage errors with a reason (the traffic itself: test_rike_load_traffic.sh).
run_load traffic.txt --psk "$PSK" --packets 5
rc=$?
[[ $rc == 2 ]] && grep -q "need --traffic" "$RK_RUN/traffic.txt.err" ||
	rk_fail "--packets alone: exit $rc, $(cat "$RK_RUN/traffic.txt.err")"
run_load traffic.txt --psk "$PSK" --traffic --no-child
rc=$?
[[ $rc == 2 ]] && grep -q "needs Child SAs" "$RK_RUN/traffic.txt.err" ||
	rk_fail "--traffic --no-child: exit $rc, $(cat "$RK_RUN/traffic.txt.err")"

# 3. A wrong key: every client fails in IKE_AUTH with a reason, quickly.
run_load bad.json --psk 0x00112233 --count 20 --json --timeout 10
rc=$?
python3 - "$RK_RUN/bad.json" <<'PY' || rk_fail "wrong PSK: $(cat "$RK_RUN/bad.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["established"] == 0 and r["failed"] == 20, r
assert all(k.startswith("AUTH_SENT") for k in r["failures"]), r["failures"]
PY
[[ $rc == 1 ]] || rk_fail "wrong PSK: exit $rc, want 1"
rk_pass
