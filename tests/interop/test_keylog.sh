#!/bin/bash
#
# test_keylog.sh: riked's debugging key export (riked.conf(5) KEY EXPORT)
# decrypts riked's own IKE and ESP in tshark and in rikectl decode.
#
#   inner 10.10.1.1/32 (lo)                           inner 10.10.2.1/32 (lo)
#   +------ ns a ------+  to_b 10.77.0.1/24           +------ ns b ------+
#   | riked "ra"       |------------------------------| riked "rb"       |
#   | keylog on        |   tshark    10.77.0.2/24 to_a|                  |
#   +------------------+                              +------------------+
#
# riked a (initiator, keylog = { directory = ... }) brings up a tunnel with
# riked b (aes256gcm16 for IKE, aes128 + sha256 for ESP: one AEAD and one
# cipher + integrity suite, each with its salt or key layout), rekeys the
# IKE SA (a second row, RFC 7296 2.18 keys), pings through the tunnel and
# sends an INFORMATIONAL on the new IKE SA (rikectl dpd), while tshark
# captures a's outer veth. Then:
#   - the files are mode 0600 and riked logged its warning;
#   - without keys, tshark shows neither the IDs of IKE_AUTH nor inner ICMP
#     (the control: the capture is encrypted);
#   - with tshark's configuration directory pointed at the export, tshark
#     shows IKE_AUTH's IDi (a.rike.test) and IDr (b.rike.test), the
#     INFORMATIONALs of the rekeyed IKE SA decrypted, and every echo request
#     and reply of the pings as inner ICMP between 10.10.1.1 and 10.10.2.1;
#   - rikectl decode --keys with the exported table verifies the ICV of
#     every SK payload of both IKE SAs and shows IKE_AUTH's IDi and IDr.

set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip_unless_root
rk_need
need_cmd tshark ping python3
RIKECTL="$(rk_bin_dir)/rikectl"
[[ -x $RIKECTL ]] || rk_skip "rikectl not built"

PINGS=4
OUT_A=10.77.0.1
OUT_B=10.77.0.2
IN_A=10.10.1.1
IN_B=10.10.2.1
KEYDIR="$RK_RUN/keys"

# rk_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ID PEER_ID START EXTRA_GLOBALS
rk_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "debug"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; $9 };
		connections = ( $(swrk_riked_conn k "$2" "$3" "$6" "$7" "$4" "$5" \
			aes256gcm16-prfsha256-x25519 aes128-sha256 "$8") );
	EOF
}

# shellcheck disable=SC2317 # called through wait_until
rk_up() {
	local out
	out=$(rk_ctl "$1" status 2>/dev/null) || return 1
	grep -q ESTABLISHED <<<"$out" && grep -q 'child reqid' <<<"$out"
}

# shellcheck disable=SC2317 # called through wait_until
rows() {
	(($(grep -vc '^#' "$KEYDIR/$1") >= $2))
}

# ts FILE CONFDIR tshark-args...: read the capture with CONFDIR as tshark's
# configuration directory (an empty one: no keys).
ts() {
	local f=$1 dir=$2
	shift 2
	WIRESHARK_CONFIG_DIR=$dir tshark_read "$f" -o esp.enable_encryption_decode:TRUE "$@" || {
		cat "$RK_RUN/tshark-read.err" >&2
		rk_fail "tshark -r $f failed"
	}
}

ns_create a
ns_create b
link_ns a b "$OUT_A/24" "$OUT_B/24"
ns_addr a lo "$IN_A/32"
ns_addr b lo "$IN_B/32"
tshark_start a to_b k.pcapng ""
rk_start b rb "$(rk_conf rb $OUT_B $OUT_A 10.10.2.0/24 10.10.1.0/24 b.rike.test a.rike.test wait "")"
rk_start a ra "$(rk_conf ra $OUT_A $OUT_B 10.10.1.0/24 10.10.2.0/24 a.rike.test b.rike.test start \
	"keylog = { directory = \"$KEYDIR\"; };")"
wait_until 15 rk_up ra || rk_fail "no tunnel"
wait_until 5 rows ikev2_decryption_table 1 || rk_fail "no IKE key row"
wait_until 5 rows esp_sa 2 || rk_fail "no ESP key rows"
rk_ctl ra rekey-ike k >/dev/null || rk_fail "rikectl rekey-ike"
wait_until 10 rows ikev2_decryption_table 2 || rk_fail "no key row for the rekeyed IKE SA"
ns_exec a ping -c $PINGS -i 0.2 -W 2 -I $IN_A $IN_B >"$RK_RUN/ping.out" 2>&1 ||
	rk_fail "ping through the tunnel: $(cat "$RK_RUN/ping.out")"
sleep 0.5 # the old IKE SA's delete completes
rk_ctl ra dpd k >/dev/null || rk_fail "rikectl dpd"
sleep 0.5
tshark_stop k.pcapng
rk_stop a ra
rk_stop b rb

# ---------------------------------------------------------------- the files

for f in ikev2_decryption_table esp_sa; do
	mode=$(stat -c %a "$KEYDIR/$f")
	[[ $mode == 600 ]] || rk_fail "$f has mode $mode, not 600"
done
[[ $(stat -c %a "$KEYDIR") == 700 ]] || rk_fail "key directory mode $(stat -c %a "$KEYDIR")"
grep -q 'keylog.*anyone who can read' "$(rk_log_file ra)" || rk_fail "no keylog warning in the log"
rk_log "ikev2_decryption_table: $(grep -vc '^#' "$KEYDIR/ikev2_decryption_table") rows," \
	"esp_sa: $(grep -vc '^#' "$KEYDIR/esp_sa") rows, mode 600"
sed -n 's/^\([0-9a-f]*,[0-9a-f]*\),.*,\("[^"]*"\),.*,\("[^"]*"\)$/  \1 \2 \3/p' \
	"$KEYDIR/ikev2_decryption_table" >&2
grep -v '^#' "$KEYDIR/esp_sa" | cut -d, -f1-5,7 | sed 's/^/  /' >&2

# ---------------------------------------------------------------- tshark

EMPTY="$RK_RUN/empty-conf"
mkdir -p "$EMPTY"
spi=$(grep -v '^#' "$KEYDIR/ikev2_decryption_table" | sed -n 2p | cut -d, -f1)

# SUMMARY (python3) over one tshark read: the FQDN IDs of IKE_AUTH; the
# inner echo requests a->b and replies b->a; the INFORMATIONALs of IKE SA
# argv[1] that decrypted (the pad length is a field of the decrypted
# payload). Prints "ids requests replies informationals".
SUMMARY='
import sys
ids, req, rep, inf = set(), 0, 0, 0
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    ex, ispi, pad, fqdn, src, dst, icmp = (f + [""] * 7)[:7]
    if ex == "35":
        ids.update(x for x in fqdn.split(",") if x)
    if ex == "37" and ispi == sys.argv[1] and pad:
        inf += 1
    s, d = src.split(","), dst.split(",")
    if icmp and len(s) == 2:
        if (s[1], d[1], icmp) == (sys.argv[2], sys.argv[3], "8"):
            req += 1
        if (s[1], d[1], icmp) == (sys.argv[3], sys.argv[2], "0"):
            rep += 1
print(" ".join(sorted(ids)) or "-", req, rep, inf)
'
summary() {
	ts k.pcapng "$1" -T fields -E occurrence=a -E aggregator=, -e isakmp.exchangetype \
		-e isakmp.ispi -e isakmp.enc.pad_length -e isakmp.id.data.fqdn -e ip.src -e ip.dst \
		-e icmp.type | python3 -c "$SUMMARY" "$spi" $IN_A $IN_B
}

read -r id req rep inf < <(summary "$EMPTY")
[[ "$id $req $rep $inf" == "- 0 0 0" ]] ||
	rk_fail "without keys tshark decrypted something: IDs '$id', $req/$rep ICMP, $inf INFORMATIONALs"
read -r id1 id2 req rep inf < <(summary "$KEYDIR")
[[ "$id1 $id2" == "a.rike.test b.rike.test" ]] || rk_fail "IKE_AUTH IDs with the keys: '$id1 $id2'"
rk_log "tshark with the exported keys: IKE_AUTH IDi/IDr = $id1 $id2"
((req == PINGS && rep == PINGS)) ||
	rk_fail "inner ICMP decrypted: $req requests, $rep replies (want $PINGS each)"
rk_log "tshark with the exported keys: $req inner echo requests, $rep replies"
# The rekeyed IKE SA (the second row): the liveness check and its QCD
# token travel on it (the old SA's delete on the old one).
((inf >= 2)) || rk_fail "INFORMATIONALs of the rekeyed IKE SA $spi decrypted: $inf"
rk_log "tshark: $inf INFORMATIONALs of the rekeyed IKE SA $spi decrypt"

# ---------------------------------------------------------------- rikectl decode

"$RIKECTL" decode "$RK_RUN/k.pcapng" --keys "$KEYDIR/ikev2_decryption_table" >"$RK_RUN/decode.txt" 2>&1 ||
	rk_fail "rikectl decode failed: $(tail -5 "$RK_RUN/decode.txt")"
sk=$(grep -c 'SK type=46' "$RK_RUN/decode.txt")
ok=$(grep -c 'SK type=46.* icv=verified' "$RK_RUN/decode.txt")
((sk >= 6 && ok == sk)) || rk_fail "rikectl decode verified $ok of $sk SK payloads (see $RK_RUN/decode.txt)"
grep -q 'IDi .*value="a\.rike\.test"' "$RK_RUN/decode.txt" &&
	grep -q 'IDr .*value="b\.rike\.test"' "$RK_RUN/decode.txt" ||
	rk_fail "rikectl decode shows no decrypted IDi/IDr (see $RK_RUN/decode.txt)"
rk_log "rikectl decode --keys: $ok/$sk SK payloads verified and decrypted, IDi/IDr shown"
rk_pass
