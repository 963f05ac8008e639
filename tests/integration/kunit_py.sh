#!/bin/bash
# Linux's own kunit.py drives kvmrun through its QEMU-compatible front:
#
#   kunit_py.sh KVMRUN
#
# kunit.py (from Debian's linux-source-6.12, unpacked once into the build
# cache) runs 'qemu-system-x86_64' from PATH, here a symlink to KVMRUN, with
# tools/kunit/kvmrun_x86_64.py as its --qemu_config, on the test kernel of
# tools/build-linux-guest.sh ($KVMRUN_LINUX_DIR, or its cache).  It must parse
# the KTAP and report every test passing; the log must show that kvmrun (not
# a QEMU) ran the kernel with kunit.py's command line.
set -u
kvmrun=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/kvmrun

if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "SKIP: /dev/kvm is missing or not accessible"; exit 77
fi
dir=${KVMRUN_LINUX_DIR:-}
if [ -z "$dir" ]; then
	dir=$("$here/tools/build-linux-guest.sh" --cached 2>/dev/null) || {
		echo "SKIP: KVMRUN_LINUX_DIR is not set and the Linux guest is not built:"
		echo "      run tools/build-linux-guest.sh (tools/test.sh does)"
		exit 77
	}
fi
[ -f "$dir/vmlinux" ] || { echo "FAIL: $dir/vmlinux is missing"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: no python3 for kunit.py"; exit 77; }

# kunit.py: $KVMRUN_KUNIT_PY, else tools/testing/kunit from linux-source-6.12.
kunit=${KVMRUN_KUNIT_PY:-}
if [ -z "$kunit" ]; then
	tarball=/usr/src/linux-source-6.12.tar.xz
	[ -f "$tarball" ] || { echo "SKIP: $tarball is missing (apt-get install linux-source-6.12)"; exit 77; }
	key=$(stat -c '%s-%Y' "$tarball")
	kdir=$cache/kunit-tool-$key
	if [ ! -f "$kdir/done" ]; then
		mkdir -p "$cache"
		work=$(mktemp -d "$cache/kunit-tool.XXXXXX")
		tar -C "$work" -xJf "$tarball" --wildcards 'linux-source-6.12/tools/testing/kunit/*' ||
			{ rm -rf "$work"; echo "FAIL: cannot unpack kunit.py from $tarball"; exit 1; }
		touch "$work/done"
		# One rename publishes it; a concurrent run that got there first wins.
		mv -T "$work" "$kdir" 2>/dev/null || rm -rf "$work"
	fi
	kunit=$kdir/linux-source-6.12/tools/testing/kunit/kunit.py
fi
[ -f "$kunit" ] || { echo "FAIL: $kunit is missing"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" "$tmp/build"
ln -s "$(realpath "$kvmrun")" "$tmp/bin/qemu-system-x86_64"
ln -s "$(realpath "$dir/vmlinux")" "$tmp/build/vmlinux"
marker=kvmrun.marker=$RANDOM$RANDOM

# -v is kvmrun's own (QEMU has no such option): its log lines prove who ran the kernel.
PATH=$tmp/bin:$PATH python3 "$kunit" exec --build_dir="$tmp/build" \
	--qemu_config="$here/tools/kunit/kvmrun_x86_64.py" --qemu_args=-v \
	--kernel_args="$marker" --timeout 800 >"$tmp/out" 2>&1
rc=$?

fail=0
problem() { echo "FAIL: $*"; fail=1; }
log=$tmp/build/test.log
[ $rc = 0 ] || problem "kunit.py exited with status $rc"
grep -qE 'Testing complete\. Ran [1-9][0-9]* tests: passed: [1-9][0-9]*(, skipped: [0-9]+)?$' "$tmp/out" ||
	problem "no passing summary line from kunit.py"
! grep -qE 'Testing complete\..*(failed|crashed|errors):' "$tmp/out" ||
	problem "kunit.py counted failures"
grep -q "^\\$ qemu-system-x86_64 -nodefaults -m 1024 -kernel $tmp/build/vmlinux" "$tmp/out" ||
	problem "kunit.py did not run qemu-system-x86_64 as expected"
grep -q "^kvmrun: booting $tmp/build/vmlinux via PVH" "$log" || problem "kvmrun's log is not in test.log"
grep -qE "Command line: .*$marker.*kunit_shutdown=reboot" "$log" ||
	problem "the kernel did not get kunit.py's command line"
grep -q "^kvmrun: guest reset: exit status 0" "$log" ||
	problem "the run did not end with the guest's reset (-no-reboot)"
if [ $fail = 1 ]; then
	echo "--- kunit.py ---"; tail -c 4000 "$tmp/out"
	echo "--- test.log ---"; tail -c 4000 "$log"
	exit 1
fi
grep -E 'Testing complete|Elapsed time' "$tmp/out"
echo "ok: kunit.py passed on kvmrun"
exit 0
