#!/bin/bash
# benchrun's CPU report (tools/bench.sh --vhost-user reads it): without -c the
# line keeps its old fields only; -c gives user/sys from rusage and guest_ms,
# which is 0 for a host program and counts a guest's vCPU time for kvmrun;
# -s names the threads, and kvmrun's vCPU thread is among them.
benchrun=$1 kvmrun=$2 guest=$3	# guest: virtio_blk.elf (blk=bench polls in CPL3)
fail=0
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

line=$("$benchrun" -n 2 -q -- true)
if ! [[ $line =~ ^runs=2\ median_ms=[0-9.]+\ min_ms=[0-9.]+\ max_ms=[0-9.]+\ maxrss_kib=[0-9]+\ status=0\ per_s=[0-9.]+$ ]]; then
	echo "FAIL: without -c the line changed: $line"; fail=1
fi

# About 0.2 s of a shell's own CPU, none of it a guest's.
line=$("$benchrun" -n 1 -q -c -- sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done')
u=$(field user_ms "$line") g=$(field guest_ms "$line") w=$(field median_ms "$line")
if [ -z "$u" ] || ! ge "$u" 20 || ! ge "$(awk -v w="$w" 'BEGIN { print w * 1.2 + 10 }')" "$u" || [ "$g" != 0 ]; then
	echo "FAIL: -c on a busy shell: $line"; fail=1
else
	echo "ok: -c on a busy shell: user_ms=$u guest_ms=$g wall $w ms"
fi
line=$("$benchrun" -n 1 -q -s -- sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done')
t=$(field threads "$line")
if ! [[ $t =~ ^sh:[0-9.]+$ ]] || ! ge "${t#sh:}" 10; then
	echo "FAIL: -s on a busy shell: $line"; fail=1
else
	echo "ok: -s on a busy shell: threads=$t"
fi

if [ -c /dev/kvm ] && [ -w /dev/kvm ]; then
	img=$(mktemp)
	trap 'rm -f "$img"' EXIT
	truncate -s 8M "$img"
	line=$("$benchrun" -n 1 -q -s -- "$kvmrun" run --memory 64M --transport mmio --kernel "$guest" \
		--disk "$img" --append "blk=bench iters=50000 seq_mb=8 qd=1")
	g=$(field guest_ms "$line") t=$(field threads "$line")
	v=$(tr ',' '\n' <<<"$t" | sed -n 's/^vcpu:\([0-9.]*\)$/\1/p')
	if [ "$(field status "$line")" != 33 ] || [ -z "$g" ] || ! ge "$g" 10 || [ -z "$v" ] || ! ge "$v" 10; then
		echo "FAIL: kvmrun under -s: $line"; fail=1
	else
		echo "ok: kvmrun under -s: guest_ms=$g, vcpu threads $v ms ($t)"
	fi
else
	echo "skipped: kvmrun's guest time (no usable /dev/kvm)"
fi
exit $fail
