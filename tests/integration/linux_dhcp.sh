#!/bin/bash
# The Linux test guest's kernel configures its network with DHCP (ip=dhcp,
# kernel IP autoconfiguration) through virtio-net and a real tap device,
# against busybox udhcpd on the host side.
#
#   linux_dhcp.sh RUN_GUEST KVMRUN [TRANSPORT]   (pci, the default, mmio or pci-nomsi)
#
#   RUN_GUEST  tests/integration/run_guest.sh (checks the status and the output)
#   KVMRUN     the kvmrun binary
#
# The guest (bzImage, initramfs.cpio) comes from $KVMRUN_LINUX_DIR, or from
# the cache of tools/build-linux-guest.sh (tools/test.sh builds it).
#
# Needs root, /dev/net/tun, ip (iproute2), busybox with the udhcpd applet
# (Debian: busybox-static) and the built Linux guest; otherwise it reports
# SKIP and exits 77.  Everything happens in a network namespace of its own
# (kvmrun-test-PID): a tap at 10.0.2.2/24 where udhcpd offers exactly
# 10.0.2.15, private test addresses that never reach the host's own
# interfaces.  The namespace and udhcpd go away on every exit path.
#
# Checked: the kernel log says it got its address from 10.0.2.2 and
# completed with ipaddr 10.0.2.15 on the guest's MAC, udhcpd sent the ACK,
# and kvmrun exits 0.  pci-nomsi boots with pci=nomsi: virtio-net then
# interrupts on INTx, which kvmrun's log must say.  A PVM host cannot start init, so the kernel panics
# after the network is up and resets (panic=-1); on a VT-x/AMD-V host init
# finds no terminal input and powers off: status 0 either way.  About 35 s
# on a PVM host.
set -u
run=$1 kvmrun=$2 transport=${3:-pci}
append="" extra=() verbose=()
if [ "$transport" = pci-nomsi ]; then
	transport=pci append=" pci=nomsi" verbose=(-v)
	extra=(--err "virtio-net: MSI-X is off, interrupts go out on INTx")
fi
case $transport in
pci) where="pci 0000:00:01\\.0: \\[1af4:1041\\]" ;;	# the kernel's PCI scan found it
mmio) where="virtio-mmio: Registering device virtio-mmio\\.0 at 0xfeb00000" ;;
*) echo "linux_dhcp.sh: transport pci or mmio, not '$transport'"; exit 1 ;;
esac
here=$(cd "$(dirname "$0")/../.." && pwd)

# shellcheck source=tests/integration/netns.sh
. "$(dirname "$0")/netns.sh"
netns_require
{ command -v busybox >/dev/null && busybox --list | grep -qx udhcpd; } ||
	skip "busybox with udhcpd is not installed (apt-get install busybox-static)"
dir=${KVMRUN_LINUX_DIR:-}
if [ -z "$dir" ]; then
	dir=$("$here/tools/build-linux-guest.sh" --cached 2>/dev/null) ||
		skip "the Linux guest is not built: run tools/build-linux-guest.sh (tools/test.sh does)"
fi
for f in bzImage initramfs.cpio; do
	[ -f "$dir/$f" ] || { echo "FAIL: $dir/$f is missing"; exit 1; }
done

mac=52:54:00:12:34:56
netns_setup

: >"$tmp/leases"
cat >"$tmp/udhcpd.conf" <<EOF
interface $tap
start 10.0.2.15
end 10.0.2.15
max_leases 1
lease_file $tmp/leases
pidfile $tmp/udhcpd.pid
option subnet 255.255.255.0
option router 10.0.2.2
option lease 600
EOF
in_ns busybox udhcpd -f "$tmp/udhcpd.conf" >"$tmp/udhcpd.log" 2>&1 &
udhcpd_pid=$!
sleep 0.3
if ! kill -0 "$udhcpd_pid" 2>/dev/null; then
	echo "FAIL: udhcpd did not start"; cat "$tmp/udhcpd.log"; exit 1
fi

"$run" --status 0 --needs-kvm \
	--out "IP-Config: Got DHCP answer from 10\\.0\\.2\\.2, my address is 10\\.0\\.2\\.15" \
	--out "IP-Config: Complete:" \
	--out "device=eth0, hwaddr=$mac, ipaddr=10\\.0\\.2\\.15, mask=255\\.255\\.255\\.0," \
	--out "gw=10\\.0\\.2\\.2" \
	--out "$where" --no-out "virtio_net.*(failed|error)" "${extra[@]}" -- \
	ip netns exec "$ns" "$kvmrun" run "${verbose[@]}" --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" \
	--memory 256M --timeout 300 --net "tap=$tap,mac=$mac" --transport "$transport" \
	--append "console=ttyS0 ip=dhcp panic=-1$append" &
# In the background so that a signal runs the trap now, not when the guest ends.
if ! wait $!; then
	echo "--- udhcpd ---"; cat "$tmp/udhcpd.log"; exit 1
fi

if ! grep -qi "sending ACK to 10\\.0\\.2\\.15" "$tmp/udhcpd.log"; then
	echo "FAIL: udhcpd never acknowledged 10.0.2.15"
	echo "--- udhcpd ---"; cat "$tmp/udhcpd.log"
	exit 1
fi
echo "ok: the guest's kernel got 10.0.2.15 from udhcpd over the tap"
exit 0
