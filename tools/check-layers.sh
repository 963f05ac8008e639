#!/bin/bash
# Checks that no source or header includes a header of a layer above its own
# (DESIGN.md: foundation -> devices -> vmm).  The linker catches upward calls
# (the layercheck targets in CMakeLists.txt); this catches upward includes,
# such as a device reaching for the CLI's config.  Every header must be listed.
set -euo pipefail
cd "$(dirname "$0")/.."

foundation="bus clock device host_file irq irq_routing kvm_irq log mem memslot ratelimit sandbox state stop"
devices="block devices edu ioapic sink disk_config fs_config net_config pci tap vhost_user virtio virtio_devices virtio_mmio virtio_pci virtio_slot vfio vfio_pci vtd"
vmm="acpi boot builder config console control cpuid kvm migrate multiboot pvh qemu_args qmp reaper share snapshot vcpu_state vm watchdog"

rank() {	# layer of a header name, or of a file by its folder
	case " $foundation " in *" $1 "*) echo 0; return ;; esac
	case " $devices " in *" $1 "*) echo 1; return ;; esac
	case " $vmm " in *" $1 "*) echo 2; return ;; esac
	echo -1
}

foundation_src="bus device host_file irq_routing kvm_irq log mem memslot ratelimit sandbox state stop"
status=0
for f in include/kvmrun/*.h src/*.c devices/*.c virtio/*.c block/*.c; do
	[ -e "$f" ] || continue
	base=$(basename "$f"); base=${base%.*}
	case "$f" in
	include/*) r=$(rank "$base") ;;
	src/*) case " $foundation_src " in *" $base "*) r=0 ;; *) r=2 ;; esac ;;
	*) r=1 ;;
	esac
	if [ "$r" = -1 ]; then
		echo "check-layers: $f: header of no layer (add it to tools/check-layers.sh)"
		status=1
		continue
	fi
	for inc in $(sed -n 's|^#include "kvmrun/\(.*\)\.h".*|\1|p' "$f"); do
		ir=$(rank "$inc")
		if [ "$ir" = -1 ] || [ "$ir" -gt "$r" ]; then
			echo "check-layers: $f includes kvmrun/$inc.h from a layer above it"
			status=1
		fi
	done
done
[ $status = 0 ] && echo "check-layers: every include points down or sideways"
exit $status
