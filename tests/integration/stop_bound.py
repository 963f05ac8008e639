#!/usr/bin/env python3
"""A stop is a promise: kvmrun ends within a bound of the stop request even
when its output cannot drain or the guest keeps its devices busy.

  stop_bound.py KVMRUN BOUND_S HOW -- KVMRUN-RUN-ARGS...

HOW is "sigterm" (SIGTERM once the guest has run 2 s) or "timeout" (the
arguments carry --timeout T; the request is at T after start).  kvmrun's
stdout is a 4 KiB pipe nobody reads (like a stalled log collector), stderr a
file.  Checks: the exit status (143 or 124), that the process was gone
within BOUND_S of the request, and that it got there on its own: the stop
watchdog (the last resort, watchdog.h) did not have to end it.  Prints the
measured time.
"""
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time

F_SETPIPE_SZ = 1031


def main():
    kvmrun, bound, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    args = sys.argv[sys.argv.index("--") + 1:]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return 77
    rfd, wfd = os.pipe()
    fcntl.fcntl(wfd, F_SETPIPE_SZ, 4096)
    err = tempfile.TemporaryFile()
    start = time.monotonic()
    p = subprocess.Popen([kvmrun, "run"] + args, stdin=subprocess.DEVNULL, stdout=wfd,
                         stderr=err)
    os.close(wfd)
    if how == "sigterm":
        time.sleep(2)
        if p.poll() is not None:
            print("FAIL: kvmrun ended before the signal, status", p.returncode)
            return 1
        request = time.monotonic()
        p.send_signal(signal.SIGTERM)
        want = 143
    else:
        t = float(args[args.index("--timeout") + 1])
        request = start + t
        want = 124
    try:
        status = p.wait(timeout=bound + 10 + (0 if how == "sigterm" else request - start))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        print("FAIL: kvmrun still running %.1f s after the stop request" % (time.monotonic() - request))
        return 1
    took = time.monotonic() - request
    os.close(rfd)
    err.seek(0)
    log = err.read().decode(errors="replace")
    print("stop request -> exit: %.3f s (bound %.1f s), status %d" % (took, bound, status))
    if log:
        print("--- log ---\n" + log.rstrip())
    if status != want:
        print("FAIL: exit status %d, expected %d" % (status, want))
        return 1
    if took > bound:
        print("FAIL: took %.3f s, more than %.1f s" % (took, bound))
        return 1
    if "threads still busy" in log:
        print("FAIL: only the stop watchdog ended kvmrun: a thread did not notice the stop")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
