#!/bin/bash
#
# test_sw_initiator.sh: riked initiates IKEv2 (PSK) to strongSwan, once per
# cipher suite, and both ends must agree on what they negotiated.
#
#   inner 10.10.1.1/32 (lo)                        inner 10.10.2.1/32 (lo)
#   +------ ns r ------+                           +------ ns s ------+
#   | riked (userspace |  to_s 10.77.0.1/24        | charon           |
#   | ESP over TUN)    |---------------------------| kernel-libipsec  |
#   | initiator        |        10.77.0.2/24 to_r  | responder        |
#   +------------------+                           +------------------+
#
# Suites (IKE / ESP):
#   a  aes256gcm16-prfsha256-ecp256 / aes256gcm16      (AEAD, NIST curve)
#   b  aes128-sha256-x25519 / aes128-sha256            (AES-CBC + HMAC-SHA2)
#   c  aes256gcm16-prfsha384-x25519 / aes256gcm16      (AEAD, PRF SHA-384)
# For each: a fresh riked starts the connection; then riked (rikectl status
# --json) and charon (swanctl --list-sas --raw) must each show exactly one
# ESTABLISHED IKE SA with one installed Child SA, the IKE SPIs and the two
# Child SPIs must pair up, and the IKE and ESP algorithms must be the same
# on both ends; pings go through the tunnel in both directions.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
sw_need
rk_need
need_cmd ping python3

swrk_pair

# suite NAME IKE ESP
suite() {
	local name=$1 ike_p=$2 esp_p=$3
	rk_log "---- suite $name: IKE $ike_p, ESP $esp_p (riked initiates)"
	sw_load s s "$(swrk_sw_conf "$name" 10.77.0.2 10.77.0.1 sw.rike.test rk.rike.test \
		"$SW_IN/32" "$RK_IN/32" "$ike_p" "$esp_p")" || rk_fail "swanctl load ($name)"
	rk_start r "r$name" "$(swrk_riked_conf "r$name" "$(swrk_riked_conn "$name" 10.77.0.1 \
		10.77.0.2 rk.rike.test sw.rike.test "$RK_IN/32" "$SW_IN/32" "$ike_p" "$esp_p" start)")"
	wait_until 10 sw_sa_up s s "$name" "$name" || rk_fail "charon: $name not up"
	swrk_wait_check 5 "r$name" s "$name"
	[[ $(swrk_json "r$name" 'd["sas"][0]["role"]') == initiator ]] ||
		rk_fail "riked is not the initiator of $name"
	swrk_ping r "$RK_IN" "$SW_IN"
	swrk_ping s "$SW_IN" "$RK_IN"
	# riked's packet counters saw the pings (3 out, 3 in, each way)
	local n
	n=$(swrk_json "r$name" 'd["sas"][0]["children"][0]["packets_in"]')
	((n >= 6)) || rk_fail "riked counted $n inbound ESP packets, expected >= 6"
	# SIGTERM: riked deletes its SAs (RFC 7296 1.4.1) before it leaves
	rk_stop r "r$name"
	wait_until 5 swrk_sw_none s "$name" || rk_fail "charon kept $name after riked stopped"
}

suite ga aes256gcm16-prfsha256-ecp256 aes256gcm16
suite gb aes128-sha256-x25519 aes128-sha256
suite gc aes256gcm16-prfsha384-x25519 aes256gcm16
rk_pass "riked -> strongSwan: 3 suites established, agreed and carried pings"
