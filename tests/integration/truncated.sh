#!/bin/bash
# A kernel cut short at several points must fail with one line, never crash.
run=$1 kvmrun=$2 kernel=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
size=$(stat -c %s "$kernel")
for cut in 4 63 64 100 200 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$kernel" >"$tmp/k"
	"$run" --needs-kvm --status 1 --err-lines 1 --err "kernel" -- \
		"$kvmrun" run --kernel "$tmp/k" --timeout 10 || { echo "cut at $cut bytes"; exit 1; }
done
