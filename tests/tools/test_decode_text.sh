#!/bin/bash
# `rikectl decode`'s text output can be parsed (rikectl(8), decode): every
# line splits like a shell word list into a label and key=value pairs (or
# bare flags), values with spaces or quotes come back whole, and they are
# the same strings the --json output has for every capture in
# $RIKE_SHARED/captures.
set -u

BIN=${RIKE_BIN:-${RIKE_BUILD:-}}
CAP=${RIKE_SHARED:-}/captures
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
fail=0
n=0
for f in "$CAP"/*/*.pcap "$CAP"/*/*.pcapng; do
	[ -e "$f" ] || continue
	"$BIN/rikectl" decode "$f" >"$TMP/text" 2>/dev/null || continue
	"$BIN/rikectl" decode --json "$f" >"$TMP/json" 2>/dev/null || { echo "FAIL: $f: --json failed"; fail=1; continue; }
	n=$((n + 1))
	python3 - "$f" "$TMP/text" "$TMP/json" <<'PY' || fail=1
import collections, json, re, shlex, sys
name, text, js = sys.argv[1:]
word = re.compile(r"^[A-Za-z0-9_]+(=.*)?$", re.S)
seen = collections.Counter()
for ln, line in enumerate(open(text, encoding="latin-1"), 1):
    if not line.strip() or line.startswith("IKE messages:"):
        continue
    try:
        toks = shlex.split(line)
    except ValueError as e:
        sys.exit(f"FAIL: {name}:{ln}: does not split: {e}: {line!r}")
    for t in toks[1:]:
        if not word.match(t):
            sys.exit(f"FAIL: {name}:{ln}: token {t!r} is not key=value: {line!r}")
        k, _, v = t.partition("=")
        if k in ("type_name", "reason", "group_name", "notify_name"):
            seen[(k, v)] += 1
want = collections.Counter()
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("type_name", "reason", "group_name", "notify_name") and isinstance(v, str):
                want[(k, v)] += 1
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(js)))
if seen != want:
    sys.exit(f"FAIL: {name}: text and JSON values differ: text-only {dict(seen - want)}, json-only {dict(want - seen)}")
spaced = sum(c for (k, v), c in seen.items() if " " in v)
print(f"{name}: {sum(seen.values())} values agree ({spaced} with spaces)")
PY
done
[ "$n" -gt 0 ] || { echo "FAIL: no capture decoded"; fail=1; }
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
