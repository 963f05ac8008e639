#!/bin/bash
# Boots a guest with kvmrun (or runs any command) and checks what happened.
#
#   run_guest.sh [checks] -- COMMAND ARGS...
#
# checks:
#   --status N            expected exit status (required)
#   --out REGEX           the guest's serial output (stdout) must match (grep -E)
#   --no-out REGEX        ... must not match
#   --out-min REGEX N     ... at least N lines match
#   --err REGEX           kvmrun's log (stderr) must match
#   --err-count REGEX N   ... exactly N log lines match
#   --err-lines N         stderr has exactly N lines
#   --file PATH REGEX     after the run, PATH must contain a match
#   --input TEXT          sent to stdin (printf %b) once --wait-for matched
#   --wait-for REGEX      serial output to wait for before --input / --signal
#   --signal SIG          sent to kvmrun once --wait-for matched
#   --needs-kvm           skip (exit 77) when /dev/kvm is not usable
# Exit: 0 pass, 1 fail, 77 skip.
set -u

status="" input="" wait_for="" sig="" needs_kvm=0 err_lines=""
out_re=() no_out_re=() outm_re=() outm_n=() err_re=() errc_re=() errc_n=() file_path=() file_re=()
while [ $# -gt 0 ]; do
	case "$1" in
	--status) status=$2; shift 2 ;;
	--out) out_re+=("$2"); shift 2 ;;
	--no-out) no_out_re+=("$2"); shift 2 ;;
	--out-min) outm_re+=("$2"); outm_n+=("$3"); shift 3 ;;
	--err) err_re+=("$2"); shift 2 ;;
	--err-count) errc_re+=("$2"); errc_n+=("$3"); shift 3 ;;
	--err-lines) err_lines=$2; shift 2 ;;
	--file) file_path+=("$2"); file_re+=("$3"); shift 3 ;;
	--input) input=$2; shift 2 ;;
	--wait-for) wait_for=$2; shift 2 ;;
	--signal) sig=$2; shift 2 ;;
	--needs-kvm) needs_kvm=1; shift ;;
	--) shift; break ;;
	*) echo "run_guest.sh: unknown option $1" >&2; exit 1 ;;
	esac
done
[ -n "$status" ] || { echo "run_guest.sh: --status is required" >&2; exit 1; }

if [ $needs_kvm = 1 ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "SKIP: /dev/kvm is missing or not accessible to $(id -un)"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out err=$tmp/err

wait_output() {
	local i
	for i in $(seq 1 1200); do
		grep -qE "$wait_for" "$out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

if [ -n "$input" ] || [ -n "$sig" ]; then
	mkfifo "$tmp/in"
	"$@" <"$tmp/in" >"$out" 2>"$err" &
	pid=$!
	exec 3>"$tmp/in"
	if [ -n "$wait_for" ] && ! wait_output; then
		echo "FAIL: never saw /$wait_for/ in the serial output"
	fi
	[ -n "$input" ] && printf '%b' "$input" >&3
	[ -n "$sig" ] && kill -s "$sig" "$pid"
	wait "$pid"
	rc=$?
	exec 3>&-
else
	"$@" </dev/null >"$out" 2>"$err"
	rc=$?
fi

fail=0
problem() { echo "FAIL: $*"; fail=1; }
[ "$rc" = "$status" ] || problem "exit status $rc, expected $status"
for re in "${out_re[@]+"${out_re[@]}"}"; do
	grep -qE -- "$re" "$out" || problem "serial output lacks /$re/"
done
for re in "${no_out_re[@]+"${no_out_re[@]}"}"; do
	! grep -qE -- "$re" "$out" || problem "serial output has /$re/"
done
for i in "${!outm_re[@]}"; do
	n=$(grep -cE -- "${outm_re[$i]}" "$out")
	[ "$n" -ge "${outm_n[$i]}" ] || problem "serial output has $n lines matching /${outm_re[$i]}/, expected at least ${outm_n[$i]}"
done
for re in "${err_re[@]+"${err_re[@]}"}"; do
	grep -qE -- "$re" "$err" || problem "log lacks /$re/"
done
for i in "${!errc_re[@]}"; do
	n=$(grep -cE -- "${errc_re[$i]}" "$err")
	[ "$n" = "${errc_n[$i]}" ] || problem "log has $n lines matching /${errc_re[$i]}/, expected ${errc_n[$i]}"
done
if [ -n "$err_lines" ]; then
	n=$(wc -l <"$err")
	[ "$n" = "$err_lines" ] || problem "log has $n lines, expected $err_lines"
fi
for i in "${!file_path[@]}"; do
	grep -qE -- "${file_re[$i]}" "${file_path[$i]}" 2>/dev/null ||
		problem "${file_path[$i]} lacks /${file_re[$i]}/"
done
if [ $fail = 1 ]; then
	echo "command: $*"
	echo "--- serial output ---"; tail -c 4000 "$out"
	echo "--- log ---"; tail -c 4000 "$err"
	exit 1
fi
echo "ok: exit status $rc"
exit 0
