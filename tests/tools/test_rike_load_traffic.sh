#!/bin/bash
# rike-load(8) --traffic against riked (userspace data plane) on the
# loopback of a namespace of its own:
#
#   +------------------------------ ns l ------------------------------+
#   | rike-load 127.0.0.2:15500/15501  ->  riked 127.0.0.1:15500/15501  |
#   | clients' inner 10.128.0.0+i       riked's TUN rike0, 10.0.0.1 on lo|
#   +--------------------------------------------------------------------+
#
# Each client's Child SA (TSi 10.128.0.i, TSr 10.0.0.1) carries ICMP echo
# requests from rike-load as ESP in UDP (RFC 4303, RFC 3948) to riked,
# which decapsulates them into its TUN device; the namespace's kernel
# answers for 10.0.0.1 and riked sends the replies back through the same
# Child SA, where rike-load checks them (replay window, ICV, the echo).
#  1. N clients x P packets: every client gets every reply, no ESP failure,
#     and riked's data-plane counters moved by at least N x P each way.
#  2. Every 5th packet with a corrupted ICV: riked must drop exactly those
#     (drop_auth, RFC 4303 3.4.4), rike-load counts them lost and exits 1.
#  3. A destination outside the gateway's TSr: no client sends, each is
#     counted (dst_outside_ts), exit 1.
#  4. IPv6 outside and inside (ICMPv6 echoes, RFC 4443) in a second
#     namespace, with large echoes (1,000 data octets): all answered.
set -u -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"
skip_unless_root
rk_need
need_cmd python3
source "$(dirname "${BASH_SOURCE[0]}")/rike_load_lib.sh"
N=${RIKE_LOAD_N:-20}
P=${RIKE_LOAD_PACKETS:-10}
load_gw_start


dp_json() { # FILE: riked's data-plane counters
	rk_status_json gw >"$1" || rk_fail "rikectl status"
}

# 1. N x P echoes; the SAs are held 2 s so that riked's counters can be read.
dp_json "$RK_RUN/dp0.json"
run_load 60 ok.json --psk "$PSK" --json --count "$N" --traffic --packets "$P" --packet-rate 2000 --hold 2 &
lpid=$!
wait_until 40 test -s "$RK_RUN/ok.json" || rk_fail "no report within 40 s"
dp_json "$RK_RUN/dp1.json"
wait "$lpid"
rc=$?
rk_log "rike-load: $(cat "$RK_RUN/ok.json")"
[[ $rc == 0 ]] || rk_fail "rike-load --traffic exited $rc: $(cat "$RK_RUN/ok.json.err")"
python3 - "$RK_RUN/ok.json" "$RK_RUN/dp0.json" "$RK_RUN/dp1.json" "$N" "$P" <<'PY' || rk_fail "traffic report or riked's counters wrong"
import json, sys
r = json.load(open(sys.argv[1]))
n, p = int(sys.argv[4]), int(sys.argv[5])
assert r["established"] == n and r["failed"] == 0, r
assert r["traffic"] == "icmp-echo", r
e = r["esp"]
assert e["clients"] == n and e["clients_all_replies"] == n and e["clients_no_reply"] == 0, e
assert e["sent"] == n * p and e["received"] == n * p and e["lost"] == 0, e
assert e["corrupted"] == 0 and e["send_errors"] == 0, e
assert e["failures"] and all(v == 0 for v in e["failures"].values()), e["failures"]
assert e["bytes_sent"] == n * p * 84 and e["bytes_received"] == e["bytes_sent"], e
assert e["esp_bytes_received"] > e["bytes_received"], e
assert 0 < e["rtt_ms"]["p50"] <= e["rtt_ms"]["p99"] <= e["rtt_ms"]["max"], e
d0 = json.load(open(sys.argv[2]))["dataplane"]
d1 = json.load(open(sys.argv[3]))["dataplane"]
for k in ("rx_packets", "tx_packets"):
    assert d1[k] - d0[k] >= n * p, "riked %s moved %d, want >= %d" % (k, d1[k] - d0[k], n * p)
assert d1["drop_auth"] == d0["drop_auth"], "riked dropped for ICV"
PY

# 2. A corrupted ICV on every 5th packet: riked drops those, rike-load counts them lost.
wait_until 20 sh -c "! $(rk_bin_dir)/rikectl -s $(rk_dir gw)/run/riked.sock list-sas --json | grep -q ESTABLISHED" ||
	rk_fail "riked still holds SAs after rike-load's deletes"
dp_json "$RK_RUN/dp2.json"
# --hold 1: the SAs outlive the corrupted datagrams in riked's queues (rike-load
# does not wait for answers to them; a delete first makes one unknown-SPI)
run_load 60 bad.json --psk "$PSK" --json --count 4 --traffic --packets 10 --corrupt-icv 5 --reply-timeout 1 --hold 1
rc=$?
dp_json "$RK_RUN/dp3.json"
rk_log "rike-load --corrupt-icv 5: $(cat "$RK_RUN/bad.json")"
[[ $rc == 1 ]] || rk_fail "--corrupt-icv: exit $rc, want 1"
python3 - "$RK_RUN/bad.json" "$RK_RUN/dp2.json" "$RK_RUN/dp3.json" <<'PY' || rk_fail "corrupted ICVs not counted"
import json, sys
e = json.load(open(sys.argv[1]))["esp"]
assert e["sent"] == 40 and e["corrupted"] == 8, e
assert e["received"] == 32 and e["lost"] == 8, e
assert e["clients_all_replies"] == 0 and e["clients_no_reply"] == 0, e
d0 = json.load(open(sys.argv[2]))["dataplane"]
d1 = json.load(open(sys.argv[3]))["dataplane"]
assert d1["drop_auth"] - d0["drop_auth"] == 8, "riked drop_auth moved %d, want 8" % (d1["drop_auth"] - d0["drop_auth"])
PY

# 3. A destination the gateway's TSr does not hold.
run_load 60 dst.json --psk "$PSK" --json --count 3 --traffic --traffic-dst 10.0.0.2
rc=$?
[[ $rc == 1 ]] || rk_fail "--traffic-dst outside TSr: exit $rc, want 1"
python3 - "$RK_RUN/dst.json" <<'PY' || rk_fail "destination outside TSr: $(cat "$RK_RUN/dst.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["established"] == 3, r
e = r["esp"]
assert e["clients"] == 0 and e["sent"] == 0 and e["failures"]["dst_outside_ts"] == 3, e
PY

# 4. IPv6: riked on fd00::1 with fd00:10::1 as its inner address.
ns_create l6
for a in fd00::1/128 fd00::2/128 fd00:10::1/128; do ns_addr l6 lo $a; done
conf6=${GW_CONF//127.0.0.1/fd00::1}
conf6=${conf6//10.0.0.1\/32/fd00:10::1/128}
conf6=${conf6//10.128.0.0\/10/fd00:80::/64}
conf6=${conf6//rk-gw/rk-gw6}
rk_start l6 gw6 "$conf6"
timeout 60 ip netns exec "$(ns_name l6)" "$LOAD" --remote fd00::1 --local fd00::2 \
	--port 15500 --natt-port 15501 --ike aes128gcm16-prfsha256-x25519 --esp aes128gcm16 \
	--remote-id gw.load.example --psk "$PSK" --inner-net fd00:80::/64 --json \
	--count 5 --traffic --packets 4 --payload-size 1000 >"$RK_RUN/v6.json" 2>"$RK_RUN/v6.json.err"
rc=$?
rk_log "IPv6: $(cat "$RK_RUN/v6.json")"
[[ $rc == 0 ]] || rk_fail "rike-load over IPv6 exited $rc: $(cat "$RK_RUN/v6.json.err")"
python3 - "$RK_RUN/v6.json" <<'PY' || rk_fail "IPv6 traffic: $(cat "$RK_RUN/v6.json")"
import json, sys
e = json.load(open(sys.argv[1]))["esp"]
assert e["clients_all_replies"] == 5 and e["received"] == 20 and e["lost"] == 0, e
assert e["bytes_sent"] == 20 * 1048 and e["bytes_received"] == e["bytes_sent"], e
PY
rk_pass
