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
source "$(dirname "${BASH_SOURCE[0]}")/rike_load_lib.sh"
N=${RIKE_LOAD_N:-200}
load_gw_start

# 1. N clients, at most 50 at once, held 3 s so riked's table can be read.
run_load 120 ok.json --psk "$PSK" --count "$N" --concurrency 50 --json --hold 3 &
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
run_load 120 traffic.txt --psk "$PSK" --packets 5
rc=$?
[[ $rc == 2 ]] && grep -q "need --traffic" "$RK_RUN/traffic.txt.err" ||
	rk_fail "--packets alone: exit $rc, $(cat "$RK_RUN/traffic.txt.err")"
run_load 120 traffic.txt --psk "$PSK" --traffic --no-child
rc=$?
[[ $rc == 2 ]] && grep -q "needs Child SAs" "$RK_RUN/traffic.txt.err" ||
	rk_fail "--traffic --no-child: exit $rc, $(cat "$RK_RUN/traffic.txt.err")"

# 3. A wrong key: every client fails in IKE_AUTH with a reason, quickly.
run_load 120 bad.json --psk 0x00112233 --count 20 --json --timeout 10
rc=$?
python3 - "$RK_RUN/bad.json" <<'PY' || rk_fail "wrong PSK: $(cat "$RK_RUN/bad.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["established"] == 0 and r["failed"] == 20, r
assert all(k.startswith("AUTH_SENT") for k in r["failures"]), r["failures"]
PY
[[ $rc == 1 ]] || rk_fail "wrong PSK: exit $rc, want 1"
rk_pass
