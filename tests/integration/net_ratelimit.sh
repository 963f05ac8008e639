#!/bin/bash
# virtio-net transmit rate limits (--net tap=...,pps=,bps=,pps-burst=),
# measured on the host: the virtio_net test guest sends UDP frames to the tap
# as fast as the device takes them (net=bulk), and what crossed the tap is
# counted from its rx_packets and rx_bytes, sampled every millisecond and
# timed on the host (tests/integration/tap_rate.py), never by the guest.
#
#   net_ratelimit.sh KVMRUN GUEST TRANSPORT
#
#   KVMRUN     the kvmrun binary
#   GUEST      build/guests/virtio_net.elf
#   TRANSPORT  pci or mmio
#
# Needs root, /dev/net/tun and ip (iproute2); otherwise SKIP, exit 77.  The
# tap lives in a network namespace of the test's own (netns.sh).
#
# Runs, each checked for every frame arriving (frames and bytes exactly what
# the guest sent: the limit defers, it never drops):
#   unlimited   both rates must be at least 5 times the caps below, so that
#               the caps really are what limits the next runs;
#   pps=P       64-byte frames: frames/s between the 10th and 90th percentile
#               of the frames within 10 % of P;
#   bps=B       1000-byte frames: bytes/s (Ethernet frames, no virtio header)
#               within 10 % of B;
#   pps=P,pps-burst=K  the first K frames arrive at once (in under a fifth of
#               the K/P they would take at the cap), and the whole run takes
#               (N - K - P/50) / P within 10 % (the bucket starts with 20 ms of
#               tokens: P/50 frames); without the burst it would take
#               (N - P/50) / P, 40 % longer, so this check alone shows the
#               burst went through even if the sampler was late for the start.
set -u
kvmrun=$1 guest=$2 transport=$3
here=$(dirname "$0")
P=2000 B=1000000 K=2000
n_pps=5000 n_bps=2500 n_burst=7000	# about 2.5 s each at the caps

# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"
netns_require
command -v python3 >/dev/null || skip "python3 is not installed"
netns_setup
fail=0

# run NAME LIMITS FRAMES SIZE [BURST]: one guest run; sets r_pps r_bps r_frames
# r_bytes r_span r_burst from the host's count.
run() {
	local name=$1 limits=$2 frames=$3 size=$4 burst=${5:-} sp rc line
	# Not in_ns: a shell function would run in a subshell, and kill would miss the sampler.
	ip netns exec "$ns" "$here/tap_rate.py" sample "$tap" >"$tmp/samples" &
	sp=$!
	# The sampler's first sample is the baseline: the guest starts only once it is written
	# (a fixed 0.3 s was too short on a loaded host: frames sent before it went uncounted).
	for _ in $(seq 200); do [ -s "$tmp/samples" ] && break; sleep 0.05; done
	[ -s "$tmp/samples" ] || { echo "FAIL: $name: the sampler wrote nothing in 10 s"; kill "$sp"; exit 1; }
	ip netns exec "$ns" "$kvmrun" run --kernel "$guest" --timeout 60 --transport "$transport" \
		--net "tap=$tap,mac=52:54:00:12:34:56$limits" \
		--append "net_ip=10.0.2.15 net_gw=10.0.2.2 net=bulk frames=$frames size=$size" >"$tmp/run" 2>&1
	rc=$?
	sleep 0.1
	kill "$sp"
	wait "$sp"
	if [ $rc != 33 ] || ! grep -q "^virtio-net bulk: frames=$frames bytes=$((frames * size)) " "$tmp/run"; then
		echo "FAIL: $name: kvmrun exited $rc or the guest did not send $frames frames:"
		cat "$tmp/run"
		exit 1
	fi
	line=$("$here/tap_rate.py" rate "$tmp/samples" --skip 1 ${burst:+--burst "$burst"}) ||
		{ echo "FAIL: $name: no count from the tap"; exit 1; }
	echo "$name: host side: $line"
	r_frames=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' <<<"$line")
	r_bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
	r_pps=$(sed -n 's/.*pps=\([0-9.inf]*\).*/\1/p' <<<"$line")
	r_bps=$(sed -n 's/.*bps=\([0-9.inf]*\).*/\1/p' <<<"$line")
	r_span=$(sed -n 's/.*span_ms=\([0-9.]*\).*/\1/p' <<<"$line")
	r_burst=$(sed -n 's/.*burst_ms=\([0-9.]*\).*/\1/p' <<<"$line")
	if [ "$r_frames" != "$frames" ] || [ "$r_bytes" != $((frames * size)) ]; then
		echo "FAIL: $name: the tap received $r_frames frames, $r_bytes bytes; the guest sent $frames, $((frames * size))"
		fail=1
	fi
}

# within NAME WHAT MEASURED EXPECTED: MEASURED is within 10 % of EXPECTED.
within() {
	if awk -v m="$3" -v e="$4" 'BEGIN { d = m - e; exit !(d <= e * 0.1 && -d <= e * 0.1) }'; then
		echo "ok: $1: $2 $3, expected $4 (within 10 %)"
	else
		echo "FAIL: $1: $2 $3 is not within 10 % of $4"
		fail=1
	fi
}

run unlimited "" 100000 1000
if awk -v p="$r_pps" -v b="$r_bps" -v P=$P -v B=$B 'BEGIN { exit !(p >= 5 * P && b >= 5 * B) }'; then
	echo "ok: unlimited: $r_pps frames/s, $r_bps bytes/s: at least 5x the caps ($P/s, $B B/s)"
else
	echo "FAIL: unlimited: $r_pps frames/s, $r_bps bytes/s: not 5x the caps ($P/s, $B B/s), which would not be tested"
	fail=1
fi

run "pps=$P" ",pps=$P" $n_pps 64
within "pps=$P" "frames/s" "$r_pps" $P

run "bps=$B" ",bps=$B" $n_bps 1000
within "bps=$B" "bytes/s" "$r_bps" $B

run "pps=$P,pps-burst=$K" ",pps=$P,pps-burst=$K" $n_burst 64 $K
if awk -v t="$r_burst" -v k=$K -v p=$P 'BEGIN { exit !(t < 200 * k / p) }'; then
	echo "ok: pps-burst=$K: the first $K frames within $r_burst ms (at the cap: $((1000 * K / P)) ms)"
else
	echo "FAIL: pps-burst=$K: the first $K frames took $r_burst ms (at the cap: $((1000 * K / P)) ms)"
	fail=1
fi
within "pps=$P,pps-burst=$K" "run time (ms)" "$r_span" $((1000 * (n_burst - K - P / 50) / P))

[ $fail = 0 ] || exit 1
echo "PASS: net rate limits on $transport"
exit 0
