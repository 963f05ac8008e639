#!/bin/bash
# virtio-net through a real tap device: the virtio_net test guest resolves the
# host's address with ARP and pings it; the frames cross the tap both ways.
#
#   virtio_net.sh RUN_GUEST KVMRUN GUEST TRANSPORT
#
#   RUN_GUEST  tests/integration/run_guest.sh (checks the status and the output)
#   KVMRUN     the kvmrun binary
#   GUEST      build/guests/virtio_net.elf
#   TRANSPORT  pci or mmio (the guest must find the device there)
#
# Needs root, /dev/net/tun and ip (iproute2); otherwise it reports SKIP and
# exits 77.  Everything happens in a network namespace of its own
# (kvmrun-test-PID) with a tap at 10.0.2.2/24 and the guest at 10.0.2.15:
# private test addresses that never reach the host's own interfaces.  The
# namespace goes away on every exit path.
#
# Checked: kvmrun exits 33 (the guest's PASS); the guest printed the tap's
# MAC for 10.0.2.2 and 4 ICMP echo replies; and on the host side the kernel
# learnt the guest's MAC for 10.0.2.15 on the tap (ip neigh).  The host
# forgets that entry as soon as kvmrun closes the tap (carrier down), so the
# table is read while the guest runs, and `ip monitor neigh` records it too.
set -u
run=$1 kvmrun=$2 guest=$3 transport=$4

# shellcheck source=tests/integration/netns.sh
. "$(dirname "$0")/netns.sh"
netns_require
mac=52:54:00:12:34:56
netns_setup
tap_mac=$(in_ns cat "/sys/class/net/$tap/address")
[ -n "$tap_mac" ] || { echo "FAIL: no MAC address for $tap"; exit 1; }

in_ns ip -o monitor neigh >"$tmp/monitor" 2>&1 &
mon_pid=$!
sleep 0.2	# let the monitor subscribe before the guest talks

"$run" --needs-kvm --status 33 --out "^virtio-net: device on virtio-$transport " \
	--out "^virtio-net: mac $mac\$" --out "^virtio-net: link up" \
	--out "^virtio-net: 10\\.0\\.2\\.2 is at $tap_mac\$" \
	--out "^virtio-net: 4 ICMP echo replies from 10\\.0\\.2\\.2\$" --out "^PASS" -- \
	ip netns exec "$ns" "$kvmrun" run --kernel "$guest" --timeout 60 \
	--transport "$transport" --net "tap=$tap,mac=$mac" \
	--append "net_ip=10.0.2.15 net_gw=10.0.2.2 net_ping=1" >"$tmp/run" 2>&1 &
run_pid=$!

# The host's neighbour table while the guest runs.
seen=0
while kill -0 "$run_pid" 2>/dev/null; do
	if [ $seen = 0 ] && in_ns ip neigh show 10.0.2.15 dev "$tap" | grep -qi "lladdr $mac"; then
		seen=1
	fi
	sleep 0.01
done
wait "$run_pid"
rc=$?
run_pid=""
cat "$tmp/run"
[ $rc = 0 ] || exit 1

sleep 0.2
kill "$mon_pid" 2>/dev/null
wait "$mon_pid" 2>/dev/null
mon_pid=""
if grep -qiE "^10\\.0\\.2\\.15 dev $tap lladdr $mac" "$tmp/monitor"; then
	[ $seen = 1 ] && how="ip neigh during the run and ip monitor" || how="ip monitor"
	echo "ok: the host learnt 10.0.2.15 at $mac on $tap ($how)"
elif [ $seen = 1 ]; then
	echo "ok: the host learnt 10.0.2.15 at $mac on $tap (ip neigh during the run)"
else
	echo "FAIL: the host never learnt $mac for 10.0.2.15 on $tap"
	echo "--- ip monitor neigh ---"; cat "$tmp/monitor"
	exit 1
fi
exit 0
