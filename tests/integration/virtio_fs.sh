#!/bin/bash
# virtio-fs through vhost-user with the real virtiofsd: the virtio_fs test
# guest reads the host's hello.txt, creates fromguest.txt and lists the root.
#
#   virtio_fs.sh RUN_GUEST KVMRUN GUEST TRANSPORT
#
#   RUN_GUEST  tests/integration/run_guest.sh (checks the status and the output)
#   KVMRUN     the kvmrun binary
#   GUEST      build/guests/virtio_fs.elf
#   TRANSPORT  pci or mmio (the guest must find the device there)
#
# Needs root and virtiofsd ($VIRTIOFSD, else /usr/lib/qemu/virtiofsd from
# Debian's qemu-system-common, else virtiofsd on PATH; it must take QEMU 7.2's
# --socket-path and -o options); otherwise it reports SKIP and exits 77.
# virtiofsd shares a fresh temporary directory and is stopped on every exit
# path.
#
# Checked: kvmrun exits 33 (the guest's PASS); the guest found the device on
# TRANSPORT with the tag kvmrun-fs, read hello.txt's content (unique to this
# run), created fromguest.txt and listed hello.txt in the root; and on the
# host fromguest.txt holds exactly the guest's text and hello.txt is unchanged.
set -u
run=$1 kvmrun=$2 guest=$3 transport=$4
tag="kvmrun-fs"
text="written by the guest"	# what guests/virtio_fs.c writes

vfsd=${VIRTIOFSD:-}
if [ -z "$vfsd" ]; then
	for c in /usr/lib/qemu/virtiofsd "$(command -v virtiofsd)"; do
		[ -n "$c" ] && [ -x "$c" ] && { vfsd=$c; break; }
	done
fi
[ -n "$vfsd" ] || { echo "SKIP: no virtiofsd (Debian: apt-get install qemu-system-common)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: virtiofsd needs root to serve a directory (running as $(id -un))"; exit 77; }

tmp=$(mktemp -d)
vfsd_pid=""
cleanup() {
	if [ -n "$vfsd_pid" ]; then
		kill "$vfsd_pid" 2>/dev/null
		wait "$vfsd_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM	# so that cleanup runs on a ctest timeout too
share=$tmp/share sock=$tmp/fs.sock
mkdir "$share" || exit 1
content="hello from the host $$-$RANDOM"
printf '%s' "$content" >"$share/hello.txt" || exit 1

# start_vfsd [OPTIONS...]: starts virtiofsd; 0 once its socket exists (at most 10 s).
start_vfsd() {
	rm -f "$sock"
	"$vfsd" --socket-path="$sock" -o source="$share" -o cache=none "$@" >"$tmp/virtiofsd.log" 2>&1 &
	vfsd_pid=$!
	for _ in $(seq 1 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$vfsd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$vfsd_pid" 2>/dev/null
	wait "$vfsd_pid" 2>/dev/null
	vfsd_pid=""
	return 1
}
# Namespace sandboxing fails inside some containers; chroot is virtiofsd's fallback there.
if ! start_vfsd && ! start_vfsd -o sandbox=chroot; then
	echo "FAIL: $vfsd did not create $sock within 10 s"
	cat "$tmp/virtiofsd.log"
	exit 1
fi

"$run" --needs-kvm --status 33 --out "^virtio-fs: device on virtio-$transport " \
	--out "^virtio-fs: tag '$tag', " --out "^virtio-fs: read '$content'\$" \
	--out "^virtio-fs: created fromguest\\.txt " --out "^virtio-fs: entry hello\\.txt\$" \
	--out "^virtio-fs: entry fromguest\\.txt\$" --out "^PASS" -- \
	"$kvmrun" run --kernel "$guest" --transport "$transport" --fs "socket=$sock,tag=$tag" --timeout 60 \
	--append "fs=check fs_tag=$tag" || { echo "--- virtiofsd ---"; tail -c 2000 "$tmp/virtiofsd.log"; exit 1; }

[ -f "$share/fromguest.txt" ] || { echo "FAIL: the guest's fromguest.txt is not in the shared directory"; exit 1; }
printf '%s' "$text" | cmp - "$share/fromguest.txt" ||
	{ echo "FAIL: fromguest.txt holds '$(head -c 200 "$share/fromguest.txt")', expected '$text'"; exit 1; }
printf '%s' "$content" | cmp - "$share/hello.txt" || { echo "FAIL: hello.txt changed"; exit 1; }
echo "ok: $transport"
