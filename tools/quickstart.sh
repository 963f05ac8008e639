#!/bin/bash
# From a fresh clone: installs packages, builds kvmrun, builds the small Linux
# guest (once; cached), and boots it on this terminal.
#   tools/quickstart.sh            boot Linux (2 vCPUs, 512 MiB)
#   tools/quickstart.sh --hello    only boot the tiny hello test guest
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMRUN_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
build/kvmrun info
echo
echo "== a test guest: build/kvmrun run --kernel build/guests/hello.elf"
status=0
build/kvmrun run --kernel build/guests/hello.elf --timeout 30 || status=$?
# Test guests report success through the debug-exit port: status (0x10 << 1) | 1.
[ "$status" = 33 ] || { echo "== the hello guest failed (exit status $status)" >&2; exit 1; }
[ "${1:-}" = --hello ] && exit 0

echo
echo "== the Linux guest (the first build takes about 5 minutes)"
dir=$(tools/build-linux-guest.sh | tail -n 1)
append="console=ttyS0"
if build/kvmrun info | grep -q '^backend: PVM'; then
	cat <<MSG
== This host's /dev/kvm is PVM (no hardware virtualization): the guest kernel is
   emulated, so it takes about 30 s to boot, and a kernel that is not PVM-aware
   cannot run userspace here: init dies on its first system call, the kernel
   panics and resets, and kvmrun ends.  On a VT-x/AMD-V host you get a shell.
MSG
	append+=" panic=-1"
fi
cmd=(build/kvmrun run --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" --cpus 2
	--memory 512M --append "$append")
echo "== ${cmd[*]}"
echo "== Ctrl-A x quits; in the guest, 'poweroff -f' powers off"
exec "${cmd[@]}"
