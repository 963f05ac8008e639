#!/bin/bash
# The guest's RTC reading must be the host's UTC time, to within a few seconds.
run=$1 kvmrun=$2 kernel=$3
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
"$run" --needs-kvm --status 33 --file "$tmp" "^rtc: " --file "$tmp" "^PASS" -- \
	"$kvmrun" run --kernel "$kernel" --serial "file:$tmp" --timeout 60 || exit $?
guest=$(sed -n 's/^rtc: //p' "$tmp" | tr -d '\r')
gs=$(date -u -d "$guest" +%s) || { echo "FAIL: unreadable guest time '$guest'"; exit 1; }
hs=$(date -u +%s)
diff=$((hs - gs)); diff=${diff#-}
echo "guest $guest, host $(date -u +%FT%TZ), off by ${diff}s"
[ "$diff" -le 5 ] || { echo "FAIL: RTC is ${diff}s away from the host clock"; exit 1; }
