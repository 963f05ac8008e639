#!/bin/bash
# The VM's teardown reaper (src/reaper.c): while the guest runs, kvmrun has
# one child named kvmrun-reaper holding exactly two fds, the VM and its
# socket to kvmrun (none of the caller's pipes); when kvmrun ends, the
# reaper ends too, and the caller's pipe reaches EOF with kvmrun's exit.
kvmrun=$1 guest=$2	# a guest that never ends by itself
[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$kvmrun" run --kernel "$guest" --append mode=hang > >(cat > "$out") 2>&1 &
pid=$!
reaper=""
for _ in $(seq 100); do
	reaper=$(pgrep -P "$pid" -x kvmrun-reaper) && break
	sleep 0.02
done
[ -n "$reaper" ] || { echo "FAIL: no kvmrun-reaper child of kvmrun $pid"; kill -KILL "$pid"; exit 1; }
fds=$(ls -l "/proc/$reaper/fd" | awk 'NR > 1 { print $NF }' | sort)
echo "reaper $reaper holds:" $fds
[ "$(printf '%s\n' "$fds" | wc -l)" = 2 ] || { echo "FAIL: the reaper holds $(printf '%s\n' "$fds" | wc -l) fds, expected 2"; fail=1; }
printf '%s\n' "$fds" | grep -q '^anon_inode:kvm-vm$' || { echo "FAIL: the reaper does not hold the VM"; fail=1; }
printf '%s\n' "$fds" | grep -q '^socket:' || { echo "FAIL: the reaper holds no socket"; fail=1; }
grep -qP '^Seccomp:\t1$' "/proc/$reaper/status" || { echo "FAIL: the reaper is not in strict seccomp: $(grep Seccomp: "/proc/$reaper/status")"; fail=1; }

kill -TERM "$pid"
wait "$pid"; status=$?
[ $status = 143 ] || { echo "FAIL: kvmrun status $status after SIGTERM, expected 143"; fail=1; }
for _ in $(seq 50); do kill -0 "$reaper" 2>/dev/null || break; sleep 0.02; done
if kill -0 "$reaper" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$reaper/stat" 2>/dev/null)" != Z ]; then
	echo "FAIL: the reaper $reaper still runs 1 s after kvmrun ended"; fail=1
fi

# A caller reading kvmrun's output through a pipe gets EOF as kvmrun exits.
start=$(date +%s%N)
"$kvmrun" run --kernel "$guest" --append mode=hang --timeout 0.3 2>&1 | cat >/dev/null
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
echo "pipe EOF after a 0.3 s run: $ms ms"
[ $ms -lt 1300 ] || { echo "FAIL: the pipe stayed open $ms ms"; fail=1; }
exit $fail
