#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs
# each for a while on its corpus, under AddressSanitizer + UBSan + LeakSanitizer.
#
#   tools/fuzz.sh [--time SECONDS] [--merge] [TARGET...]
#
# TARGET: virtqueue blk blk_direct blk_uring console pci mmio serial pio loader config snapshot
#         qmp vhost_user vfio vtd
# (default: all of them, one after the other, one fuzzer process at a time).
# --time: seconds per target (default 60).
# --merge: afterwards, add the inputs that cover something new to
# tests/fuzz/corpus/TARGET (to commit: a few hundred KiB a target after a long
# run, so only now and then); otherwise what a run finds stays in
# build-fuzz/corpus/TARGET and is reused by the next run.
# Prints one summary line per target; exits non-zero on any crash, leak,
# timeout or failed property, with the path of the input that triggers it
# (re-run it with build-fuzz/tests/fuzz/fuzz_TARGET FILE).  See tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(virtqueue blk blk_direct blk_uring console pci mmio serial pio loader config snapshot qmp vhost_user vfio vtd ioapic)
secs=60
merge=0
targets=()
usage() { sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--time) secs=${2:?--time needs a number of seconds}; shift 2 ;;
	--time=*) secs=${1#--time=}; shift ;;
	--merge) merge=1; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "fuzz.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || { echo "fuzz.sh: --time '$secs': expected seconds" >&2; exit 2; }
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
	[[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (${all[*]})" >&2; exit 2; }
done

tools/deps.sh fuzz

build=build-fuzz
mkdir -p "$build"
echo "== build ($build, clang, libFuzzer + ASan + UBSan)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DKVMRUN_FUZZ=ON -DKVMRUN_TESTS=OFF >"$build/cmake.log" 2>&1 ||
	{ cat "$build/cmake.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1 ||
	{ tail -n 40 "$build/build.log" >&2; exit 1; }

# Inputs larger than these are cut: ring layouts and RAM pages for the devices, kernels up to 128 KiB.
max_len() {
	case $1 in
	virtqueue|blk|blk_direct|blk_uring|console) echo 8192 ;;
	pci|mmio|config|qmp) echo 4096 ;;
	serial|pio) echo 1024 ;;
	loader) echo 131072 ;;
	snapshot) echo 32768 ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=()
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz_$t
	seeds=tests/fuzz/corpus/$t
	work=$build/corpus/$t
	art=$build/artifacts/$t/
	log=$build/logs/$t.log
	mkdir -p "$seeds" "$work" "$art" "$(dirname "$log")"
	echo "== fuzz_$t: ${secs}s (log: $log)"
	# New inputs go to the first directory (the scratch one); the committed seeds are only read.
	# stderr of the target (kvmrun's log lines) is closed; libFuzzer and sanitizer reports still show.
	rc=0
	"$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$art" \
		"$work" "$seeds" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$( (grep -o 'cov: [0-9]* ft: [0-9]*' "$log" || true) | tail -n 1 |
		awk '{print $2 " edges, " $4 " features"}')
	if [ "$rc" = 0 ]; then
		result=clean
	else
		failed=1
		kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error: .*|property failed: .*' "$log" || true)
		crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		result="FAILED (exit $rc): ${kind:-see log}${crash:+; input: $crash}"
		echo "---- fuzz_$t report (tail of $log)"
		grep -v '^#[0-9]' "$log" | tail -n 60
		echo "----"
	fi
	line=$(printf '%-10s %6ss  runs %-10s exec/s %-7s cov %-28s %s' "$t" "$secs" "${runs:-?}" \
		"${eps:-?}" "${cov:-?}" "$result")
	summary+=("$line")
	echo "$line"
	if [ "$merge" = 1 ] && [ "$rc" = 0 ]; then
		before=$(find "$seeds" -type f | wc -l)
		# The greedy set cover keeps far fewer files than -merge=1 for the same features.
		"$bin" -set_cover_merge=1 -max_len="$(max_len "$t")" -close_fd_mask=2 "$seeds" "$work" \
			>"$build/logs/$t.merge.log" 2>&1 ||
			{ echo "fuzz.sh: merge for $t failed (see $build/logs/$t.merge.log)" >&2; failed=1; }
		echo "   merged into $seeds: $before -> $(find "$seeds" -type f | wc -l) files," \
			"$(( $(du -sb "$seeds" | cut -f1) / 1024 )) KiB"
	fi
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
