#!/bin/bash
# /dev/kvm without permission: one line that says what to do.
run=$1 kvmrun=$2 kernel=$3
if [ "$(id -u)" != 0 ]; then
	[ -w /dev/kvm ] && { echo "SKIP: needs root to drop into a user without /dev/kvm access"; exit 77; }
	exec "$run" --status 1 --err-lines 1 --err "permission denied - add your user to the kvm group" -- \
		"$kvmrun" run --kernel "$kernel"
fi
command -v setpriv >/dev/null || { echo "SKIP: setpriv missing"; exit 77; }
[ -e /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
# nobody, with no supplementary groups, cannot open a root-owned 0660 device.
if setpriv --reuid=65534 --regid=65534 --clear-groups test -w /dev/kvm; then
	echo "SKIP: /dev/kvm is writable by everyone here"; exit 77
fi
exec "$run" --status 1 --err-lines 1 --err "permission denied - add your user to the kvm group" -- \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$kvmrun" run --kernel "$kernel"
