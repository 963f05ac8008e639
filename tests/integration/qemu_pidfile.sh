#!/bin/bash
# The QEMU-compatible front's -pidfile: the running kvmrun's pid is in the
# file while the guest runs, and the file is gone once it has ended.
#
#   qemu_pidfile.sh KVMRUN GUEST_DIR
set -u
kvmrun=$1 g=$2
if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "SKIP: /dev/kvm is missing or not accessible"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pidfile=$tmp/kvmrun.pid
"$kvmrun" qemu -kernel "$g/reset.elf" -append mode=hang -nographic -pidfile "$pidfile" \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 100); do
	grep -q "resetting via hang" "$tmp/out" && break
	sleep 0.1
done
got=$(cat "$pidfile" 2>/dev/null)
kill -TERM $pid
wait $pid
rc=$?
[ "$got" = "$pid" ] || { echo "FAIL: pid file held '$got' while kvmrun $pid ran"; cat "$tmp/err"; exit 1; }
[ $rc = 143 ] || { echo "FAIL: exit status $rc after SIGTERM, expected 143"; exit 1; }
[ ! -e "$pidfile" ] || { echo "FAIL: the pid file is still there after the run"; exit 1; }
echo "ok: pid file held $pid and was removed"
