#!/bin/bash
# A stop is a promise also for a background job on a terminal: timeout(1)
# runs kvmrun in a process group of its own, so kvmrun is in the background
# of the terminal its serial console reads.  Before the fix the first read
# of stdin stopped kvmrun with SIGTTIN and timeout's SIGTERM never ended it
# (CI, qemu.reset.reboot under a pty).  Here: a guest that resets forever
# under the QEMU front (a reset boots it again), timeout 2 s, inside a pty
# made by script(1): kvmrun must end with timeout's 124 within the bound.
kvmrun=$1 guest=$2
[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
command -v script > /dev/null || { echo "SKIP: no script(1) (util-linux) to make a pty"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

start=$(date +%s%N)
# script's own timeout only guards the test: the inner one is what is tested.
# setsid and /dev/null: the test may itself run on a terminal (CI does), where
# a script(1) in timeout's background process group would be stopped too.
timeout -k 2 20 setsid -w script -qec "timeout 2 '$kvmrun' qemu -kernel '$guest' -append mode=kbd -nographic \
	> '$dir/out' 2> '$dir/err'; echo \$? > '$dir/rc'" /dev/null < /dev/null > /dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
rc=$(cat "$dir/rc" 2>/dev/null)
boots=$(grep -sc '^resetting via kbd' "$dir/out")
echo "status ${rc:-none} after $ms ms, $boots boots"
[ "$rc" = 124 ] || { echo "FAIL: status ${rc:-none} (kvmrun did not end on timeout's SIGTERM), expected 124"; fail=1; }
[ "$ms" -lt 4500 ] || { echo "FAIL: $ms ms for a 2 s timeout: the stop took longer than its bound"; fail=1; }
[ "${boots:-0}" -ge 2 ] || { echo "FAIL: the guest booted $boots times: it did not run"; fail=1; }
[ $fail = 0 ] && echo PASS
exit $fail
