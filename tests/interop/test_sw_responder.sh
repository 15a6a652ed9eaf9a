#!/bin/bash
#
# test_sw_responder.sh: strongSwan initiates IKEv2 (PSK) to riked, once per
# cipher suite (the reverse of test_sw_initiator.sh).
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns r ------+                           +------ ns s ------+
#   | riked            |  to_s 10.77.0.1/24        | charon           |
#   | start = "wait"   |---------------------------| swanctl          |
#   | responder        |        10.77.0.2/24 to_r  | --initiate       |
#   +------------------+                           +------------------+
#
# Suites (IKE / ESP):
#   a  aes256gcm16-prfsha256-ecp256 / aes256gcm16
#   b  aes128-sha256-x25519 / aes128-sha256
#   c  aes256gcm16-prfsha384-x25519 / aes256gcm16
# riked offers several proposals (the suite's and the man page defaults),
# strongSwan only the suite's, so riked as responder must pick the one
# strongSwan sent. For each: one ESTABLISHED IKE SA with one installed
# Child SA on each end, paired SPIs, the same algorithms, riked's role
# "responder", and pings through the tunnel both ways.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3

swrk_pair

# riked accepts every suite of this test, the asked-for one not first
RK_IKE='aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256-x25519", "aes256-aes128-sha384-sha256-ecp256-x25519'
RK_ESP='aes128gcm16-aes256gcm16", "aes256-aes128-sha512-sha256'

# suite NAME IKE ESP
suite() {
	local name=$1 ike_p=$2 esp_p=$3
	rk_log "---- suite $name: IKE $ike_p, ESP $esp_p (strongSwan initiates)"
	rk_start r "r$name" "$(swrk_riked_conf "r$name" "$(swrk_riked_conn "$name" 10.77.0.1 \
		10.77.0.2 rk.rike.test sw.rike.test "$RK_IN/32" "$SW_IN/32" "$RK_IKE" "$RK_ESP" wait)")"
	sw_load s s "$(swrk_sw_conf "$name" 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test \
		"$SW_IN/32" "$RK_IN/32" "$ike_p" "$esp_p")" || rk_fail "swanctl load ($name)"
	sw_initiate s s "$name" "$name" 10 || rk_fail "swanctl --initiate $name failed"
	swrk_wait_check 5 "r$name" s "$name"
	[[ $(swrk_json "r$name" 'd["sas"][0]["role"]') == responder ]] ||
		rk_fail "riked is not the responder of $name"
	swrk_ping s "$SW_IN" "$RK_IN"
	swrk_ping r "$RK_IN" "$SW_IN"
	local n
	n=$(swrk_json "r$name" 'd["sas"][0]["children"][0]["packets_out"]')
	((n >= 6)) || rk_fail "riked counted $n outbound ESP packets, expected >= 6"
	rk_stop r "r$name"
	wait_until 5 swrk_sw_none s "$name" || rk_fail "charon kept $name after riked stopped"
}

suite ga aes256gcm16-prfsha256-ecp256 aes256gcm16
suite gb aes128-sha256-x25519 aes128-sha256
suite gc aes256gcm16-prfsha384-x25519 aes256gcm16
rk_pass "strongSwan -> riked: 3 suites established, agreed and carried pings"
