#!/bin/bash
# Boots the project's Linux guest (tools/build-linux-guest.sh) and checks what
# the kernel did.
#
#   linux.sh RUN_GUEST KVMRUN MODE
#
#   kunit-bzimage   bzImage, 2 vCPUs, 512M: KUnit suites, then kunit_shutdown=poweroff
#   kunit-pvh       ELF vmlinux via PVH, same, ending with kunit_shutdown=reboot
#   kunit-split     kunit-pvh with --irqchip split: no PIC, kvmrun's IOAPIC (version 0x20)
#   userspace       busybox init checks /proc and the date, then powers off
#                   (needs hardware virtualization: skipped on PVM hosts)
#
# The guest comes from $KVMRUN_LINUX_DIR, or from the build cache when
# tools/build-linux-guest.sh has already built it (tools/test.sh does).
set -u
run=$1 kvmrun=$2 mode=$3
here=$(cd "$(dirname "$0")/../.." && pwd)

if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "SKIP: /dev/kvm is missing or not accessible"; exit 77
fi
dir=${KVMRUN_LINUX_DIR:-}
if [ -z "$dir" ]; then
	dir=$("$here/tools/build-linux-guest.sh" --cached 2>/dev/null) || {
		echo "SKIP: the Linux guest is not built: run tools/build-linux-guest.sh (tools/test.sh does)"
		exit 77
	}
fi
for f in bzImage vmlinux initramfs.cpio; do
	[ -f "$dir/$f" ] || { echo "FAIL: $dir/$f is missing"; exit 1; }
done
pvm=0
"$kvmrun" info | grep -q '^backend: PVM' && pvm=1

marker=kvmrun.marker=$RANDOM$RANDOM
today=$(date -u +%Y-%m-%d)
yesterday=$(date -u -d '1 hour ago' +%Y-%m-%d)
common=(--needs-kvm --out "Command line: .*$marker"
	--out "smp: Brought up 1 node, 2 CPUs"
	--out "Memory: [0-9]+K/(5[0-2][0-9]{4})K available"
	--out "rtc_cmos rtc_cmos: setting system clock to ($today|$yesterday)T"
	--out "serial8250: ttyS0 at I/O 0x3f8 \\(irq = 4, base_baud = 115200\\) is a 16550A"
	--out "Unpacking initramfs"
	--no-out "Kernel panic" --no-out "not ok [0-9]")

case "$mode" in
kunit-bzimage)
	exec "$run" --status 0 "${common[@]}" --out "# Totals: pass:[1-9][0-9]* fail:0" \
		--out "reboot: Power down" --err "guest powered off" -- \
		"$kvmrun" run -v --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" \
		--cpus 2 --memory 512M --timeout 600 \
		--append "console=ttyS0 kunit_shutdown=poweroff panic=-1 $marker"
	;;
kunit-pvh)
	exec "$run" --status 0 "${common[@]}" --out "# Totals: pass:[1-9][0-9]* fail:0" \
		--out "reboot: Restarting system" --err "guest reset" --err "via PVH" -- \
		"$kvmrun" run -v --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" \
		--cpus 2 --memory 512M --timeout 600 \
		--append "console=ttyS0 kunit_shutdown=reboot panic=-1 $marker"
	;;
kunit-split)
	exec "$run" --status 0 "${common[@]}" --out "# Totals: pass:[1-9][0-9]* fail:0" \
		--out "Using NULL legacy PIC" --out "IOAPIC\[0\]: apic_id 0, version 32, address 0xfec00000, GSI 0-23" \
		--out "reboot: Restarting system" --err "guest reset" -- \
		"$kvmrun" run -v --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" \
		--cpus 2 --memory 512M --timeout 600 --irqchip split \
		--append "console=ttyS0 kunit_shutdown=reboot panic=-1 $marker"
	;;
userspace)
	if [ $pvm = 1 ]; then
		echo "SKIP: PVM host: a guest kernel that is not PVM-aware cannot run userspace here"
		echo "      (its system calls never reach it); this test needs VT-x or AMD-V"
		exit 77
	fi
	exec "$run" --status 0 --needs-kvm --out "kvmrun-guest: userspace is up" \
		--out "^kvmrun-check: cpus=2" --out "^kvmrun-check: cmdline=.*$marker" \
		--out "^kvmrun-check: date=($today|$yesterday)T" --out "^kvmrun-check: PASS" \
		--no-out "kvmrun-check: FAIL" -- \
		"$kvmrun" run --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" \
		--cpus 2 --memory 512M --timeout 120 \
		--append "console=ttyS0 panic=-1 kunit.enable=0 kvmrun.check=1 expect_cpus=2 expect_mem_mb=512 $marker"
	;;
*)
	echo "linux.sh: unknown mode $mode"; exit 1 ;;
esac
