#!/usr/bin/env bash
# Build and run one libFuzzer target, seeded from the captures.
# Usage: scripts/fuzz.sh TARGET [SECONDS]
#   TARGET: decode, sk, skf, config, ctl, keytable (tests/fuzz/fuzz_TARGET.c); default 600 s.
# Extra libFuzzer options may follow in FUZZ_ARGS (e.g. FUZZ_ARGS=-max_len=8192).
# Findings land in fuzz-out/TARGET/; the corpus grows in fuzz-out/TARGET/corpus.
# One process (-jobs is not used): the build machines are small and shared.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}
secs=${2:-600}
[ -f "tests/fuzz/fuzz_$target.c" ] || { echo "fuzz.sh: no target tests/fuzz/fuzz_$target.c" >&2; exit 2; }
bash scripts/deps.sh
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIKE_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-fuzz --target "fuzz_$target" rikectl -j"$(nproc)"
out=fuzz-out/$target
shared=../shared
rm -rf "$out/seeds" "$out/dump"
mkdir -p "$out/corpus" "$out/seeds" "$out/dump"
# Every IKE datagram of every capture, extracted by rikectl; make_seeds.py
# turns them (and the captures' SK plaintexts, key tables, example configs)
# into the target's input format.
if [ -d "$shared/captures" ]; then
	find "$shared/captures" -name '*.pcap*' -print0 |
		xargs -0 -n1 build-fuzz/rikectl decode --dump-dir "$out/dump" >/dev/null 2>&1 || true
fi
python3 tests/fuzz/make_seeds.py "$target" "$out/dump" "$shared" . "$out/seeds"
# Past findings are seeds too.
if [ -d "tests/fuzz/regressions/$target" ]; then
	cp tests/fuzz/regressions/"$target"/* "$out/seeds/" 2>/dev/null || true
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
# Leaks in libraries rike does not own, each explained in the file.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck disable=SC2086
exec "build-fuzz/fuzz_$target" -max_total_time="$secs" -print_final_stats=1 \
	-artifact_prefix="$out/" ${FUZZ_ARGS:-} "$out/corpus" "$out/seeds"
