#!/bin/bash
# The Linux test guest drives kvmrun's virtio devices through its own drivers.
#
#   linux_virtio.sh RUN_GUEST KVMRUN BLKIMG TRANSPORT [MODE]
#
#   RUN_GUEST  tests/integration/run_guest.sh (checks the status and the output)
#   KVMRUN     the kvmrun binary;  BLKIMG  tests/integration/blkimg.c
#   TRANSPORT  mmio or pci (passed as kvmrun run --transport)
#   MODE       kernel (default): one boot, kernel only, works on PVM hosts
#              nomsi: the same boot with pci=nomsi (pci transport only): the
#                drivers get INTx; also checked: kvmrun says each device's
#                interrupts went out on INTx, and the kernel took ECAM
#                (reserved by the PNP0C02 in the DSDT)
#              userspace: busybox init checks the devices (needs VT-x/AMD-V)
#
# kernel: no initrd, so the kernel mounts a fresh ext4 image on /dev/vda as
# its root (root=/dev/vda rw), finds no init there, panics and resets
# (panic=-1): kvmrun exits 0 on any host.  COM1 goes to a file and the
# console is also hvc0 on virtio-console, which is kvmrun's stdout.  Checked:
#  - virtio-blk: the log on hvc0 says EXT4 mounted our image (its UUID) r/w
#    as root; afterwards the superblock's mount count went up by one and its
#    last-mount time is now (`blkimg stat`): the guest's writes reached the file.
#  - virtio-console: stdout holds kernel messages printed after the root mount
#    and none of COM1's early ones, so they came through hvc0.
#  - virtio-rng: "random: crng init done".  The kernel is booted as ELF
#    vmlinux through PVH, which carries no boot RNG seed (kvmrun gives bzImage
#    one, and x86 credits it before random.trust_bootloader= is parsed), and
#    random.trust_cpu=off, so within the boot only a working hwrng can seed
#    the crng; without --rng the line does not appear (checked on PVM).
# About 30 s on a PVM host.
#
# userspace (skipped on PVM hosts before anything is set up; needs root for
# the network namespace of tests/integration/netns.sh): init runs with
# kvmrun.check=virtio and writes a file on the ext4 disk serial kvmrun-rw
# (found by the host with debugfs afterwards), mounts the read-only disk
# serial kvmrun-ro and reads a file the host put there, fails to write to it
# (the image stays byte-identical), reads /dev/hwrng, and pings 10.0.2.2 over
# the tap while the host pings 10.0.2.15.
#
# The guest comes from $KVMRUN_LINUX_DIR, or from the cache of
# tools/build-linux-guest.sh (tools/test.sh builds it).  Needs mkfs.ext4 and
# debugfs (Debian: e2fsprogs, in tools/deps.sh test).
set -u
run=$1 kvmrun=$2 blkimg=$3 transport=$4 mode=${5:-kernel}
here=$(cd "$(dirname "$0")/../.." && pwd)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || skip "/dev/kvm is missing or not accessible"
if [ "$mode" = userspace ] && "$kvmrun" info | grep -q '^backend: PVM'; then
	skip "PVM host: a guest kernel that is not PVM-aware cannot run userspace here" \
		"(its system calls never reach it); this test needs VT-x or AMD-V"
fi
export PATH=$PATH:/sbin:/usr/sbin
for tool in mkfs.ext4 debugfs; do
	command -v $tool >/dev/null ||
		skip "$tool is not installed (apt-get install e2fsprogs, or tools/deps.sh test)"
done
dir=${KVMRUN_LINUX_DIR:-}
if [ -z "$dir" ]; then
	dir=$("$here/tools/build-linux-guest.sh" --cached 2>/dev/null) ||
		skip "the Linux guest is not built: run tools/build-linux-guest.sh (tools/test.sh does)"
fi
for f in bzImage vmlinux initramfs.cpio; do
	[ -f "$dir/$f" ] || fail "$dir/$f is missing"
done
marker=kvmrun.marker=$RANDOM$RANDOM

# mkimg PATH UUID [DIR]: a 32 MiB ext4 image, with DIR's files in it.
mkimg() {
	if ! { truncate -s 32M "$1" && mkfs.ext4 -q -F -U "$2" ${3:+-d "$3"} "$1"; }; then
		fail "mkfs.ext4 could not make $1"
	fi
}

kernel_mode() {
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	local img=$tmp/root.img serial=$tmp/serial.log uuid before after start
	local extra=() append=""
	if [ "$mode" = nomsi ]; then
		[ "$transport" = pci ] || fail "nomsi needs the pci transport"
		append=" pci=nomsi"
		extra=(--err "virtio-blk: MSI-X is off, interrupts go out on INTx \\(GSI 1[6-9]\\)"
			--err "virtio-rng: MSI-X is off, interrupts go out on INTx"
			--err "virtio-console: MSI-X is off, interrupts go out on INTx"
			--file "$serial" "PCI: ECAM \\[mem 0xe0000000-0xe00fffff\\] reserved as ACPI motherboard resource"
			--file "$serial" "pci 0000:00:01\\.0: BAR 0 \\[mem 0x[0-9a-f]+-0x[0-9a-f]+ 64bit\\]")
	fi
	uuid=$(cat /proc/sys/kernel/random/uuid)
	mkimg "$img" "$uuid"
	before=$("$blkimg" stat "$img") || fail "blkimg stat cannot read the new image's superblock"
	start=$(date +%s)
	"$run" --status 0 --needs-kvm \
		--out "EXT4-fs \\(vda\\): mounted filesystem $uuid r/w" \
		--out "VFS: Mounted root \\(ext4 filesystem\\)" \
		--out "Kernel panic - not syncing: No working init found" \
		--no-out "Command line:" \
		--file "$serial" "Command line: .*root=/dev/vda rw .*$marker" \
		--file "$serial" "printk: (legacy )?console \\[hvc0\\] enabled" \
		--file "$serial" "random: crng init done" \
		--file "$serial" "VFS: Mounted root \\(ext4 filesystem\\)" \
		--err "guest reset" "${extra[@]}" -- \
		"$kvmrun" run -v --transport "$transport" --kernel "$dir/vmlinux" \
		--cpus 2 --memory 512M --timeout 300 \
		--disk "$img" --rng --virtio-console --serial "file:$serial" \
		--append "console=ttyS0 console=hvc0 root=/dev/vda rw rootfstype=ext4 panic=-1 kunit.enable=0 random.trust_cpu=off$append $marker" ||
		{ echo "--- COM1 ---"; tail -c 3000 "$serial"; exit 1; }
	local end bad
	end=$(date +%s)
	bad=$(grep -E "EXT4-fs (error|warning)|virtio.*(failed|error)|hwrng.*fail" "$serial")
	[ -z "$bad" ] || fail "the kernel reported: $bad"

	# mounts=N mtime=T, before (mkfs: 0 and 0) and after the boot.
	after=$("$blkimg" stat "$img") || fail "the image no longer holds an ext4 superblock"
	local m0=${before%% *} m1=${after%% *} t1=${after##*mtime=}
	m0=${m0#mounts=} m1=${m1#mounts=}
	[ "$m1" = $((m0 + 1)) ] ||
		fail "superblock mount count $m0 -> $m1, expected $((m0 + 1)): the guest's write of the superblock did not reach the image"
	if [ "$t1" -lt $((start - 60)) ] || [ "$t1" -gt $((end + 60)) ]; then
		fail "superblock last-mount time $t1 is not the time of the boot ($start-$end) ($before -> $after)"
	fi
	echo "ok: ext4 root on virtio-blk ($before -> $after), hvc0 console, virtio-rng seeded the crng"
}

userspace_mode() {
	# shellcheck source=tests/integration/netns.sh
	. "$(dirname "$0")/netns.sh"
	netns_require
	command -v busybox >/dev/null || skip "busybox is not installed (apt-get install busybox-static)"
	netns_setup
	local rw=$tmp/rw.img ro=$tmp/ro.img word
	word=$RANDOM$RANDOM
	mkimg "$rw" "$(cat /proc/sys/kernel/random/uuid)"
	mkdir "$tmp/rofiles"
	echo "kvmrun read-only $word" >"$tmp/rofiles/ro.txt"
	mkimg "$ro" "$(cat /proc/sys/kernel/random/uuid)" "$tmp/rofiles"
	cp "$ro" "$tmp/ro.orig"

	# The host's side of the ping: three answers from the guest once its
	# network is up (the guest waits for our echo requests before it powers off).
	(
		n=0
		for _ in $(seq 1 600); do
			in_ns busybox ping -c 1 -W 1 10.0.2.15 >/dev/null 2>&1 && n=$((n + 1))
			[ $n -ge 3 ] && { echo ok >"$tmp/host-ping"; exit 0; }
			[ $n -gt 0 ] || sleep 0.5
		done
	) &
	run_pid=$!

	"$run" --status 0 --needs-kvm --out "kvmrun-guest: userspace is up" \
		--out "^kvmrun-check: wrote /hello.txt" \
		--out "^kvmrun-check: read-only disk: ro.txt holds kvmrun read-only $word" \
		--out "^kvmrun-check: read-only disk refused the write" \
		--out "^kvmrun-check: hwrng .*virtio_rng" \
		--out "^kvmrun-check: pinged 10\\.0\\.2\\.2" \
		--out "^kvmrun-check: answered [0-9]+ pings from the host" \
		--out "^kvmrun-check: PASS" --no-out "kvmrun-check: FAIL" -- \
		ip netns exec "$ns" "$kvmrun" run --transport "$transport" --kernel "$dir/bzImage" \
		--initrd "$dir/initramfs.cpio" --cpus 2 --memory 512M --timeout 120 \
		--disk "$rw,serial=kvmrun-rw" --disk "$ro,readonly,serial=kvmrun-ro" --rng \
		--net "tap=$tap,mac=52:54:00:12:34:56" \
		--append "console=ttyS0 panic=-1 kunit.enable=0 kvmrun.check=virtio kvmrun.word=$word $marker" &
	# In the background so that a signal runs the trap now, not when the guest ends.
	wait $! || exit 1

	local got
	got=$(debugfs -R "cat /hello.txt" "$rw" 2>/dev/null)
	[ "$got" = "kvmrun virtio $word" ] ||
		fail "/hello.txt in the image holds '$got', expected 'kvmrun virtio $word'"
	cmp -s "$ro" "$tmp/ro.orig" || fail "the read-only disk's image changed"
	[ -f "$tmp/host-ping" ] || fail "the guest never answered three pings from the host"
	echo "ok: the guest's file is in the image, the read-only disk is unchanged, pings both ways"
}

case "$mode" in
kernel | nomsi) kernel_mode ;;
userspace) userspace_mode ;;
*) echo "linux_virtio.sh: unknown mode $mode"; exit 1 ;;
esac
