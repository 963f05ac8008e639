#!/bin/bash
# --share HOSTDIR,tag=TAG[,readonly]: kvmrun starts virtiofsd itself, the
# virtio_fs test guest (a FUSE client) uses the directory, and kvmrun stops the
# daemon and removes its socket when the VM ends.
#
#   share.sh RUN_GUEST KVMRUN GUEST TRANSPORT MODE     MODE: rw, readonly or snapshot
#
# rw: the guest reads hello.txt (unique to this run), creates fromguest.txt
#   (on the host afterwards, with the guest's text) and lists the directory.
# readonly: the guest's CREATE fails with EROFS and the directory is
#   byte-for-byte what it was.
# snapshot: GUEST is snapdev, which asks for a snapshot through the guest port:
#   kvmrun refuses it in one line (virtio-fs state lives in virtiofsd), the
#   guest sees "snapshot: none" and goes on to PASS, no state file is written.
# All: no virtiofsd started for this directory is left, nor its socket.
set -u
run=$1 kvmrun=$2 guest=$3 transport=$4 mode=$5
[ -x /usr/lib/qemu/virtiofsd ] || [ -n "${KVMRUN_VIRTIOFSD:-}" ] ||
	{ echo "SKIP: no virtiofsd (Debian: apt-get install qemu-system-common)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: virtiofsd needs root to serve a directory"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
share=$tmp/share; mkdir "$share"
content="hello from the host $$-$RANDOM"
printf '%s' "$content" >"$share/hello.txt"
export TMPDIR=$tmp	# where kvmrun puts the daemon's socket directory
fail() { echo "FAIL: $*"; exit 1; }

if [ "$mode" = snapshot ]; then
	"$run" --needs-kvm --status 33 --out "^snapshot: none" --out "^PASS" \
		--err-count "a VM with --fs or --share cannot be saved" 1 -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --memory 64M --rng \
		--share "$share,tag=s" --snapshot-dir "$tmp/snap" --timeout 60 || exit 1
	[ ! -e "$tmp/snap/state" ] || fail "a snapshot was written"
elif [ "$mode" = readonly ]; then
	before=$(cd "$share" && stat -c "%n %s %Y" . ./* && md5sum hello.txt)
	"$run" --needs-kvm --status 33 --out "^virtio-fs: device on virtio-$transport " \
		--out "^virtio-fs: read '$content'\$" --out "^virtio-fs: CREATE fromguest\\.txt refused: EROFS" \
		--out "^PASS" -- "$kvmrun" run --kernel "$guest" --transport "$transport" \
		--share "$share,tag=ro,readonly" --timeout 60 --append "fs=check fs_tag=ro fs_readonly=1" || exit 1
	after=$(cd "$share" && stat -c "%n %s %Y" . ./* && md5sum hello.txt)
	[ "$before" = "$after" ] || fail "the read-only directory changed"
else
	"$run" --needs-kvm --status 33 --out "^virtio-fs: device on virtio-$transport " \
		--out "^virtio-fs: read '$content'\$" --out "^virtio-fs: created fromguest\\.txt " \
		--out "^virtio-fs: entry hello\\.txt\$" --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --share "$share,tag=rw" \
		--timeout 60 --append "fs=check fs_tag=rw" || exit 1
	[ "$(cat "$share/fromguest.txt" 2>/dev/null)" = "written by the guest" ] ||
		fail "fromguest.txt is not on the host with the guest's text"
fi
pgrep -f "virtiofsd.*source=$share" >/dev/null && fail "a virtiofsd for $share is still running"
left=$(find "$tmp" -maxdepth 1 -name 'kvmrun-share-*')
[ -z "$left" ] || fail "kvmrun left its socket directory: $left"
echo "ok: $mode"
