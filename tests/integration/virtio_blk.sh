#!/bin/bash
# virtio-blk from a test guest: the image's pattern is read, the guest's writes
# and flush reach the file, a read-only disk refuses writes and stays unchanged.
#   virtio_blk.sh RUN KVMRUN BLKIMG GUEST MODE TRANSPORT [AIO]
#   MODE: rw, readonly, direct-mq; TRANSPORT: pci or mmio (the guest must find it there);
#   AIO: the block engine (io_uring, threads, sync; default: kvmrun's)
run=$1 kvmrun=$2 blkimg=$3 guest=$4 mode=$5 transport=$6 aio=${7:+,aio=$7}
where=(--out "^virtio-blk: device on virtio-$transport ")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img
"$blkimg" create "$img" 2048 || { echo "FAIL: cannot create $img"; exit 1; }
case "$mode" in
rw)
	"$run" --needs-kvm --status 33 "${where[@]}" --out "^virtio-blk: flush OK" --out "serial 'kvmrun-disk0'" \
		--out "requests past the end fail with IOERR" --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "$img,serial=kvmrun-disk0$aio" --timeout 60 \
		--append "blk=check blk_serial=kvmrun-disk0" || exit 1
	"$blkimg" check "$img" ab || { echo "FAIL: the guest's writes are not in the image"; exit 1; }
	;;
readonly)
	cp "$img" "$tmp/orig"
	"$run" --needs-kvm --status 33 "${where[@]}" --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "$img,readonly$aio" --timeout 60 \
		--append "blk=check readonly=1" || exit 1
	cmp "$img" "$tmp/orig" || { echo "FAIL: a read-only disk changed"; exit 1; }
	;;
direct-mq)
	"$run" --needs-kvm --status 33 "${where[@]}" --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "$img,cache=none,num-queues=2$aio" --timeout 60 \
		--append "blk=check" || exit 1
	"$blkimg" check "$img" ab || { echo "FAIL: the guest's writes are not in the image"; exit 1; }
	;;
esac
echo "ok: $mode"
