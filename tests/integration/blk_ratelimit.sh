#!/bin/bash
# Disk rate limits (--disk ...,iops=,bps=,iops-burst=) measured by the guest:
# the virtio_blk test guest's bench mode times its own requests with rdtsc at
# the host's TSC rate, and each cap must hold within 10 %.
#
#   blk_ratelimit.sh KVMRUN GUEST BENCHRUN TRANSPORT
#
# Checked: without a limit the guest does well over the caps tested (so a cap
# is what slows it); iops=2000 gives 2000 random 4 KiB reads/s; bps=8M gives 8
# MiB/s of 64 KiB sequential reads; iops=1000,iops-burst=2000 lets the first
# 2000 go at once and then 1000/s (4000 reads in about 2 s: 2000/s overall);
# a limit of 50/s lifted through the control socket (set-rate-limit iops=0)
# lets a run that would take 40 s end at once, and query-rate-limits reported
# the limit and the throttled time before.
set -u
kvmrun=$1 guest=$2 benchrun=$3 transport=$4
fail() { echo "FAIL: $*"; exit 1; }
{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || { echo "SKIP: no usable /dev/kvm"; exit 77; }
tsc=$("$benchrun" -t) || fail "benchrun -t"
tsc=${tsc#tsc_khz=}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img
truncate -s 64M "$img"

# bench OPTS APPEND: the guest's bench lines
bench() {
	"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "$img$1" --timeout 60 \
		--append "blk=bench tsc_khz=$tsc $2" 2>"$tmp/err" | grep "^virtio-blk bench: " ||
		{ cat "$tmp/err"; fail "no bench line with --disk IMG$1"; }
}
# rate PHASE FIELD LINES: FIELD (reqs or bytes) per second of PHASE
rate() {
	echo "$3" | awk -v p="$1" -v f="$2" '$3 == p {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%d\n", v[f] * 1000000 / v["us"] }'
}
# within GOT WANT WHAT: GOT within 10 % of WANT
within() {
	awk -v g="$1" -v w="$2" 'BEGIN { exit !(g >= 0.9 * w && g <= 1.1 * w) }' ||
		fail "$3: $1, expected $2 +-10 %"
	echo "ok: $3: $1 (cap $2)"
}

free=$(rate rand4k reqs "$(bench "" "iters=4000 qd=4 seq_mb=8")")
[ "$free" -gt 4000 ] || fail "without a limit only $free reads/s: the caps below would prove nothing"
echo "ok: no limit: $free reads/s"
within "$(rate rand4k reqs "$(bench ",iops=2000" "iters=4000 qd=4 seq_mb=1")")" 2000 "iops=2000"
within "$(rate seqread bytes "$(bench ",bps=8M" "iters=100 qd=4 seq_mb=16")")" $((8 << 20)) "bps=8M"
within "$(rate rand4k reqs "$(bench ",iops=1000,iops-burst=2000" "iters=4000 qd=4 seq_mb=1")")" \
	2000 "iops=1000,iops-burst=2000 (2000 at once, then 1000/s)"

# At run time: 2000 reads at 50/s would take 40 s; the limit is lifted after 1 s.
api=$tmp/api.sock
start=$(date +%s)
"$kvmrun" run --kernel "$guest" --transport "$transport" --disk "$img,iops=50" --timeout 60 \
	--api "$api" --append "blk=bench tsc_khz=$tsc iters=2000 qd=1 seq_mb=1" >"$tmp/out" 2>&1 &
vm=$!
for _ in $(seq 200); do [ -S "$api" ] && break; sleep 0.01; done
sleep 1
q=$("$kvmrun" ctl "$api" query-rate-limits) || fail "query-rate-limits: $q"
echo "$q" | grep -Eq '"iops": *50[,}]' || fail "query-rate-limits does not show iops 50: $q"
echo "$q" | grep -Eq '"throttled-ms": *[1-9]' || fail "query-rate-limits shows no throttled time: $q"
"$kvmrun" ctl "$api" set-rate-limit device=virtio-blk0 iops=0 >/dev/null || fail "set-rate-limit failed"
wait $vm; status=$?
took=$(($(date +%s) - start))
[ $status = 33 ] || { cat "$tmp/out"; fail "kvmrun ended with $status, not the guest's PASS (33)"; }
[ $took -lt 15 ] || fail "the run took $took s: the lifted limit still held"
echo "ok: limit lifted at run time, the run took $took s (40 s at 50/s); before: $q"
