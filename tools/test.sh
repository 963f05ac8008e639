#!/bin/bash
# The whole test suite from scratch: installs packages, builds kvmrun and the
# test guests, runs every test through ctest, then does it all again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then runs every libFuzzer
# target for $KVMRUN_FUZZ_SECONDS (default 30) as a regression check.
# Usage: tools/test.sh [--quick]   (--quick: only the first pass).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh test
jobs=$(nproc)

echo "== Linux test guest (built once per machine, then cached)"
KVMRUN_LINUX_DIR=$(tools/build-linux-guest.sh | tail -n 1)
export KVMRUN_LINUX_DIR
echo "   $KVMRUN_LINUX_DIR"

echo "== build (RelWithDebInfo)"
rm -rf build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
echo "== tests"
(cd build && ctest --output-on-failure -j2)

[ "${1:-}" = --quick ] && exit 0

echo "== build (AddressSanitizer + UBSan)"
rm -rf build-asan
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKVMRUN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
echo "== tests under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
(cd build-asan && ctest --output-on-failure -j2)

echo "== fuzz targets (tools/fuzz.sh), ${KVMRUN_FUZZ_SECONDS:-30} s each"
tools/fuzz.sh --time "${KVMRUN_FUZZ_SECONDS:-30}"
