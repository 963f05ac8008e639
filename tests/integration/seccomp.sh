#!/bin/bash
# The seccomp sandbox kills the process when a thread makes a system call its
# allow-list lacks.  KVMRUN_SECCOMP_SELFTEST=ROLE makes the first thread of
# that role call socket(2) right after entering its filter.
#
#   seccomp.sh RUN_GUEST KVMRUN GUEST   (GUEST: build/guests/virtio_rng.elf, which
#   cannot finish before the device worker has served it)
#
# Checked per role (vcpu, device, main, sink, watchdog, control, migrate): kvmrun dies by SIGSYS (status 159)
# with one line naming the thread and system call 41, and without the
# guest's output finishing; with --seccomp off the same run ends normally
# (33).  Sanitizer builds leave the main thread unfiltered (`kvmrun info`
# says so): there the main role must run to the end instead.
set -u
run=$1 kvmrun=$2 guest=$3
main_filtered=1
"$kvmrun" info | grep -q "main .*not applied" && main_filtered=0

api=$(mktemp -u /tmp/kvmrun-seccomp-XXXXXX.sock)
for role in vcpu device main sink watchdog control migrate; do
	extra=() nr=41
	case $role in
	control) name=control extra=(--api "$api") nr=53 ;;	# it may call socket(2): socketpair
	migrate) name=migrate nr=53 ;;				# the same
	sink) name=stdout ;;
	watchdog) name=watchdog ;;
	vcpu) name=vcpu0 ;;
	device) name=virtio-rng nr=53 ;;			# it may reconnect vhost-user: socketpair
	main) name=main ;;
	esac
	if [ $role = main ] && [ $main_filtered = 0 ]; then
		KVMRUN_SECCOMP_SELFTEST=$role "$run" --needs-kvm --status 33 --out "^PASS" -- \
			"$kvmrun" run --kernel "$guest" --rng --timeout 30 || exit 1
		echo "ok: main thread unfiltered in this (sanitizer) build, as kvmrun info says"
		continue
	fi
	KVMRUN_SECCOMP_SELFTEST=$role "$run" --needs-kvm --status 159 --no-out "^PASS" \
		--err "^kvmrun: fatal: seccomp: $name made forbidden system call $nr " -- \
		"$kvmrun" run --kernel "$guest" --rng --timeout 30 "${extra[@]}" || exit 1
	rm -f "$api"	# left by the killed run (a later run would replace it anyway)
	KVMRUN_SECCOMP_SELFTEST=$role "$run" --needs-kvm --status 33 --out "^PASS" -- \
		"$kvmrun" run --kernel "$guest" --rng --timeout 30 --seccomp off "${extra[@]}" || exit 1
	echo "ok: $role"
done
