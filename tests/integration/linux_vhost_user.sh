#!/bin/bash
# The Linux test guest on vhost-user devices, served by the real backends.
#
#   linux_vhost_user.sh RUN_GUEST KVMRUN BLKIMG TRANSPORT MODE
#
# fs-root (kernel only; works on PVM hosts): kvmrun --share DIR,tag=kvmrun-root
#   starts virtiofsd; the kernel mounts DIR as its root (root=kvmrun-root
#   rootfstype=virtiofs), runs DIR's /sbin/init, a file that is no program
#   (exec fails, the kernel panics, panic=-1 resets, kvmrun exits 0).  The log
#   shows the virtiofs root mount and the failed exec of /sbin/init; on the
#   host that file's atime moved from 2001 to now: the kernel's read of it
#   crossed virtiofsd into the directory.
# blk-root (kernel only): qemu-storage-daemon exports a fresh ext4 image over
#   vhost-user-blk; the kernel mounts it as root (root=/dev/vda rw) and the
#   superblock's mount count goes up by one in the image (blkimg stat).
# fs-user (userspace: needs VT-x/AMD-V, skipped on PVM hosts): init mounts the
#   share, prints hello.txt and writes fromguest.txt, which the host reads.
#
# The guest comes from $KVMRUN_LINUX_DIR or the cache of tools/build-linux-guest.sh.
set -u
run=$1 kvmrun=$2 blkimg=$3 transport=$4 mode=$5
here=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || skip "/dev/kvm is missing or not accessible"
if [ "$mode" = fs-user ] && "$kvmrun" info | grep -q '^backend: PVM'; then
	skip "PVM host: a guest kernel that is not PVM-aware cannot run userspace here" \
		"(its system calls never reach it); this test needs VT-x or AMD-V"
fi
case "$mode" in
fs-*) [ "$(id -u)" = 0 ] || skip "virtiofsd needs root to serve a directory"
      [ -x /usr/lib/qemu/virtiofsd ] || skip "no virtiofsd (apt-get install qemu-system-common)" ;;
blk-*) command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"
       export PATH=$PATH:/sbin:/usr/sbin
       command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed (e2fsprogs)" ;;
esac
dir=${KVMRUN_LINUX_DIR:-}
if [ -z "$dir" ]; then
	dir=$("$here/tools/build-linux-guest.sh" --cached 2>/dev/null) ||
		skip "the Linux guest is not built: run tools/build-linux-guest.sh (tools/test.sh does)"
fi
tmp=$(mktemp -d)
daemon=""
trap '[ -n "$daemon" ] && kill -9 $daemon 2>/dev/null; rm -rf "$tmp"' EXIT
serial=$tmp/serial.log
base="console=ttyS0 panic=-1 kunit.enable=0 random.trust_cpu=off"

case "$mode" in
fs-root)
	root=$tmp/root
	mkdir -p "$root/sbin" "$root/dev"
	printf 'not a program\n' >"$root/sbin/init"
	chmod 755 "$root/sbin/init"
	touch -a -d 2001-01-01 "$root/sbin/init"
	"$run" --status 0 --needs-kvm --err "guest reset" \
		--file "$serial" "VFS: Mounted root \\(virtiofs filesystem\\)" \
		--file "$serial" "/sbin/init exists but couldn't execute it \\(error -8\\)" \
		--file "$serial" "Kernel panic - not syncing: No working init found" -- \
		"$kvmrun" run -v --transport "$transport" --kernel "$dir/vmlinux" --memory 512M \
		--timeout 300 --share "$root,tag=kvmrun-root" --serial "file:$serial" \
		--append "$base root=kvmrun-root rootfstype=virtiofs rw" ||
		{ echo "--- COM1 ---"; tail -c 3000 "$serial"; exit 1; }
	atime=$(stat -c %X "$root/sbin/init")
	[ "$atime" -gt $(($(date +%s) - 600)) ] ||
		fail "/sbin/init's atime is $(date -d @"$atime"): the kernel's read never reached the directory"
	echo "ok: virtiofs root, /sbin/init read through virtiofsd (atime $(date -d @"$atime" +%T))"
	;;
blk-root)
	img=$tmp/root.img sock=$tmp/blk.sock uuid=$(cat /proc/sys/kernel/random/uuid)
	truncate -s 32M "$img" && mkfs.ext4 -q -F -U "$uuid" "$img" || fail "mkfs.ext4 failed"
	before=$("$blkimg" stat "$img") || fail "blkimg stat cannot read the image"
	qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$img" \
		--export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$sock",writable=on \
		>"$tmp/qsd.log" 2>&1 &
	daemon=$!
	for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
	"$run" --status 0 --needs-kvm --err "guest reset" \
		--file "$serial" "EXT4-fs \\(vda\\): mounted filesystem $uuid r/w" \
		--file "$serial" "VFS: Mounted root \\(ext4 filesystem\\)" -- \
		"$kvmrun" run -v --transport "$transport" --kernel "$dir/vmlinux" --memory 512M \
		--timeout 300 --disk "vhost-user=$sock" --serial "file:$serial" \
		--append "$base root=/dev/vda rw rootfstype=ext4" ||
		{ echo "--- COM1 ---"; tail -c 3000 "$serial"; cat "$tmp/qsd.log"; exit 1; }
	after=$("$blkimg" stat "$img") || fail "the image no longer holds an ext4 superblock"
	m0=${before%% *} m1=${after%% *}
	m0=${m0#mounts=} m1=${m1#mounts=}
	[ "$m1" = $((m0 + 1)) ] ||
		fail "superblock mount count $m0 -> $m1: the kernel's superblock write did not reach the image"
	echo "ok: ext4 root on vhost-user-blk ($before -> $after)"
	;;
fs-user)
	share=$tmp/share word=$RANDOM$RANDOM
	mkdir "$share"
	echo "hello $word" >"$share/hello.txt"
	"$run" --status 0 --needs-kvm --out "kvmrun-check: hello.txt holds hello $word" \
		--out "kvmrun-check: PASS" -- \
		"$kvmrun" run --transport "$transport" --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" \
		--memory 512M --timeout 300 --share "$share,tag=kvmrun-share" \
		--append "console=ttyS0 panic=-1 kvmrun.check=virtiofs kvmrun.word=$word" || exit 1
	[ "$(cat "$share/fromguest.txt")" = "written by $word" ] || fail "fromguest.txt is not on the host"
	echo "ok: the guest's userspace read and wrote the shared directory"
	;;
*) fail "unknown mode $mode" ;;
esac
