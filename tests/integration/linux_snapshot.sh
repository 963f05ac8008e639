#!/bin/bash
# The Linux guest (tools/build-linux-guest.sh) snapshotted or migrated while
# KUnit runs, and finishing elsewhere.
#
#   linux_snapshot.sh RUN_GUEST KVMRUN MODE
#
#   snapshot  boot the ELF vmlinux (PVH), 2 vCPUs, 512M, with --api; once KUnit
#             has started, `kvmrun ctl SOCK snapshot DIR stay-paused=true`,
#             kill -9 the process, `kvmrun restore DIR`: the restored kernel
#             prints KUnit's totals (no failure) and powers off: status 0
#   migrate   the same boot, and a second kvmrun with the same options and
#             --incoming unix:PATH; once KUnit has started, `kvmrun ctl SOCK
#             migrate uri=unix:PATH`: the source exits 0, the destination
#             prints the totals and powers off with status 0
#
# One boot each (40-80 s on a PVM host).  The guest comes from
# $KVMRUN_LINUX_DIR or the build cache, as in linux.sh.
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
for f in vmlinux initramfs.cpio; do
	[ -f "$dir/$f" ] || { echo "FAIL: $dir/$f is missing"; exit 1; }
done

tmp=$(mktemp -d)
src_pid="" dst_pid=""
cleanup() {
	for p in $src_pid $dst_pid; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

marker=kvmrun.marker=$RANDOM$RANDOM
opts=(--kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --cpus 2 --memory 512M --timeout 600
	--append "console=ttyS0 kunit_shutdown=poweroff panic=-1 $marker")
finish=(--status 0 --out "# Totals: pass:[1-9][0-9]* fail:0" --out "reboot: Power down"
	--no-out "Kernel panic" --no-out "not ok [0-9]" --no-out "Linux version")

fail() { echo "FAIL: $*"; for f in "$tmp"/*.out "$tmp"/*.err; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; exit 1; }

# Waits until file $1 matches ERE $2 while pid $3 lives; $4 seconds at most.
wait_for() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		grep -qE "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || { grep -qE "$2" "$1" && return 0; fail "kvmrun ended before /$2/"; }
		sleep 0.1
	done
	fail "no /$2/ in $1 within $4 s"
}

# The source: boot until KUnit is running.
api=$tmp/api
"$kvmrun" run -v "${opts[@]}" --api "$api" >"$tmp/src.out" 2>"$tmp/src.err" &
src_pid=$!
if [ "$mode" = migrate ]; then
	uri=unix:$tmp/migrate.sock
	"$run" "${finish[@]}" -- "$kvmrun" run -v "${opts[@]}" --incoming "$uri" \
		>"$tmp/dst.out" 2>&1 &
	dst_pid=$!
fi
wait_for "$tmp/src.out" "KTAP version|# Subtest" "$src_pid" 400
grep -q "$marker" "$tmp/src.out" || fail "the source booted without the command line's marker"
grep -q "reboot: Power down" "$tmp/src.out" && fail "the guest finished before the snapshot point: nothing left to prove"
echo "KUnit started after $SECONDS s: $(grep -cE '\] +(# Subtest|ok [0-9])' "$tmp/src.out") KTAP lines so far"

case "$mode" in
snapshot)
	"$kvmrun" ctl "$api" snapshot "$tmp/snap" stay-paused=true || fail "kvmrun ctl snapshot failed"
	[ -f "$tmp/snap/state" ] && [ -f "$tmp/snap/memory" ] || fail "no state and memory files in $tmp/snap"
	sleep 1
	size=$(stat -c %s "$tmp/src.out")
	sleep 1
	[ "$(stat -c %s "$tmp/src.out")" = "$size" ] || fail "the source still prints after a stay-paused snapshot"
	kill -9 "$src_pid"
	wait "$src_pid" 2>/dev/null
	src_pid=""
	echo "snapshot written ($(du -sh "$tmp/snap" | cut -f1) on disk), source killed; restoring"
	"$run" "${finish[@]}" -- "$kvmrun" restore "$tmp/snap" -v --timeout 600 || fail "the restored guest did not finish"
	;;
migrate)
	[ -S "$tmp/migrate.sock" ] || fail "the destination does not listen on $tmp/migrate.sock"
	"$kvmrun" ctl "$api" migrate "uri=$uri" || fail "kvmrun ctl migrate failed"
	wait "$src_pid"
	rc=$?
	src_pid=""
	[ $rc = 0 ] || fail "the source exited with status $rc, expected 0"
	grep -q "reboot: Power down" "$tmp/src.out" && fail "the source ran the guest to the end: it did not move"
	echo "source exited 0 after $SECONDS s: $(tail -n 1 "$tmp/src.err")"
	wait "$dst_pid"
	rc=$?
	dst_pid=""
	cat "$tmp/dst.out"
	[ $rc = 0 ] || fail "the destination did not finish the boot"
	;;
*)
	echo "linux_snapshot.sh: unknown mode $mode"; exit 1 ;;
esac
grep -qE "not ok [0-9]|Kernel panic" "$tmp/src.out" && fail "the source's part of the boot has failures"
echo "ok: $mode: KUnit finished with no failure after $SECONDS s"
exit 0
