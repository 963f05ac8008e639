#!/bin/bash
# Builds kvm-unit-tests (x86) from a source tree and runs its own run_tests.sh
# twice, test by test: once with QEMU= pointing at kvmrun's QEMU-compatible front
# (a qemu-system-x86_64 symlink to kvmrun) and once with the real QEMU; prints
# each test's result and wall time side by side, then the totals.
#
#   tools/kvm-unit-tests.sh SRC_DIR [options] [TEST...]
#
#   --kvmrun PATH   the kvmrun binary (default: build/kvmrun next to this script,
#                   then kvmrun on PATH)
#   --qemu PATH     the real QEMU (default: qemu-system-x86_64 on PATH)
#   --only kvmrun|qemu   run one side only
#   --timeout SECS  per-test timeout handed to run_tests.sh (TIMEOUT=, default 90)
#   --out DIR       where each side's logs go (default: /tmp/kvm-unit-tests-results)
#   --no-build      use the tree as built
#   TEST...         test names from x86/unittests.cfg (default: every default test)
#
# The tree is built in place (./configure && make) unless x86/*.flat exist.
# Exit status: 0 when every test that passed under QEMU passed under kvmrun too
# (or one side was not run), 1 otherwise, 2 on a usage or build error.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
src="" kvmrun="" qemu="" only="" tmo=90 out=/tmp/kvm-unit-tests-results build=1
tests=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kvmrun) kvmrun=$2; shift 2 ;;
	--qemu) qemu=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "kvm-unit-tests.sh: unknown option $1" >&2; exit 2 ;;
	*) if [ -z "$src" ]; then src=$1; else tests+=("$1"); fi; shift ;;
	esac
done
[ -n "$src" ] && [ -d "$src" ] || { echo "usage: kvm-unit-tests.sh SRC_DIR [options] [TEST...]" >&2; exit 2; }
src=$(cd "$src" && pwd)
[ -x "$src/run_tests.sh" ] || { echo "$src: no run_tests.sh: not a kvm-unit-tests tree" >&2; exit 2; }

if [ $build = 1 ] && ! ls "$src"/x86/*.flat >/dev/null 2>&1; then
	echo "building kvm-unit-tests in $src ..."
	(cd "$src" && { [ -f config.mak ] || ./configure --arch=x86_64; } && make -j"$(nproc)") \
		>"$src/kvmrun-build.log" 2>&1 ||
		{ echo "build failed: see $src/kvmrun-build.log" >&2; exit 2; }
fi

# kvmrun's side: a directory holding a qemu-system-x86_64 symlink to kvmrun.
if [ -z "$kvmrun" ]; then
	for k in "$here/build/kvmrun" "$(command -v kvmrun 2>/dev/null)"; do
		[ -n "$k" ] && [ -x "$k" ] && { kvmrun=$k; break; }
	done
fi
[ -z "$qemu" ] && qemu=$(command -v qemu-system-x86_64 2>/dev/null)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sides=()
if [ "$only" != qemu ]; then
	if [ -n "$kvmrun" ] && "$kvmrun" qemu -version 2>/dev/null | grep -q QEMU; then
		mkdir -p "$tmp/kvmrun-bin"
		ln -s "$(readlink -f "$kvmrun")" "$tmp/kvmrun-bin/qemu-system-x86_64"
		sides+=(kvmrun)
	else
		echo "note: ${kvmrun:-kvmrun (not found)} has no QEMU-compatible front ('kvmrun qemu'):" \
			"its column is skipped" >&2
	fi
fi
if [ "$only" != kvmrun ]; then
	if [ -n "$qemu" ]; then sides+=(qemu); else echo "note: no qemu-system-x86_64: its column is skipped" >&2; fi
fi
[ ${#sides[@]} -gt 0 ] || { echo "nothing to run" >&2; exit 2; }

if [ ${#tests[@]} -eq 0 ]; then
	mapfile -t tests < <(cd "$src" && ./run_tests.sh -l 2>/dev/null)
fi

binary_of() {
	case "$1" in
	kvmrun) echo "$tmp/kvmrun-bin/qemu-system-x86_64" ;;
	qemu) echo "$qemu" ;;
	esac
}

# One test on one side: "RESULT SECONDS", the runner's log kept under $out/SIDE/.
run_one() {
	local side=$1 t=$2 start end line res
	mkdir -p "$out/$side"
	start=$(date +%s.%N)
	line=$(cd "$src" && QEMU=$(binary_of "$side") ACCEL=kvm TIMEOUT=$tmo ./run_tests.sh "$t" 2>&1 |
		sed 's/\x1b\[[0-9;]*m//g' | tee "$out/$side/$t.runner" | grep -E "^(PASS|FAIL|SKIP|XFAIL|TIMEOUT) " | tail -1)
	end=$(date +%s.%N)
	[ -f "$src/logs/$t.log" ] && cp "$src/logs/$t.log" "$out/$side/$t.log"
	res=${line%% *}
	[ -n "$res" ] || res=ERROR
	printf '%s %.2f\n' "$res" "$(echo "$end - $start" | bc)"
}

declare -A result secs
printf '%-28s' test
for s in "${sides[@]}"; do printf ' %-8s %8s' "$s" "s"; done
printf '\n'
for t in "${tests[@]}"; do
	printf '%-28s' "$t"
	for s in "${sides[@]}"; do
		read -r r sec < <(run_one "$s" "$t")
		result[$s,$t]=$r secs[$s,$t]=$sec
		printf ' %-8s %8s' "$r" "$sec"
	done
	printf '\n'
done

status=0
for s in "${sides[@]}"; do
	p=0 f=0 k=0 tot=0
	for t in "${tests[@]}"; do
		case "${result[$s,$t]}" in PASS) p=$((p + 1)) ;; SKIP) k=$((k + 1)) ;; *) f=$((f + 1)) ;; esac
		tot=$(echo "$tot + ${secs[$s,$t]}" | bc)
	done
	echo "$s: $p passed, $f failed, $k skipped of ${#tests[@]} in ${tot} s (logs: $out/$s)"
done
if [ ${#sides[@]} = 2 ]; then
	worse=()
	for t in "${tests[@]}"; do
		[ "${result[qemu,$t]}" = PASS ] && [ "${result[kvmrun,$t]}" != PASS ] && worse+=("$t")
	done
	if [ ${#worse[@]} -gt 0 ]; then
		echo "pass under QEMU but not under kvmrun: ${worse[*]}"
		status=1
	fi
fi
exit $status
