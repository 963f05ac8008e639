#!/bin/bash
# An instruction KVM's emulator cannot run: on PVM hosts kvmrun reports it
# (RIP and bytes) and exits 1; on hardware it runs natively and the guest passes.
run=$1 kvmrun=$2 kernel=$3
if "$kvmrun" info 2>/dev/null | grep -q '^backend: PVM'; then
	exec "$run" --needs-kvm --status 1 --out "running xgetbv" --err-lines 1 \
		--err "vcpu0: KVM cannot emulate the instruction at rip 0x[0-9a-f]+ \\[0f 01 d0 " -- \
		"$kvmrun" run --kernel "$kernel" --timeout 60
fi
exec "$run" --needs-kvm --status 33 --out "^PASS" -- "$kvmrun" run --kernel "$kernel" --timeout 60
