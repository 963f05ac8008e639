#!/usr/bin/env python3
"""Snapshot and restore benchmark: kvmrun against QEMU on the same test guest.

Run by tools/bench.sh --snapshot (or by hand from a built tree):
    tools/bench_snapshot.py [--build build] [--runs N] [--qemu qemu-system-x86_64]

The guest is guests/snapcount (PVH ELF for kvmrun, its multiboot twin for QEMU
-M microvm), printing a line every 1 ms tick.  For each RAM size (256 MiB and
4 GiB: the guest touches a few MiB of either):
  snapshot  kvmrun: QMP snapshot-save on a running guest, timed from the
            request to the answer (the VM is paused, saved and resumed);
            QEMU 7.2: stop, migrate "exec:cat > FILE", polled until
            completed, timed from stop to completed.  Size: the disk blocks
            the files take (du), and their apparent size.
  restore   from the exec of `kvmrun restore DIR` / `qemu -incoming
            "exec:cat FILE"` to the first byte the guest writes to its serial
            port (it prints a line every 1 ms tick, a port write per byte, so
            that byte comes at most a tick after its first instruction).  QEMU keeps a guest that was
            stopped when saved paused: the script polls query-status until
            the state is loaded and sends cont (a few QMP round trips).
Medians over --runs runs.  Progress on stderr, a Markdown table on stdout.
"""
import argparse
import json
import select
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def log(*a):
    print("bench_snapshot:", *a, file=sys.stderr, flush=True)


class QMP:
    """A minimal QMP client: greeting, capabilities, commands; events are kept aside."""

    def __init__(self, path, timeout=20.0):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.005)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\r\n")
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError(f"{name}: connection closed")
            r = json.loads(line)
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']}")
            return r["return"]

    def close(self):
        self.s.close()


def wait_line(proc, prefix, timeout=30.0):
    """Reads proc's stdout until a line starting with prefix; returns the time it came."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"no '{prefix}' line: the process ended")
        if line.startswith(prefix.encode()):
            return time.monotonic()
    raise RuntimeError(f"no '{prefix}' line in {timeout} s")


def wait_byte(proc, timeout=30.0):
    """The time the process's first output byte came: the restored guest's first instruction
    that shows (snapcount prints a line every tick, a port write per byte)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready or not os.read(proc.stdout.fileno(), 1):
        raise RuntimeError("no output from the restored guest")
    return time.monotonic()


def du(paths):
    blocks = sum(os.stat(p).st_blocks * 512 for p in paths)
    apparent = sum(os.stat(p).st_size for p in paths)
    return blocks, apparent


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


GUEST_ARGS = "lines=0 tick_us=1000 period=1"


def kvmrun_once(kvmrun, guest, mem, tmp):
    sock = os.path.join(tmp, "api.sock")
    snap = os.path.join(tmp, "snap")
    shutil.rmtree(snap, ignore_errors=True)
    proc = subprocess.Popen([kvmrun, "run", "--kernel", guest, "--memory", mem, "--api", sock,
                             "--append", GUEST_ARGS, "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_line(proc, "seq 20")
        q = QMP(sock)
        t0 = time.monotonic()
        q.cmd("snapshot-save", path=snap)
        t_snap = time.monotonic() - t0
        q.cmd("quit")
        q.close()
    finally:
        stop(proc)
    size = du([os.path.join(snap, "state"), os.path.join(snap, "memory")])
    t0 = time.monotonic()
    proc = subprocess.Popen([kvmrun, "restore", snap, "--timeout", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        t1 = wait_byte(proc)
    finally:
        stop(proc)
    return t_snap, t1 - t0, size


def qemu_base(qemu, mem):
    return [qemu, "-M", "microvm,acpi=off", "-enable-kvm", "-cpu", "host,-arch-capabilities",
            "-m", mem, "-nodefaults", "-no-user-config", "-nographic", "-display", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio"]


def qemu_once(qemu, guest_mb, mem, tmp):
    sock = os.path.join(tmp, "qmp.sock")
    f = os.path.join(tmp, "qemu.state")
    for p in (sock, f):
        if os.path.exists(p):
            os.unlink(p)
    cmd = qemu_base(qemu, mem) + ["-kernel", guest_mb, "-append", GUEST_ARGS,
                                  "-qmp", f"unix:{sock},server=on,wait=off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_line(proc, "seq 20")
        q = QMP(sock)
        t0 = time.monotonic()
        q.cmd("stop")
        q.cmd("migrate", uri=f"exec:cat > {f}")
        while q.cmd("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.001)
        t_snap = time.monotonic() - t0
        q.cmd("quit")
        q.close()
    finally:
        stop(proc)
    size = du([f])
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.monotonic()
    cmd = qemu_base(qemu, mem) + ["-kernel", guest_mb, "-append", GUEST_ARGS,
                                  "-incoming", f"exec:cat {f}",
                                  "-qmp", f"unix:{sock},server=on,wait=off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # The state says the source was stopped: QEMU keeps it paused; cont once loaded.
        q = QMP(sock)
        while q.cmd("query-status")["status"] == "inmigrate":
            time.sleep(0.0005)
        q.cmd("cont")
        t1 = wait_byte(proc)
        q.close()
    finally:
        stop(proc)
    return t_snap, t1 - t0, size


MIG_GUESTS = {
    # name: (kvmrun guest, QEMU guest, --append, the line that shows it runs)
    "idle": ("snapcount.elf", "snapcount.mb.elf", "lines=0 tick_us=10000 period=10", "seq 3"),
    "busy": ("dirtymem.elf", "dirtymem.mb.elf", "mb=64 passes=0", "pass 3 verified"),
}


def kvmrun_migrate_once(kvmrun, build, kind, tmp):
    """Source and destination processes over a UNIX socket; total and paused time from the source's line."""
    guest, _, args, ready = MIG_GUESTS[kind]
    sock = os.path.join(tmp, "src.sock")
    mig = os.path.join(tmp, "mig.sock")
    common = ["--kernel", os.path.join(build, "guests", guest), "--memory", "256M",
              "--append", args, "--timeout", "120"]
    dst = subprocess.Popen([kvmrun, "run", "--incoming", f"unix:{mig}"] + common,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    src = subprocess.Popen([kvmrun, "run", "--api", sock] + common, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        wait_line(src, ready)
        end = time.monotonic() + 10
        while not os.path.exists(mig) and time.monotonic() < end:
            time.sleep(0.002)
        q = QMP(sock)
        q.cmd("migrate", uri=f"unix:{mig}")
        q.close()
        err = src.stderr.read().decode(errors="replace")
        src.wait(timeout=60)
    finally:
        stop(src)
        stop(dst)
    for line in err.splitlines():
        if "the guest moved to" in line:
            # "... (N MiB sent in T ms, paused for D ms)"
            nums = [int(w) for w in line.replace("(", " ").replace(",", " ").split() if w.isdigit()]
            return nums[1] / 1000, nums[2] / 1000
    raise RuntimeError(f"kvmrun migration ({kind}) did not complete: {err.strip()[-200:]}")


def qemu_migrate_once(qemu, build, kind, tmp):
    _, guest, args, ready = MIG_GUESTS[kind]
    ssock = os.path.join(tmp, "qsrc.sock")
    mig = os.path.join(tmp, "qmig.sock")
    for p in (ssock, mig):
        if os.path.exists(p):
            os.unlink(p)
    common = qemu_base(qemu, "256M") + ["-kernel", os.path.join(build, "guests", guest),
                                        "-append", args]
    dst = subprocess.Popen(common + ["-incoming", f"unix:{mig}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    src = subprocess.Popen(common + ["-qmp", f"unix:{ssock},server=on,wait=off"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_line(src, ready)
        end = time.monotonic() + 10
        while not os.path.exists(mig) and time.monotonic() < end:
            time.sleep(0.002)
        q = QMP(ssock)
        q.cmd("migrate", uri=f"unix:{mig}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st = q.cmd("query-migrate")
            if st.get("status") in ("completed", "failed"):
                break
            time.sleep(0.002)
        q.close()
    finally:
        stop(src)
        stop(dst)
    if st.get("status") != "completed":
        raise RuntimeError(f"QEMU migration ({kind}): {st}")
    return st["total-time"] / 1000, st["downtime"] / 1000


def linux_case(kvmrun, ldir, tmp):
    """Cold boot to KUnit's totals, against a restore (taken when KUnit starts) to them."""
    sock = os.path.join(tmp, "linux.sock")
    snap = os.path.join(tmp, "linux-snap")
    shutil.rmtree(snap, ignore_errors=True)
    args = [kvmrun, "run", "--kernel", os.path.join(ldir, "vmlinux"),
            "--initrd", os.path.join(ldir, "initramfs.cpio"), "--cpus", "2", "--memory", "512M",
            "--timeout", "900", "--append", "console=ttyS0 kunit_shutdown=poweroff panic=-1"]
    log("Linux: cold boot to the KUnit totals (minutes on PVM)")
    t0 = time.monotonic()
    proc = subprocess.Popen(args + ["--api", sock], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        t_ktap = wait_line_re(proc, "KTAP version", 900) - t0
        q = QMP(sock)
        q.cmd("snapshot-save", path=snap)
        q.close()
        t_total = wait_line_re(proc, "# Totals:", 900) - t0
    finally:
        stop(proc)
    log("Linux: restore to the KUnit totals")
    t0 = time.monotonic()
    proc = subprocess.Popen([kvmrun, "restore", snap, "--timeout", "900"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        t_restored = wait_line_re(proc, "# Totals:", 900) - t0
    finally:
        stop(proc)
    return t_ktap, t_total, t_restored


def wait_line_re(proc, text, timeout):
    """Like wait_line, for text anywhere in a line (the kernel's lines start with a time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"no '{text}' line: the process ended")
        if text.encode() in line:
            return time.monotonic()
    raise RuntimeError(f"no '{text}' line in {timeout} s")


def fmt_ms(v):
    return "n/a" if v is None else f"{v * 1000:.1f} ms"


def fmt_size(b):
    blocks, apparent = b
    return f"{blocks / 2**20:.1f} MiB ({apparent / 2**20:.0f} MiB apparent)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    ap.add_argument("--mem", nargs="*", default=["256M", "4G"])
    ap.add_argument("--linux", metavar="DIR",
                    help="also the Linux guest in DIR (tools/build-linux-guest.sh --cached)")
    a = ap.parse_args()
    kvmrun = os.path.join(a.build, "kvmrun")
    guest = os.path.join(a.build, "guests", "snapcount.elf")
    guest_mb = os.path.join(a.build, "guests", "snapcount.mb.elf")
    have_qemu = shutil.which(a.qemu) is not None
    rows = []
    with tempfile.TemporaryDirectory(prefix="kvmrun-bench-snap-", dir="/var/tmp") as tmp:
        for mem in a.mem:
            res = {"kvmrun": [], "qemu": []}
            for i in range(a.runs):
                log(f"{mem}: run {i + 1}/{a.runs}")
                res["kvmrun"].append(kvmrun_once(kvmrun, guest, mem, tmp))
                if have_qemu:
                    try:
                        res["qemu"].append(qemu_once(a.qemu, guest_mb, mem, tmp))
                    except (RuntimeError, OSError) as e:
                        log(f"QEMU: {e}")
            for who in ("kvmrun", "qemu"):
                r = res[who]
                if not r:
                    rows.append((mem, who, None, None, None))
                    continue
                rows.append((mem, who, statistics.median(x[0] for x in r),
                             statistics.median(x[1] for x in r), r[-1][2]))
    print("| RAM | VMM | snapshot time | snapshot size on disk | restore to the guest's first output |")
    print("| --- | --- | --- | --- | --- |")
    for mem, who, ts, tr, size in rows:
        name = "kvmrun" if who == "kvmrun" else "QEMU 7.2 microvm"
        print(f"| {mem} | {name} | {fmt_ms(ts)} | {fmt_size(size) if size else 'n/a'} | "
              f"{fmt_ms(tr)} |")
    print(f"\nMedians of {a.runs} runs; guest: snapcount ({GUEST_ARGS}).")
    mig_rows = []
    with tempfile.TemporaryDirectory(prefix="kvmrun-bench-mig-", dir="/var/tmp") as tmp:
        for kind in ("idle", "busy"):
            res = {"kvmrun": [], "qemu": []}
            for i in range(a.runs):
                log(f"migration, {kind} guest: run {i + 1}/{a.runs}")
                res["kvmrun"].append(kvmrun_migrate_once(kvmrun, a.build, kind, tmp))
                if have_qemu:
                    try:
                        res["qemu"].append(qemu_migrate_once(a.qemu, a.build, kind, tmp))
                    except (RuntimeError, OSError) as e:
                        log(f"QEMU: {e}")
            for who in ("kvmrun", "qemu"):
                r = res[who]
                mig_rows.append((kind, who, statistics.median(x[0] for x in r) if r else None,
                                 statistics.median(x[1] for x in r) if r else None))
    print()
    print("| live migration, 256 MiB, UNIX socket | VMM | total time | downtime (paused) |")
    print("| --- | --- | --- | --- |")
    for kind, who, total, down in mig_rows:
        name = "kvmrun" if who == "kvmrun" else "QEMU 7.2 microvm"
        guest = ("idle: snapcount" if kind == "idle" else
                 "busy: dirtymem rewriting 64 MiB per pass")
        print(f"| {guest} | {name} | {fmt_ms(total)} | {fmt_ms(down)} |")
    print(f"\nMedians of {a.runs} runs; default downtime limits (kvmrun 300 ms, QEMU 300 ms); "
          "kvmrun's times from its 'the guest moved' line, QEMU's from query-migrate.")
    if a.linux:
        with tempfile.TemporaryDirectory(prefix="kvmrun-bench-snap-", dir="/var/tmp") as tmp:
            t_ktap, t_total, t_restored = linux_case(kvmrun, a.linux, tmp)
        print()
        print("| Linux 6.12 KUnit guest, 2 vCPUs, 512 MiB (vmlinux, PVH) | to KUnit's totals |")
        print("| --- | ---: |")
        print(f"| cold boot | {t_total:.1f} s |")
        print(f"| restore of a snapshot taken when KUnit started ({t_ktap:.1f} s into the boot) "
              f"| {t_restored:.1f} s |")
        print("\nOne run each.")


if __name__ == "__main__":
    main()
