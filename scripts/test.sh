#!/usr/bin/env bash
# Run every test: a normal build and an ASan+UBSan build, each with the whole CTest suite.
# Usage: scripts/test.sh [--quick]   (--quick: normal build only, unit tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
quick=0; [ "${1:-}" = "--quick" ] && quick=1
# libreswan 4.10 as an interop peer, unpacked beside strongSwan (its package
# conflicts with strongSwan's); without it the libreswan tests skip.
if [ $quick -eq 0 ] && [ "$(id -u)" -eq 0 ] && [ ! -x /var/cache/rike-interop/libreswan/usr/libexec/ipsec/pluto ]; then
	bash tests/interop/get-libreswan.sh >/dev/null || echo "libreswan could not be unpacked: its tests will skip"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [ $quick -eq 1 ]; then
	ctest --test-dir build -L unit --output-on-failure -j"$jobs"
	exit 0
fi
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRIKE_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	ctest --test-dir build-asan -L 'unit|tools' --output-on-failure -j"$jobs"

# Formatting is checked on the sources we write (generated files excluded).
bash scripts/format.sh --check
