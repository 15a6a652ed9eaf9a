#!/bin/bash
#
# test_sw_load_traffic.sh: rike-load(8) --traffic against strongSwan
# (charon with kernel-libipsec) as the gateway: a peer whose ESP we did
# not write decapsulates rike-load's echo requests and encapsulates the
# replies of its host.
#
#                                                   inner 10.0.0.1/32 (lo)
#   +------ ns c ------+                            +------ ns g ------+
#   | rike-load        |  to_g 10.77.0.1/24         | charon           |
#   | clients' inner   |----------------------------| kernel-libipsec  |
#   | 10.128.0.0+i     |         10.77.0.2/24 to_c  | TUN ipsec0       |
#   +------------------+                            +------------------+
#
#  1. N clients x P echoes, ESP aes128gcm16: every client gets every
#     reply, nothing fails, and charon's Child SAs counted at least N x P
#     packets in (swanctl --list-sas while rike-load holds them).
#  2. The same with ESP aes128-sha256 (CBC + HMAC: random IVs, a separate
#     ICV, RFC 4303 2.3-2.8).
#  3. Every 5th request with a corrupted ICV: charon must drop those
#     (RFC 4303 3.4.4); rike-load counts exactly them lost and exits 1.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
need_cmd python3
LOAD=$(rk_bin_dir)/rike-load
[[ -x $LOAD ]] || rk_fail "rike-load not built: $LOAD"
N=${RIKE_LOAD_N:-10}
P=${RIKE_LOAD_PACKETS:-10}
PSK=sw-load-traffic-key
GW=10.77.0.2
CL=10.77.0.1

ns_create c
ns_create g
link_ns c g $CL/24 $GW/24
ns_addr g lo 10.0.0.1/32
sw_start g g "block_threshold = 1000
	cookie_threshold = 1000"
sw_load g g "connections {
  clients {
    version = 2
    local_addrs = $GW
    proposals = aes128gcm16-prfsha256-x25519
    local { auth = psk
            id = gw.load.example }
    remote { auth = psk }
    children {
      c { local_ts = 10.0.0.1/32
          remote_ts = 10.128.0.0/10
          esp_proposals = aes128gcm16,aes128-sha256 }
    }
  }
}
secrets { ike-all { secret = $PSK } }" || rk_fail "swanctl --load-all"

run_load() { # OUT ARGS...: rike-load in ns c, bounded
	local out=$1
	shift
	timeout 60 ip netns exec "$(ns_name c)" "$LOAD" --remote $GW --local $CL \
		--psk "$PSK" --remote-id gw.load.example --ike aes128gcm16-prfsha256-x25519 \
		--json --traffic "$@" >"$RK_RUN/$out" 2>"$RK_RUN/$out.err"
}

# charon's inbound packets over all Child SAs ("in  c1234567, 840 bytes, 10 packets").
sw_in_packets() {
	sw_list_sas g g | python3 -c '
import re, sys
print(sum(int(m.group(1)) for m in re.finditer(r"^\s+in\s+[0-9a-f]{8}.*?(\d+) packets", sys.stdin.read(), re.M)))'
}

# check_all OUT N P: every client got all of its P replies, nothing failed.
check_all() {
	python3 - "$RK_RUN/$1" "$2" "$3" <<'PY' || rk_fail "$1: $(cat "$RK_RUN/$1") $(cat "$RK_RUN/$1.err")"
import json, sys
r = json.load(open(sys.argv[1]))
n, p = int(sys.argv[2]), int(sys.argv[3])
assert r["established"] == n and r["failed"] == 0, r
e = r["esp"]
assert e["clients"] == n and e["clients_all_replies"] == n, e
assert e["sent"] == n * p and e["received"] == n * p and e["lost"] == 0, e
assert all(v == 0 for v in e["failures"].values()), e["failures"]
assert 0 < e["rtt_ms"]["p50"] <= e["rtt_ms"]["max"], e
PY
}

# 1. GCM, held 2 s so that charon's counters can be read.
run_load gcm.json --esp aes128gcm16 --count "$N" --packets "$P" --hold 2 &
lpid=$!
wait_until 40 test -s "$RK_RUN/gcm.json" || rk_fail "no report within 40 s"
in_pk=$(sw_in_packets) || rk_fail "swanctl --list-sas"
wait "$lpid"
rc=$?
rk_log "aes128gcm16: $(cat "$RK_RUN/gcm.json"); charon in: $in_pk packets"
[[ $rc == 0 ]] || rk_fail "rike-load exited $rc: $(cat "$RK_RUN/gcm.json.err")"
check_all gcm.json "$N" "$P"
((in_pk >= N * P)) || rk_fail "charon counted $in_pk packets in, want >= $((N * P))"
wait_until 20 sh -c "! STRONGSWAN_CONF=$(sw_dir g)/strongswan.conf $RK_SWANCTL --list-sas | grep -q ESTABLISHED" ||
	rk_fail "charon still holds SAs after rike-load's deletes"

# 2. CBC + HMAC-SHA-256.
run_load cbc.json --esp aes128-sha256 --count 5 --packets "$P" --id-start 100
rc=$?
rk_log "aes128-sha256: $(cat "$RK_RUN/cbc.json")"
[[ $rc == 0 ]] || rk_fail "rike-load (aes128-sha256) exited $rc"
check_all cbc.json 5 "$P"

# 3. Corrupted ICVs: dropped by charon, counted lost by rike-load.
run_load bad.json --esp aes128gcm16 --count 3 --packets 10 --corrupt-icv 5 --reply-timeout 1 \
	--id-start 200
rc=$?
rk_log "--corrupt-icv 5: $(cat "$RK_RUN/bad.json")"
[[ $rc == 1 ]] || rk_fail "--corrupt-icv: exit $rc, want 1"
python3 - "$RK_RUN/bad.json" <<'PY' || rk_fail "corrupted ICVs not counted"
import json, sys
e = json.load(open(sys.argv[1]))["esp"]
assert e["sent"] == 30 and e["corrupted"] == 6 and e["received"] == 24 and e["lost"] == 6, e
PY
rk_pass
