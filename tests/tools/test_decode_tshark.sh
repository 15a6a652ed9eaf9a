#!/bin/bash
# `rikectl decode --json` against tshark on every capture in $RIKE_SHARED/captures:
# per frame, the payload types, lengths and notify types must agree, outside
# and (with the key tables) inside SK. Frames rike rejects as malformed or
# tshark does not dissect as IKEv2 are reported; the captures listed as
# well-formed must agree completely. Needs tshark (skipped, 77, without it).
set -u

BIN=${RIKE_BIN:-${RIKE_BUILD:-}}
CAP=${RIKE_SHARED:-}/captures
SRC=${RIKE_SRC:-$(dirname "$0")/../..}
if ! command -v tshark >/dev/null 2>&1; then
	echo "tshark not installed: skipping"
	exit 77
fi
if [ -z "${RIKE_SHARED:-}" ] || [ ! -d "$CAP" ]; then
	echo "captures not found (RIKE_SHARED): skipping"
	exit 77
fi
if [ ! -x "$BIN/rikectl" ]; then
	echo "rikectl not built in '$BIN'"
	exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export HOME=$TMP/home # an empty Wireshark profile: only -o options apply
mkdir -p "$HOME"

fail=0
total=0
inner=0
strict_files=0

# run FILE TABLE|- strict|lenient [PDML OFFSET]: PDML, when given, is
# tshark's output for FILE already, its first frame numbered OFFSET+1.
run() {
	local file=$1 table=$2 mode=$3 pdml=${4:-} offset=${5:-0} name
	local -a topts=() kopts=()
	name=${file#"$CAP"/}
	if [ "$table" != - ]; then
		kopts=(--keys "$table")
		while IFS= read -r row; do
			case "$row" in '#'* | '') continue ;; esac
			topts+=(-o "uat:ikev2_decryption_table:$row")
		done <"$table"
	fi
	if ! "$BIN/rikectl" decode --json "$file" "${kopts[@]}" >"$TMP/rike.json" 2>"$TMP/rike.err"; then
		echo "$name: rikectl failed: $(cat "$TMP/rike.err")"
		fail=1
		return
	fi
	if [ -n "$pdml" ]; then
		cp "$pdml" "$TMP/ts.xml"
	elif ! tshark -r "$file" "${topts[@]}" -T pdml >"$TMP/ts.xml" 2>"$TMP/ts.err"; then
		echo "$name: tshark failed: $(head -3 "$TMP/ts.err")"
		[ "$mode" = strict ] && fail=1
		return
	fi
	local -a strict=()
	[ "$mode" = strict ] && strict=(--strict) && strict_files=$((strict_files + 1))
	python3 "$SRC/tests/tools/compare_tshark.py" --rike "$TMP/rike.json" --pdml "$TMP/ts.xml" \
		--name "$name" --frame-offset "$offset" "${strict[@]}" >"$TMP/cmp.out"
	local rc=$?
	cat "$TMP/cmp.out"
	[ $rc -ne 0 ] && fail=1
	local n i
	n=$(sed -n 's/.* compared=\([0-9]*\) .*/\1/p' "$TMP/cmp.out" | tail -1)
	i=$(sed -n 's/.* inner_compared=\([0-9]*\).*/\1/p' "$TMP/cmp.out" | tail -1)
	total=$((total + ${n:-0}))
	inner=$((inner + ${i:-0}))
}

WS=$CAP/wireshark/ikev2_decryption_table
for f in "$CAP"/wireshark/*.pcap "$CAP"/wireshark/*.pcapng; do
	run "$f" "$WS" strict
done
for f in "$CAP"/openswan/ct12-parentI1.pcap "$CAP"/openswan/ct12-parentI2.pcap; do
	run "$f" "$CAP/openswan/ikev2_decryption_table" strict
done
run "$CAP/tcpdump/ikev2pI2.pcap" "$CAP/tcpdump/ikev2_decryption_table" strict
for f in ikev2four.pcap ikev2-id-normal.pcap; do
	run "$CAP/tcpdump/$f" - strict
done
run "$CAP/misc/suricata-verify_IKEv2_SA_INIT_2-8-weak.pcap" - strict
# Robustness inputs: malformed, IKEv1, fake keys. Compared where both sides
# dissect. There are about 170 of them: tshark dissects them all in one run
# (mergecap -a keeps each file's frames together and in order) and the PDML
# is cut back per file, instead of starting tshark 170 times (minutes of CI).
lenient=()
for f in "$CAP"/tcpdump/*.pcap "$CAP"/tcpdump/*.pcapng "$CAP"/openswan/unit-pcaps/*.pcap; do
	case "$f" in
	*/ikev2pI2.pcap | */ikev2four.pcap | */ikev2-id-normal.pcap) continue ;;
	esac
	[ -e "$f" ] && lenient+=("$f")
done
mkdir -p "$TMP/split"
if mergecap -a -F pcapng -w "$TMP/all.pcapng" "${lenient[@]}" 2>/dev/null &&
	tshark -r "$TMP/all.pcapng" -T pdml >"$TMP/all.xml" 2>/dev/null &&
	capinfos -T -c -r "${lenient[@]}" >"$TMP/counts" 2>/dev/null &&
	python3 "$SRC/tests/tools/compare_tshark.py" split "$TMP/all.xml" "$TMP/counts" "$TMP/split"; then
	for i in "${!lenient[@]}"; do
		run "${lenient[$i]}" - lenient "$TMP/split/$i.xml" "$(cat "$TMP/split/$i.offset")"
	done
else
	echo "one tshark run over the merged captures failed: one run per file"
	for f in "${lenient[@]}"; do
		run "$f" - lenient
	done
fi

echo "TOTAL: frames compared=$total inner payloads compared=$inner strict captures=$strict_files"
if [ "$total" -lt 150 ] || [ "$inner" -lt 100 ]; then
	echo "too few frames compared (want >= 150 frames and >= 100 inner payloads)"
	fail=1
fi
exit $fail
