#!/bin/bash
# VFIO passthrough on real hardware: KVMRUN_VFIO_DEVICE names a PCI function
# bound to vfio-pci (0000:01:00.1); the vfio test guest finds it on kvmrun's
# bus, reads its config header, sizes its BARs and reads them; with
# KVMRUN_VFIO_ROM=on it is passed with rom=on and the guest checks the option
# ROM's signature (the device must have a ROM).  Anywhere else
# (these development hosts have no IOMMU): "SKIP: <reason>", status 77.
run=$1 kvmrun=$2 kernel=$3
dev=${KVMRUN_VFIO_DEVICE:-}
skip() { echo "SKIP: $*"; exit 77; }
[ -n "$dev" ] || skip "KVMRUN_VFIO_DEVICE is not set (a PCI function bound to vfio-pci)"
[ -e /dev/iommu ] || [ -e /dev/vfio/vfio ] || skip "this host has no IOMMU/VFIO (/dev/iommu, /dev/vfio)"
case $dev in
	/*) sys=$dev ;;
	????:??:??.?) sys=/sys/bus/pci/devices/$dev ;;
	*) sys=/sys/bus/pci/devices/0000:$dev ;;
esac
[ -d "$sys" ] || skip "$dev: no such PCI device"
drv=$(basename "$(readlink "$sys/driver" 2>/dev/null)")
[ "$drv" = vfio-pci ] || skip "$dev is bound to ${drv:-no driver}, not vfio-pci"
vendor=$(( $(cat "$sys/vendor") )) device=$(( $(cat "$sys/device") ))
opt= rom=0
[ "${KVMRUN_VFIO_ROM:-}" = on ] && opt=,rom=on rom=1
exec "$run" --needs-kvm --status 33 --out "^PASS" --out "^vfio: 00:..\\.0 " --out "^vfio: BAR " -- \
	"$kvmrun" run --kernel "$kernel" --vfio "$dev$opt" --timeout 60 \
	--append "expect_vendor=$vendor expect_device=$device expect_rom=$rom"
