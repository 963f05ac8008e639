# Sourced by the network tests: prerequisites, and a network namespace with a
# tap at 10.0.2.2/24 (private test addresses) that goes away on every exit path.
#
#   netns_require            SKIP (exit 77) unless root, /dev/net/tun, ip, /dev/kvm
#   netns_setup              sets ns, tap, tmp; creates them; installs the traps
#   in_ns CMD...             runs CMD inside the namespace
#   run_pid                  set it to a background pid the cleanup must kill too

skip() { echo "SKIP: $*"; exit 77; }

netns_require() {
	[ "$(id -u)" = 0 ] || skip "needs root (creates a network namespace and a tap device)"
	[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (modprobe tun)"
	command -v ip >/dev/null || skip "ip (iproute2) is not installed"
	{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || skip "/dev/kvm is missing or not accessible"
}

# shellcheck disable=SC2317  # called from the EXIT trap
netns_cleanup() {
	# What still runs in the namespace was started by the test: kvmrun, helpers.
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	[ -n "${run_pid:-}" ] && kill "$run_pid" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}

in_ns() { ip netns exec "$ns" "$@"; }

netns_setup() {
	ns=kvmrun-test-$$ tap=kvmtap0
	tmp=$(mktemp -d)
	run_pid=""
	trap netns_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	ip netns add "$ns" || { echo "FAIL: cannot create network namespace $ns"; exit 1; }
	{ in_ns ip link set lo up &&
	  in_ns ip tuntap add dev "$tap" mode tap &&
	  in_ns ip addr add 10.0.2.2/24 dev "$tap" &&
	  in_ns ip link set "$tap" up; } || { echo "FAIL: cannot set up tap $tap in $ns"; exit 1; }
}
