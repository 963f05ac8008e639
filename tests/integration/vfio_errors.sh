#!/bin/bash
# --vfio on a host without an IOMMU: one line, status 1, for a device bound to
# another driver (one of this host's own PCI functions) and for a device bound
# to vfio-pci (a sysfs directory laid out like the kernel's, named by path).
run=$1 kvmrun=$2 kernel=$3
if [ -e /dev/iommu ] || [ -e /dev/vfio ]; then
	echo "SKIP: this host has VFIO: the no-IOMMU errors cannot be shown here"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/devices/0000:42:00.1" "$tmp/drivers/vfio-pci"
ln -s ../../drivers/vfio-pci "$tmp/devices/0000:42:00.1/driver"
"$run" --needs-kvm --status 1 --err-lines 1 --err "this host has no IOMMU/VFIO.*load vfio-pci" -- \
	"$kvmrun" run --kernel "$kernel" --timeout 10 --vfio "$tmp/devices/0000:42:00.1" || exit 1
# One of this host's functions bound to a driver other than vfio-pci.
for d in /sys/bus/pci/devices/*; do
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)")
	[ -n "$drv" ] && [ "$drv" != vfio-pci ] || continue
	a=$(basename "$d")
	exec "$run" --needs-kvm --status 1 --err-lines 1 \
		--err "$a: bound to $drv, not vfio-pci: bind it: .*/sys/bus/pci/drivers/vfio-pci/bind" -- \
		"$kvmrun" run --kernel "$kernel" --timeout 10 --vfio "$a"
done
echo "SKIP: no PCI function bound to a driver on this host (the no-IOMMU case passed)"
exit 77
