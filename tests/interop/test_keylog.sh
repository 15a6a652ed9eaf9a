#!/bin/bash
#
# test_keylog.sh: riked's debugging key export (riked.conf(5) KEY EXPORT)
# decrypts riked's own IKE and ESP in tshark and in rikectl decode.
#
#   inner 10.10.1.1, 10.10.3.1 (lo)              inner 10.10.2.1, 10.10.4.1 (lo)
#   +------ ns a ------+  to_b 10.77.0.1/24           +------ ns b ------+
#   | riked "ra"       |------------------------------| riked "rb"       |
#   | keylog on        |   tshark    10.77.0.2/24 to_a|                  |
#   +------------------+                              +------------------+
#
# riked a (initiator, keylog = { directory = ... }) brings up two
# connections with riked b, each its own IKE SA: "k" (IKE aes128-sha256,
# ESP aes128-sha256: cipher + integrity keys) between 10.10.1.0/24 and
# 10.10.2.0/24, and "g" (IKE and ESP aes256gcm16: AEAD keys with their
# salt) between 10.10.3.0/24 and 10.10.4.0/24. It rekeys k's IKE SA (a
# third row, RFC 7296 2.18 keys), pings through both tunnels and sends an
# INFORMATIONAL on the new IKE SA (rikectl dpd), while tshark captures a's
# outer veth. Then:
#   - the files are mode 0600 and riked logged its warning; b (keylog on
#     too) wrote the same rows, from the responder's side of each SA;
#   - without keys, tshark shows neither the IDs of IKE_AUTH nor inner ICMP
#     (the control: the capture is encrypted);
#   - with tshark's configuration directory pointed at the export, tshark
#     shows both IKE_AUTHs' IDi and IDr, the INFORMATIONALs of the rekeyed
#     IKE SA decrypted, and every echo request and reply of the pings as
#     inner ICMP in both tunnels;
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
IN_A2=10.10.3.1
IN_B2=10.10.4.1
KEYDIR="$RK_RUN/keys"
KEYDIR_B="$RK_RUN/keys-b"

# rk_conf NAME SIDE(a|b) START EXTRA_GLOBALS: connections k and g. The
# responder answers IKE_SA_INIT with the first connection that fits the
# addresses (k) before IDs pick one, so b's k also offers g's IKE suite.
rk_conf() {
	local l=$OUT_A r=$OUT_B me=a you=b lk=10.10.1.0/24 rk=10.10.2.0/24 lg=10.10.3.0/24 rg=10.10.4.0/24
	local ike_k=aes128-sha256-prfsha256-x25519
	if [[ $2 == b ]]; then
		l=$OUT_B r=$OUT_A me=b you=a lk=10.10.2.0/24 rk=10.10.1.0/24 lg=10.10.4.0/24 rg=10.10.3.0/24
		ike_k="$ike_k\", \"aes256gcm16-prfsha256-x25519"
	fi
	cat <<-EOF
		riked = { log = "stderr"; log_level = "debug"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state"; $4 };
		connections = ( $(swrk_riked_conn k $l $r $me.rike.test $you.rike.test $lk $rk \
			"$ike_k" aes128-sha256 "$3"),
			$(swrk_riked_conn g $l $r ${me}2.rike.test ${you}2.rike.test $lg $rg \
			aes256gcm16-prfsha256-x25519 aes256gcm16 "$3") );
	EOF
}

# shellcheck disable=SC2317 # called through wait_until
rk_up() {
	local out
	out=$(rk_ctl "$1" list-sas 2>/dev/null) || return 1
	(($(grep -c "reqid [0-9]*, INSTALLED" <<<"$out") == 2))
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
ns_addr a lo "$IN_A2/32"
ns_addr b lo "$IN_B2/32"
tshark_start a to_b k.pcapng ""
rk_start b rb "$(rk_conf rb b wait "keylog = { directory = \"$KEYDIR_B\"; };")"
rk_start a ra "$(rk_conf ra a start "keylog = { directory = \"$KEYDIR\"; };")"
wait_until 20 rk_up ra || rk_fail "no tunnels"
wait_until 5 rows ikev2_decryption_table 2 || rk_fail "no IKE key rows"
wait_until 5 rows esp_sa 4 || rk_fail "no ESP key rows"
rk_ctl ra rekey-ike k >/dev/null || rk_fail "rikectl rekey-ike"
wait_until 10 rows ikev2_decryption_table 3 || rk_fail "no key row for the rekeyed IKE SA"
for p in "$IN_A $IN_B" "$IN_A2 $IN_B2"; do
	read -r src dst <<<"$p"
	ns_exec a ping -c $PINGS -i 0.2 -W 2 -I "$src" "$dst" >"$RK_RUN/ping.out" 2>&1 ||
		rk_fail "ping $src -> $dst through the tunnel: $(cat "$RK_RUN/ping.out")"
done
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

# b (the responder) exported the same SAs: the same rows, in its order.
for f in ikev2_decryption_table esp_sa; do
	diff <(grep -v '^#' "$KEYDIR/$f" | sort) <(grep -v '^#' "$KEYDIR_B/$f" | sort) >&2 ||
		rk_fail "$f: the responder's rows differ from the initiator's"
done
rk_log "the responder exported the same rows as the initiator"

# ---------------------------------------------------------------- tshark

EMPTY="$RK_RUN/empty-conf"
mkdir -p "$EMPTY"
spi=$(grep -v '^#' "$KEYDIR/ikev2_decryption_table" | sed -n 3p | cut -d, -f1)

# SUMMARY (python3) over one tshark read: the FQDN IDs of IKE_AUTH; the
# INFORMATIONALs of IKE SA argv[1] that decrypted (the pad length is a
# field of the decrypted payload); for each address pair argv[2:], the
# inner echo requests one way and replies the other.
# Prints "ids,... informationals requests replies requests replies".
SUMMARY='
import sys
pairs = [tuple(sys.argv[i:i + 2]) for i in range(2, len(sys.argv), 2)]
ids, inf, icmp_n = set(), 0, {}
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    ex, ispi, pad, fqdn, src, dst, icmp = (f + [""] * 7)[:7]
    if ex == "35":
        ids.update(x for x in fqdn.split(",") if x)
    if ex == "37" and ispi == sys.argv[1] and pad:
        inf += 1
    s, d = src.split(","), dst.split(",")
    if icmp and len(s) == 2:
        icmp_n[(s[1], d[1], icmp)] = icmp_n.get((s[1], d[1], icmp), 0) + 1
out = [",".join(sorted(ids)) or "-", str(inf)]
for a, b in pairs:
    out += [str(icmp_n.get((a, b, "8"), 0)), str(icmp_n.get((b, a, "0"), 0))]
print(" ".join(out))
'
summary() {
	ts k.pcapng "$1" -T fields -E occurrence=a -E aggregator=, -e isakmp.exchangetype \
		-e isakmp.ispi -e isakmp.enc.pad_length -e isakmp.id.data.fqdn -e ip.src -e ip.dst \
		-e icmp.type | python3 -c "$SUMMARY" "$spi" $IN_A $IN_B $IN_A2 $IN_B2
}

read -r id inf n1 n2 n3 n4 < <(summary "$EMPTY")
[[ "$id $inf $n1 $n2 $n3 $n4" == "- 0 0 0 0 0" ]] ||
	rk_fail "without keys tshark decrypted something: IDs '$id', $inf INFORMATIONALs, ICMP $n1/$n2/$n3/$n4"
read -r id inf n1 n2 n3 n4 < <(summary "$KEYDIR")
[[ $id == "a.rike.test,a2.rike.test,b.rike.test,b2.rike.test" ]] ||
	rk_fail "IKE_AUTH IDs with the keys: '$id'"
rk_log "tshark with the exported keys: IKE_AUTH IDs $id"
[[ "$n1 $n2 $n3 $n4" == "$PINGS $PINGS $PINGS $PINGS" ]] ||
	rk_fail "inner ICMP decrypted (requests/replies k, then g): $n1/$n2 $n3/$n4, want $PINGS each"
rk_log "tshark with the exported keys: inner echo requests/replies k (AES-CBC + SHA-256)" \
	"$n1/$n2, g (AES-GCM) $n3/$n4"
# The rekeyed IKE SA (the third row): the liveness check and its QCD
# token travel on it (the old SA's delete on the old one).
((inf >= 2)) || rk_fail "INFORMATIONALs of the rekeyed IKE SA $spi decrypted: $inf"
rk_log "tshark: $inf INFORMATIONALs of the rekeyed IKE SA $spi decrypt"

# ---------------------------------------------------------------- rikectl decode

"$RIKECTL" decode "$RK_RUN/k.pcapng" --keys "$KEYDIR/ikev2_decryption_table" >"$RK_RUN/decode.txt" 2>&1 ||
	rk_fail "rikectl decode failed: $(tail -5 "$RK_RUN/decode.txt")"
sk=$(grep -c 'SK type=46' "$RK_RUN/decode.txt")
ok=$(grep -c 'SK type=46.* icv=verified' "$RK_RUN/decode.txt")
((sk >= 8 && ok == sk)) || rk_fail "rikectl decode verified $ok of $sk SK payloads (see $RK_RUN/decode.txt)"
grep -q 'IDi .*value=a\.rike\.test$' "$RK_RUN/decode.txt" &&
	grep -q 'IDr .*value=b\.rike\.test$' "$RK_RUN/decode.txt" ||
	rk_fail "rikectl decode shows no decrypted IDi/IDr (see $RK_RUN/decode.txt)"
rk_log "rikectl decode --keys: $ok/$sk SK payloads verified and decrypted, IDi/IDr shown"
rk_pass
