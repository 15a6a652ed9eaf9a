#!/usr/bin/env bash
# The main job: two rike gateways in network namespaces, a tunnel between
# them, traffic through it, and the counters moving.
#
#   [ns a] 10.10.1.1 (lo) --riked-- 10.99.0.1 ==veth== 10.99.0.2 --riked-- 10.10.2.1 (lo) [ns b]
#          inner                     outer: ESP in UDP 4500            outer      inner
#
# Usage: sudo bash scripts/demo.sh     (installs its dependencies and builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target riked rikectl
export RIKE_BIN=$PWD/build
# shellcheck source=../tests/interop/lib.sh
source tests/interop/lib.sh
skip_unless_root
need_cmd ping

conf() { # conf SELF PEER LOCAL_TS REMOTE_TS ID PEER_ID START
	cat <<CONF
riked = { log = "stderr"; log_level = "info"; dataplane = "userspace";
          control_socket = "/run/riked.sock"; state_dir = "$RK_RUN/rk-$1/state"; };
connections = ( {
  name = "demo"; local = "$2"; remote = "$3";
  local_id = "$6"; remote_id = "$7";
  auth = { method = "psk"; secret = "0x5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4e5f60718"; };
  ike_proposals = [ "aes256gcm16-prfsha256-x25519" ];
  esp_proposals = [ "aes256gcm16" ];
  local_ts = [ "$4" ]; remote_ts = [ "$5" ];
  dpd_interval = 10; start = "$8"; keep_up = $([ "$8" = start ] && echo true || echo false);
} );
CONF
}

ns_create a
ns_create b
link_ns a b 10.99.0.1/24 10.99.0.2/24
ns_addr a lo 10.10.1.1/32
ns_addr b lo 10.10.2.1/32
rk_start b b "$(conf b 10.99.0.2 10.99.0.1 10.10.2.0/24 10.10.1.0/24 gw-b.example gw-a.example wait)"
rk_start a a "$(conf a 10.99.0.1 10.99.0.2 10.10.1.0/24 10.10.2.0/24 gw-a.example gw-b.example start)"
ctl() { "$RIKE_BIN/rikectl" -s "$RK_RUN/rk-$1/run/riked.sock" "${@:2}"; }
up() { [[ $(ctl a list-conns demo --json 2>/dev/null) == *'"state":"established"'* ]]; }
wait_until 15 up || rk_fail "the tunnel did not come up (logs above)"
rk_log "tunnel up:"
ctl a list-sas
tshark_start a to_b "$RK_RUN/outer.pcap"
rk_log "ping 10.10.2.1 from 10.10.1.1 through the tunnel:"
ns_exec a ping -c 5 -i 0.2 -W 2 -I 10.10.1.1 10.10.2.1
tshark_stop "$RK_RUN/outer.pcap"
clear=$(tshark_count "$RK_RUN/outer.pcap" icmp)
esp=$(tshark_count "$RK_RUN/outer.pcap" "udp.port == 4500 && !isakmp")
rk_log "on the outer link: $esp ESP-in-UDP frames, $clear clear ICMP frames"
[ "$clear" -eq 0 ] || rk_fail "inner traffic visible on the outer link"
rk_log "counters after the ping (rikectl list-sas --json, child SA of a):"
ctl a list-sas --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["result"]
for s in d["sas"]:
    for c in s["children"]:
        print("  %s #%d child %s/%s: %d packets / %d bytes out, %d packets / %d bytes in" % (s["conn"], s["serial"], c["spi_in"], c["spi_out"], c["packets_out"], c["bytes_out"], c["packets_in"], c["bytes_in"]))'
rk_pass "demo done"
