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
	"$BIN/rikectl" decode "$f" >"$TMP/$n.text" 2>/dev/null || continue
	if ! "$BIN/rikectl" decode --json "$f" >"$TMP/$n.json" 2>/dev/null; then
		echo "FAIL: $f: --json failed"
		fail=1
		continue
	fi
	echo "$f" >"$TMP/$n.name"
	n=$((n + 1))
done
# One Python run over all of them (CI time).
python3 - "$TMP" "$n" <<'PY' || fail=1
import collections, json, re, shlex, sys
tmp, count = sys.argv[1], int(sys.argv[2])
word = re.compile(r"^[A-Za-z0-9_]+(=.*)?$", re.S)
keys = ("type_name", "reason", "group_name", "notify_name")
bad = 0
total = spaced = 0
for i in range(count):
    name = open(f"{tmp}/{i}.name").read().strip()
    seen = collections.Counter()
    try:
        for ln, line in enumerate(open(f"{tmp}/{i}.text", encoding="latin-1"), 1):
            if not line.strip() or line.startswith("IKE messages:"):
                continue
            try:
                toks = shlex.split(line)
            except ValueError as e:
                raise SystemExit(f"FAIL: {name}:{ln}: does not split: {e}: {line!r}")
            for t in toks[1:]:
                if not word.match(t):
                    raise SystemExit(f"FAIL: {name}:{ln}: token {t!r} is not key=value: {line!r}")
                k, _, v = t.partition("=")
                if k in keys:
                    seen[(k, v)] += 1
    except SystemExit as e:
        print(e)
        bad = 1
        continue
    want = collections.Counter()
    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in keys and isinstance(v, str):
                    want[(k, v)] += 1
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.load(open(f"{tmp}/{i}.json")))
    if seen != want:
        print(f"FAIL: {name}: text and JSON differ: text-only {dict(seen - want)}, json-only {dict(want - seen)}")
        bad = 1
    total += sum(seen.values())
    spaced += sum(c for (k, v), c in seen.items() if " " in v)
print(f"{count} captures: {total} values agree between text and JSON ({spaced} with spaces)")
sys.exit(bad)
PY
[ "$n" -gt 0 ] || { echo "FAIL: no capture decoded"; fail=1; }
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
