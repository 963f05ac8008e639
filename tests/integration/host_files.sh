#!/bin/bash
# Host files that are not what kvmrun expects (a FIFO nobody writes, a
# socket, a character device) given as kernel, initrd, disk or serial file:
# one line, status 1, at once.  Before, open() on a FIFO blocked for ever
# with signals blocked and no timeout armed.  Each case runs under a 5 s
# timeout: hanging is a failure, not a pass.
run=$1 kvmrun=$2 guest=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/fifo"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/sock"

fail=0
check() {	# check EXPECTED-ERROR-REGEX KVMRUN-ARGS...
	local want=$1; shift
	if ! "$run" --needs-kvm --status 1 --err-lines 1 --err "$want" --no-out . -- \
		timeout -s KILL 5 "$kvmrun" run --timeout 3 "$@"; then
		echo "host_files: FAILED: kvmrun run $*"
		fail=1
	fi
}

for f in "$tmp/fifo" "$tmp/sock" /dev/zero; do
	check "kernel" --kernel "$f"
	check "initrd" --kernel "$guest" --initrd "$f"
	check "disk" --kernel "$guest" --disk "$f"
	check "disk" --kernel "$guest" --disk "$f,readonly"
done
check "no process reads this FIFO" --kernel "$guest" --serial "file:$tmp/fifo"
check "serial file:$tmp/sock" --kernel "$guest" --serial "file:$tmp/sock"
exit $fail
