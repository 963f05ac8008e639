#!/bin/bash
# kvmrun started with stdin, stdout or stderr closed still stops at once on
# SIGTERM (status 143) and on --timeout (124).  Before, a closed stdin made the
# signalfd fd 0, the console code read it as input and swallowed the signal.
kvmrun=$1 guest=$2	# a guest that never ends by itself
[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
fail=0

# run_closed LABEL REDIRECTIONS: SIGTERM after 0.5 s, at most 2 s more to exit.
run_closed() {
	local label=$1 redir=$2 start end status
	eval "\"$kvmrun\" run --kernel \"$guest\" --append mode=hang $redir &"
	local pid=$!
	sleep 0.5
	kill -TERM $pid
	start=$(date +%s%N)
	for _ in $(seq 40); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	end=$(date +%s%N)
	if kill -0 $pid 2>/dev/null; then
		echo "FAIL: $label: still running 2 s after SIGTERM"; kill -KILL $pid; fail=1
	fi
	wait $pid; status=$?
	if [ $status = 143 ]; then
		echo "ok: $label: SIGTERM -> exit in $(( (end - start) / 1000000 )) ms"
	else
		echo "FAIL: $label: status $status after SIGTERM, expected 143"; fail=1
	fi
	eval "\"$kvmrun\" run --kernel \"$guest\" --append mode=hang --timeout 0.5 $redir"
	status=$?
	[ $status = 124 ] || { echo "FAIL: $label: status $status after --timeout, expected 124"; fail=1; }
}

run_closed "stdin closed" "<&-"
run_closed "stdout closed" ">&-"
run_closed "stderr closed" "2>&-"
run_closed "all closed" "<&- >&- 2>&-"
exit $fail
