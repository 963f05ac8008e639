#!/usr/bin/env python3
"""A stop is a promise: kvmrun ends within a bound of the stop request even
when its output cannot drain or the guest keeps its devices busy.

  stop_bound.py KVMRUN BOUND_S HOW [--tmpfs-disk=MB[,OPTS]] [--max-rss-mb=N] -- KVMRUN-RUN-ARGS...

HOW is "sigterm" (SIGTERM once the guest has run 2 s) or "timeout" (the
arguments carry --timeout T; the request is at T after start).  kvmrun's
stdout is a 4 KiB pipe nobody reads (like a stalled log collector), stderr a
file.  Checks: the exit status (143 or 124), that the process was gone
within BOUND_S of the request, and that it got there on its own: the stop
watchdog (the last resort, watchdog.h) did not have to end it.  Prints the
measured time.  --tmpfs-disk adds a --disk of MB MiB in /dev/shm (tmpfs: no
FALLOC_FL_ZERO_RANGE, so zeroes are written; O_DIRECT works on Linux >= 6.6)
with the given options, removed afterwards.  --max-rss-mb checks kvmrun's
peak resident memory (VmHWM, read just before the stop request).
"""
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time

F_SETPIPE_SZ = 1031


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    kvmrun, bound, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    sep = sys.argv.index("--")
    opts, args = sys.argv[4:sep], sys.argv[sep + 1:]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        return 77
    max_rss, image = None, None
    for o in opts:
        if o.startswith("--max-rss-mb="):
            max_rss = float(o.split("=", 1)[1])
        elif o.startswith("--tmpfs-disk="):
            mb, _, dopts = o.split("=", 1)[1].partition(",")
            fd, image = tempfile.mkstemp(prefix="kvmrun-stop-", suffix=".img", dir="/dev/shm")
            os.ftruncate(fd, int(mb) << 20)
            os.close(fd)
            args += ["--disk", image + ("," + dopts if dopts else "")]
        else:
            print("stop_bound.py: unknown option", o)
            return 2
    try:
        return run(kvmrun, bound, how, args, max_rss)
    finally:
        if image:
            os.unlink(image)


def run(kvmrun, bound, how, args, max_rss):
    rfd, wfd = os.pipe()
    fcntl.fcntl(wfd, F_SETPIPE_SZ, 4096)
    err = tempfile.TemporaryFile()
    start = time.monotonic()
    p = subprocess.Popen([kvmrun, "run"] + args, stdin=subprocess.DEVNULL, stdout=wfd,
                         stderr=err)
    os.close(wfd)
    rss = None
    if how == "sigterm":
        time.sleep(2)
        if p.poll() is not None:
            print("FAIL: kvmrun ended before the signal, status", p.returncode)
            return 1
        rss = peak_rss_mb(p.pid)
        request = time.monotonic()
        p.send_signal(signal.SIGTERM)
        want = 143
    else:
        t = float(args[args.index("--timeout") + 1])
        request = start + t
        want = 124
        time.sleep(max(0.0, request - 0.3 - time.monotonic()))
        if p.poll() is None:
            rss = peak_rss_mb(p.pid)
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
    print("stop request -> exit: %.3f s (bound %.1f s), status %d%s" %
          (took, bound, status, "" if rss is None else ", peak RSS %.0f MiB" % rss))
    if log:
        print("--- log ---\n" + log.rstrip())
    if status != want:
        print("FAIL: exit status %d, expected %d" % (status, want))
        return 1
    if took > bound:
        print("FAIL: took %.3f s, more than %.1f s" % (took, bound))
        return 1
    if max_rss is not None and (rss is None or rss > max_rss):
        print("FAIL: peak RSS %s MiB, bound %.0f MiB" % (rss, max_rss))
        return 1
    if "threads still busy" in log:
        print("FAIL: only the stop watchdog ended kvmrun: a thread did not notice the stop")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
