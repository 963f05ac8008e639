#!/bin/bash
# From a fresh clone: installs packages, builds kvmrun, and boots a guest.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMRUN_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
build/kvmrun info
echo
echo "== booting the hello test guest: build/kvmrun run --kernel build/guests/hello.elf"
status=0
build/kvmrun run --kernel build/guests/hello.elf --timeout 30 || status=$?
# The test guest reports success through the debug-exit port: status (0x10 << 1) | 1.
if [ "$status" = 33 ]; then
	echo "== the guest booted and reported success (exit status 33)"
else
	echo "== the guest did not report success (exit status $status)" >&2
	exit 1
fi
