#!/bin/bash
# virtio-blk served by a real vhost-user backend: qemu-storage-daemon
# (Debian's qemu-system-common) exports an image the test made, kvmrun hands
# it guest RAM and the rings, the CPL3 test guest drives the disk.
#
#   vhost_user_blk.sh RUN KVMRUN BLKIMG GUEST MODE TRANSPORT
#
# check:   the guest's blk=check (pattern read in four request shapes, writes,
#          flush, IOERR past the end, GET_ID) through the backend; the guest's
#          writes are in the image afterwards (blkimg check).
# survive: the guest reads in a loop; the backend is killed (SIGKILL) under
#          it: kvmrun logs one line and stays up, the guest sees NEEDS_RESET,
#          its second disk (built-in virtio-blk) still reads; the backend is
#          started again and the guest's next reset reconnects: the disk works
#          again.  kvmrun ends with the guest's PASS.
set -u
run=$1 kvmrun=$2 blkimg=$3 guest=$4 mode=$5 transport=$6
qsd=${QEMU_STORAGE_DAEMON:-qemu-storage-daemon}
command -v "$qsd" >/dev/null || { echo "SKIP: qemu-storage-daemon is not installed (tools/deps.sh test)"; exit 77; }
tmp=$(mktemp -d)
qsd_pid=""
cleanup() { [ -n "$qsd_pid" ] && kill -9 "$qsd_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

img=$tmp/disk.img sock=$tmp/blk.sock
"$blkimg" create "$img" 2048 || fail "cannot create $img"

start_backend() {
	rm -f "$sock"
	"$qsd" --blockdev driver=file,node-name=file0,filename="$img",cache.direct=off \
		--export type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path="$sock",writable=on \
		>>"$tmp/qsd.log" 2>&1 &
	qsd_pid=$!
	for _ in $(seq 500); do [ -S "$sock" ] && return 0; sleep 0.01; done
	cat "$tmp/qsd.log"; fail "qemu-storage-daemon did not listen on $sock"
}
start_backend

case "$mode" in
check)
	"$run" --needs-kvm --status 33 --out "^virtio-blk: device on virtio-$transport " \
		--out "^virtio-blk: flush OK" --out "requests past the end fail with IOERR" --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "vhost-user=$sock" \
		--timeout 60 --append "blk=check" || exit 1
	"$blkimg" check "$img" ab || fail "the guest's writes are not in the image"
	;;
survive)
	other=$tmp/other.img
	"$blkimg" create "$other" 2048 || fail "cannot create $other"
	out=$tmp/serial
	"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "vhost-user=$sock" \
		--disk "$other" --timeout 90 --serial "file:$out" --append "blk=survive" -v \
		2>"$tmp/err" &
	vm=$!
	for _ in $(seq 3000); do grep -q "reading in a loop" "$out" 2>/dev/null && break; sleep 0.01; done
	grep -q "reading in a loop" "$out" || { kill $vm; cat "$out" "$tmp/err"; fail "the guest never read in a loop"; }
	kill -9 "$qsd_pid"; wait "$qsd_pid" 2>/dev/null; qsd_pid=""
	for _ in $(seq 3000); do grep -q "still works" "$out" && break; sleep 0.01; done
	kill -0 $vm 2>/dev/null || { cat "$out" "$tmp/err"; fail "kvmrun did not survive its backend"; }
	start_backend
	wait $vm; status=$?
	cat "$out"; echo "--- kvmrun's log:"; cat "$tmp/err"
	[ $status = 33 ] || fail "kvmrun ended with status $status, not the guest's PASS (33)"
	grep -q "^virtio-blk: device needs reset after" "$out" || fail "the guest did not see NEEDS_RESET"
	grep -q "^virtio-blk: disk 1 still works" "$out" || fail "the other disk stopped working"
	grep -q "^virtio-blk: works again after" "$out" || fail "the device did not work again"
	n=$(grep -c "vhost-user backend at $sock: .*needs a reset" "$tmp/err")
	[ "$n" = 1 ] || fail "expected one log line about the lost backend, got $n"
	grep -q "reconnected to the vhost-user backend" "$tmp/err" || fail "no reconnection was logged"
	;;
*) fail "unknown mode $mode" ;;
esac
echo "ok: $mode"
