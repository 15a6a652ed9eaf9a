#!/bin/bash
#
# test_strongswan_smoke.sh: proves the interop harness (lib.sh) with
# strongSwan on both ends, before riked replaces one of them.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns a ------+                           +------ ns b ------+
#   | charon "a"       | to_b 10.77.0.1/24         | charon "b"       |
#   | kernel-libipsec  |---------------------------| kernel-libipsec  |
#   | ipsec0, table 220|         10.77.0.2/24 to_a | ipsec0, table 220|
#   +------------------+                           +------------------+
#
# a initiates an IKEv2 PSK SA (aes256-sha256-ecp256) with a tunnel-mode
# Child SA (aes256gcm16) between the inner addresses, pings b's inner
# address from a's, and checks with tshark on to_b that the pings crossed
# only as ESP in UDP 4500 (kernel-libipsec always encapsulates) and never
# as clear ICMP.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
need_cmd tshark ping

PINGS=3

# swanctl.conf for one end: smoke_conf LOCAL REMOTE LOCAL_TS REMOTE_TS LOCAL_ID REMOTE_ID
smoke_conf() {
	cat <<-EOF
		connections {
			smoke {
				version = 2
				local_addrs = $1
				remote_addrs = $2
				proposals = aes256-sha256-ecp256
				local {
					auth = psk
					id = $5
				}
				remote {
					auth = psk
					id = $6
				}
				children {
					smoke {
						mode = tunnel
						local_ts = $3
						remote_ts = $4
						esp_proposals = aes256gcm16
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-smoke {
				id-a = $5
				id-b = $6
				secret = "rike-interop-smoke-psk"
			}
		}
	EOF
}

ns_create a
ns_create b
link_ns a b 10.77.0.1/24 10.77.0.2/24
ns_addr a lo 10.10.1.1/32
ns_addr b lo 10.10.2.1/32
ns_exec a ping -c 1 -W 2 10.77.0.2 >/dev/null || rk_fail "veth a<->b does not pass traffic"

sw_start a a
sw_start b b
sw_load a a "$(smoke_conf 10.77.0.1 10.77.0.2 10.10.1.1/32 10.10.2.1/32 a.rike.test b.rike.test)" ||
	rk_fail "load a"
sw_load b b "$(smoke_conf 10.77.0.2 10.77.0.1 10.10.2.1/32 10.10.1.1/32 b.rike.test a.rike.test)" ||
	rk_fail "load b"

# Everything on the wire, so clear ICMP would show up too.
tshark_start a to_b smoke.pcapng ""

sw_initiate a a smoke smoke 15 || rk_fail "swanctl --initiate failed"
wait_until 10 sw_sa_up a a smoke smoke || rk_fail "a: SA not ESTABLISHED/INSTALLED"
wait_until 10 sw_sa_up b b smoke smoke || rk_fail "b: SA not ESTABLISHED/INSTALLED"
sw_list_sas a a >&2

# strongSwan routes the remote inner address through ipsec0 in table 220.
wait_until 5 sh -c "ip -n $(ns_name a) route show table 220 | grep -q '10.10.2.1.*ipsec0'" ||
	rk_fail "no route to 10.10.2.1 via ipsec0 in table 220"
ns_exec a ping -c "$PINGS" -i 0.2 -W 2 -I 10.10.1.1 10.10.2.1 >&2 ||
	rk_fail "ping through the tunnel failed"

# Give tshark a moment to write the last frames, then stop it.
sleep 0.3
tshark_stop smoke.pcapng

esp_udp=$(tshark_count smoke.pcapng 'udp.port == 4500 && esp')
esp_raw=$(tshark_count smoke.pcapng 'esp && !udp')
clear_icmp=$(tshark_count smoke.pcapng 'icmp.type == 8 || icmp.type == 0')
ike500=$(tshark_count smoke.pcapng 'udp.port == 500 && isakmp')
rk_log "capture: $esp_udp ESP-in-UDP/4500, $esp_raw raw ESP, $clear_icmp clear ICMP echo," \
	"$ike500 IKE on 500"
((esp_udp >= 2 * PINGS)) || rk_fail "expected >= $((2 * PINGS)) ESP-in-UDP frames, saw $esp_udp"
((esp_raw == 0)) || rk_fail "saw $esp_raw ESP frames that were not UDP-encapsulated"
((clear_icmp == 0)) || rk_fail "saw $clear_icmp ICMP echo frames in the clear"
((ike500 >= 2)) || rk_fail "expected IKE_SA_INIT on UDP 500, saw $ike500 frames"

sw_stop a a
sw_stop b b
rk_pass "strongSwan <-> strongSwan over kernel-libipsec"
