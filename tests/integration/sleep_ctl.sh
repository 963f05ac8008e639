#!/bin/bash
# A guest asleep in S3 (the sleep guest with rtc_en=0: nothing wakes it) and
# the control socket: query-status answers, cont, snapshot-save and migrate
# are refused with the reason, and SIGTERM still ends the run.
#
#   sleep_ctl.sh KVMRUN GUEST_DIR
set -u
kvmrun=$1 g=$2
if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "SKIP: /dev/kvm is missing or not accessible"; exit 77
fi
tmp=$(mktemp -d)
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "--- stderr"; cat "$tmp/err"; exit 1; }
api=$tmp/api
"$kvmrun" run --kernel "$g/sleep.elf" --append rtc_en=0 --api "$api" --timeout 60 -v \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 300); do
	grep -q "the guest sleeps (S3)" "$tmp/err" && break
	sleep 0.1
done
grep -q "the guest sleeps (S3)" "$tmp/err" || fail "the guest never went to sleep"
q=$("$kvmrun" ctl "$api" query-status 2>&1) || fail "query-status: $q"
echo "$q" | grep -q '"running":false.*"status":"suspended"' || fail "query-status while asleep: $q"
r=$("$kvmrun" ctl "$api" cont 2>&1) && fail "cont woke a sleeping guest: $r"
echo "$r" | grep -q "the guest is asleep (S3)" || fail "cont refused without the reason: $r"
r=$("$kvmrun" ctl "$api" snapshot-save path="$tmp/snap" 2>&1) && fail "snapshot of a sleeping guest: $r"
echo "$r" | grep -q "the guest is asleep (S3)" || fail "snapshot-save refused without the reason: $r"
[ ! -e "$tmp/snap" ] || fail "snapshot-save wrote $tmp/snap"
r=$("$kvmrun" ctl "$api" migrate uri="unix:$tmp/mig" 2>&1) && fail "migrated a sleeping guest: $r"
echo "$r" | grep -q "the guest is asleep (S3)" || fail "migrate refused without the reason: $r"
grep -q "^woke" "$tmp/out" && fail "the guest woke without a wake event"
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 143 ] || fail "exit status $rc after SIGTERM, expected 143"
echo "ok: asleep, query-status answered; cont, snapshot-save and migrate refused; SIGTERM ended it"
