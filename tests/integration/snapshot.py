#!/usr/bin/env python3
"""Snapshots, restores and live migration of test guests, end to end.

    snapshot.py KVMRUN GUESTS_DIR SCENARIO [ARGS]

SCENARIO:
  cycles CPUS       snapcount on CPUS vCPUs, snapshotted (stay-paused) through
                    `kvmrun ctl`, killed and restored 5 times: the seq lines of
                    all processes together have no gap and no repeat, ticks and
                    every vCPU's count go on rising, and each process counted
  guest-port CPUS   a snapshot the guest asks for (SNAPSHOT_PORT) with
                    --snapshot-dir: "saved" there, "restored" in the restored
                    run, which continues with the next line; "none" without
                    (guest-port CPUS no-pit: the same on a machine without a PIT;
                    guest-port CPUS split: with --irqchip split)
  devices T         snapdev on transport T (pci, mmio) with virtio-blk, -rng and
                    -console: after the restore a disk write lands in the image
                    (checked from the host), entropy arrives, the console prints
  devices T vhost-user
                    the same with the disk served by qemu-storage-daemon over
                    vhost-user (the backend runs on across both processes)
  net T             snapdev with virtio-net on a tap in a network namespace:
                    ARP and pings after the restore (root only)
  migrate URI       dirtymem (2 vCPUs) migrated to a second kvmrun started with
                    --incoming over unix: or tcp:127.0.0.1: the destination
                    verifies its RAM and passes, the source exits 0
                    (migrate URI split: both with --irqchip split; split-mismatch:
                    a split source, a default destination, which refuses it)
  migrate-fail      a destination that dies mid-way: the migration fails, the
                    source keeps running (more passes verified), and a second
                    migration to a real destination then succeeds
  refuse            damaged snapshots (truncated or corrupted state, a newer
                    version, a short memory file, a disk whose size changed):
                    one line on stderr, status 1, files unchanged

Exit status: 0 pass, 1 fail, 77 skip (no /dev/kvm, not root for net).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

KVMRUN = GUESTS = None
TMP = None
PROCS = []


class Fail(Exception):
    pass


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def log(msg):
    print(msg, flush=True)


class Proc:
    """One kvmrun process with its stdout and stderr in files."""

    def __init__(self, name, args, netns=None):
        self.name = name
        self.out_path = os.path.join(TMP, f"{name}.out")
        self.err_path = os.path.join(TMP, f"{name}.err")
        cmd = [KVMRUN] + args
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.cmd = cmd
        log(f"[{name}] {' '.join(cmd)}")
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(self.out_path, "wb"),
                                  stderr=open(self.err_path, "wb"))
        PROCS.append(self)

    def out(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, regex, timeout, count=1):
        """Waits until count lines of stdout match; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        r = re.compile(regex, re.M)
        while True:
            if len(r.findall(self.out())) >= count:
                return
            if self.p.poll() is not None:
                time.sleep(0.1)  # the last output
                if len(r.findall(self.out())) >= count:
                    return
                raise Fail(f"[{self.name}] exited with status {self.p.returncode} before "
                           f"{count} line(s) matched /{regex}/\n{self.report()}")
            if time.monotonic() > deadline:
                raise Fail(f"[{self.name}] no {count} line(s) matching /{regex}/ within {timeout} s\n"
                           f"{self.report()}")
            time.sleep(0.02)

    def wait_quiet(self, quiet=0.5, timeout=10):
        """Waits until stdout has not grown for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            s = os.path.getsize(self.out_path)
            if s != size:
                size, since = s, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)
        raise Fail(f"[{self.name}] output still grows {timeout} s after a pause\n{self.report()}")

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"[{self.name}] still running after {timeout} s\n{self.report()}")

    def expect_exit(self, status, timeout):
        rc = self.wait_exit(timeout)
        if rc != status:
            raise Fail(f"[{self.name}] exit status {rc}, expected {status}\n{self.report()}")

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        self.p.wait(10)

    def report(self):
        def tail(s, n=25):
            lines = s.splitlines()
            return "\n".join(("  ..." if len(lines) > n else "",) + tuple("  " + x for x in lines[-n:]))
        return f"--- {self.name} stdout ---{tail(self.out())}\n--- {self.name} stderr ---{tail(self.err())}"


def ctl(sock, *args, check=True, timeout=60):
    """`kvmrun ctl SOCK CMD [KEY=VALUE...]`: its stdout, parsed as JSON when it is."""
    cmd = [KVMRUN, "ctl", sock] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: status {r.returncode}: {r.stderr.strip()} {r.stdout.strip()}")
    try:
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr
    except ValueError:
        return r.returncode, r.stdout, r.stderr


def wait_path(path, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc and proc.p.poll() is not None:
            raise Fail(f"[{proc.name}] exited ({proc.p.returncode}) before {path} appeared\n{proc.report()}")
        if time.monotonic() > deadline:
            raise Fail(f"{path} did not appear within {timeout} s" + (f"\n{proc.report()}" if proc else ""))
        time.sleep(0.02)


def snapshot(sock, path, stay_paused):
    ctl(sock, "snapshot", path, f"stay-paused={'true' if stay_paused else 'false'}")
    for f in ("state", "memory"):
        if not os.path.isfile(os.path.join(path, f)):
            raise Fail(f"the snapshot in {path} has no '{f}' file: {os.listdir(path)}")


# ---- checks on the guests' output ----

SEQ = re.compile(r"^seq (\d+) ticks (\d+)((?: cpu\d+ \d+)+)$")


def check_seq(text, cpus, segments):
    """The concatenated snapcount output: seq 1, 2, 3, ... with ticks and counts rising."""
    if "FAIL" in text:
        raise Fail("the guest reported a failure:\n" + "\n".join(x for x in text.splitlines() if "FAIL" in x))
    seqs = []
    last = None
    lines = text.splitlines()
    if not text.endswith("\n"):
        lines = lines[:-1]  # the last process was stopped in the middle of a line
    for line in lines:
        m = SEQ.match(line)
        if not m:
            continue
        seq, ticks = int(m.group(1)), int(m.group(2))
        counts = [int(x) for x in re.findall(r"cpu\d+ (\d+)", m.group(3))]
        if len(counts) != cpus:
            raise Fail(f"'{line}': {len(counts)} vCPU counters, expected {cpus}")
        if last:
            if seq != last[0] + 1:
                raise Fail(f"seq {last[0]} is followed by seq {seq}: a gap or a repeat across a restore")
            if ticks <= last[1]:
                raise Fail(f"ticks went from {last[1]} to {ticks} at seq {seq}")
            for i, (a, b) in enumerate(zip(last[2], counts)):
                if b <= a:
                    raise Fail(f"cpu{i} count went from {a} to {b} at seq {seq}")
        elif seq != 1:
            raise Fail(f"the first line is seq {seq}")
        last = (seq, ticks, counts)
        seqs.append(seq)
    for name, first, n in segments:
        if n < 2:
            raise Fail(f"[{name}] printed {n} complete seq lines: it did not run on")
    return seqs


def seq_lines(text):
    return sum(1 for x in text.splitlines() if SEQ.match(x))


# ---- scenarios ----

def snapcount_args(cpus, extra=""):
    return ["--kernel", os.path.join(GUESTS, "snapcount.elf"), "--cpus", str(cpus), "--memory", "64M",
            "--append", f"cpus={cpus} {extra}".strip()]


def scenario_cycles(cpus, cycles=5):
    cpus = int(cpus)
    sock = os.path.join(TMP, "api0")
    p = Proc("run", ["run"] + snapcount_args(cpus) + ["--api", sock, "--timeout", "300"])
    p.wait_for(r"^seq 3 ", 60)
    procs = [p]
    for c in range(cycles):
        snap = os.path.join(TMP, f"snap{c}")
        before = seq_lines(p.out())
        snapshot(sock, snap, stay_paused=True)
        # Paused: everything the guest printed comes out, then nothing more.
        p.wait_quiet(0.5)
        time.sleep(0.5)
        n1 = seq_lines(p.out())
        p.wait_quiet(0.3)
        if seq_lines(p.out()) != n1:
            raise Fail(f"[{p.name}] still prints after a stay-paused snapshot\n{p.report()}")
        if p.p.poll() is not None:
            raise Fail(f"[{p.name}] exited ({p.p.returncode}) after the snapshot\n{p.report()}")
        p.kill()
        log(f"cycle {c + 1}: snapshot after {before}+ lines of {p.name}, killed it")
        sock = os.path.join(TMP, f"api{c + 1}")
        p = Proc(f"restore{c + 1}", ["restore", snap, "--api", sock, "--timeout", "300"])
        p.wait_for(r"^seq \d+ ", 60, count=3)
        procs.append(p)
    text = "".join(x.out() for x in procs)
    segments = [(x.name, 0, seq_lines(x.out())) for x in procs]
    p.kill(signal.SIGTERM)
    if p.p.returncode != 128 + signal.SIGTERM:
        raise Fail(f"[{p.name}] ended with status {p.p.returncode} on SIGTERM\n{p.report()}")
    seqs = check_seq(text, cpus, segments)
    log(f"ok: {len(procs)} processes, seq 1..{seqs[-1]} without gap or repeat, "
        f"lines per process {[s[2] for s in segments]}, {cpus} vCPU(s) counting in each")


def scenario_guest_port(cpus, machine=""):
    cpus = int(cpus)
    snap = os.path.join(TMP, "gsnap")
    # machine "no-pit": the restore must build the machine without a PIT from the snapshot alone;
    # "split": with the split irqchip (the userspace IOAPIC a device, no in-kernel PIC/IOAPIC state).
    extra = {"no-pit": ["--no-pit"], "split": ["--irqchip", "split"]}.get(machine, [])
    p = Proc("run", ["run"] + snapcount_args(cpus, "lines=8 snap_at=4") + extra +
             ["--snapshot-dir", snap, "--timeout", "120"])
    p.expect_exit(33, 150)
    out = p.out()
    if not re.search(r"^seq 4 .*\nsnapshot: saved\nseq 5 ", out, re.M):
        raise Fail(f"[run] no 'snapshot: saved' between seq 4 and 5\n{p.report()}")
    check_seq(out, cpus, [])
    r = Proc("restore", ["restore", snap, "--timeout", "120"])
    r.expect_exit(33, 150)
    out = r.out()
    first = out.splitlines()[0] if out else ""
    if first != "snapshot: restored":
        raise Fail(f"[restore] first line '{first}', expected 'snapshot: restored'\n{r.report()}")
    seqs = [int(m) for m in re.findall(r"^seq (\d+) ", out, re.M)]
    if seqs != [5, 6, 7, 8] or not re.search(r"^PASS$", out, re.M):
        raise Fail(f"[restore] seq lines {seqs}, expected 5..8 then PASS\n{r.report()}")
    # the whole story: the run's lines up to the snapshot, then the restored run's
    head = out.split("\n", 1)[1]
    check_seq("".join(x + "\n" for x in p.out().splitlines() if SEQ.match(x) and int(x.split()[1]) <= 4) + head,
              cpus, [])
    n = Proc("nosnap", ["run"] + snapcount_args(cpus, "lines=3 snap_at=2") + ["--timeout", "120"])
    n.expect_exit(33, 150)
    if not re.search(r"^seq 2 .*\nsnapshot: none\nseq 3 ", n.out(), re.M):
        raise Fail(f"[nosnap] no 'snapshot: none' without --snapshot-dir\n{n.report()}")
    log("ok: guest-requested snapshot saved, restored run continued at seq 5 and passed; 'none' without a dir")


def sector(path, n):
    with open(path, "rb") as f:
        f.seek(n * 512)
        return f.read(512)


def expected_sector(state):
    head = f"snapdev after {state}\n".encode()
    return head + bytes((i * 7 + 3) & 0xff for i in range(len(head), 512))


def storage_daemon(img):
    """qemu-storage-daemon exporting img as vhost-user-blk; the socket's path."""
    qsd = shutil.which("qemu-storage-daemon")
    if not qsd:
        skip("qemu-storage-daemon is not installed (tools/deps.sh test)")
    sock = os.path.join(TMP, "blk.sock")
    p = subprocess.Popen([qsd, "--blockdev", f"driver=file,node-name=f0,filename={img}",
                          "--export", f"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
                          f"addr.path={sock},writable=on"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(Daemon(p))
    for _ in range(500):
        if os.path.exists(sock):
            return sock
        time.sleep(0.01)
    raise Fail("qemu-storage-daemon did not listen")


class Daemon:
    """A helper process PROCS kills at the end, as it does the kvmruns."""
    def __init__(self, p):
        self.p = p

    def kill(self):
        self.p.kill()
        self.p.wait()


def scenario_devices(transport, backend="file"):
    img = os.path.join(TMP, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    disk = img if backend == "file" else "vhost-user=" + storage_daemon(img)
    snap = os.path.join(TMP, "dsnap")
    common = ["--kernel", os.path.join(GUESTS, "snapdev.elf"), "--transport", transport, "--memory", "64M",
              "--rng", "--virtio-console", "--timeout", "60"]
    p = Proc("run", ["run"] + common + ["--disk", disk, "--snapshot-dir", snap])
    p.expect_exit(33, 90)
    out = p.out()
    for dev in ("blk", "rng", "console"):
        if not re.search(rf"^snapdev: {dev} on virtio-{transport} ", out, re.M):
            raise Fail(f"[run] no {dev} on virtio-{transport}\n{p.report()}")
    for want in ("snapshot: saved", "snapdev: blk after saved ok", "snapdev: rng after saved ok",
                 "snapdev: console after saved\n"):
        if want not in out:
            raise Fail(f"[run] no '{want.strip()}'\n{p.report()}")
    if sector(img, 16) != expected_sector("saved"):
        raise Fail("[run] the write after the snapshot is not in sector 16 of the image")
    r = Proc("restore", ["restore", snap, "--disk", disk, "--timeout", "60"])
    r.expect_exit(33, 90)
    out = r.out()
    for want in ("snapshot: restored", "snapdev: blk after restored ok (sector 24)", "snapdev: rng after restored ok",
                 "snapdev: console after restored\n", "PASS"):
        if want not in out:
            raise Fail(f"[restore] no '{want.strip()}'\n{r.report()}")
    if "snapdev: devices ready" in out:
        raise Fail(f"[restore] the guest set its devices up again: it did not resume\n{r.report()}")
    got = sector(img, 24)
    if got != expected_sector("restored"):
        raise Fail(f"[restore] sector 24 of the image holds {got[:40]!r}..., not the restored run's write")
    if sector(img, 16) != expected_sector("saved"):
        raise Fail("[restore] sector 16 (the first run's write) changed")
    log(f"ok: virtio-{transport}: blk ({backend}) write after restore in the image (sector 24), rng and console work")


def netns_setup():
    if os.geteuid() != 0:
        skip("needs root (creates a network namespace and a tap device)")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun is missing (modprobe tun)")
    if not shutil.which("ip"):
        skip("ip (iproute2) is not installed")
    ns = f"kvmrun-snap-{os.getpid()}"
    cmds = [["ip", "netns", "add", ns], ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
            ["ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", "kvmtap0", "mode", "tap"],
            ["ip", "netns", "exec", ns, "ip", "addr", "add", "10.0.2.2/24", "dev", "kvmtap0"],
            ["ip", "netns", "exec", ns, "ip", "link", "set", "kvmtap0", "up"]]
    for c in cmds:
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            raise Fail(f"{' '.join(c)}: {r.stderr.strip()}")
    return ns


def scenario_net(transport):
    ns = netns_setup()
    try:
        snap = os.path.join(TMP, "nsnap")
        mac = "52:54:00:12:34:57"
        common = ["--kernel", os.path.join(GUESTS, "snapdev.elf"), "--transport", transport, "--memory", "64M",
                  "--timeout", "60"]
        append = ["--append", "net_ip=10.0.2.15 net_gw=10.0.2.2 net_pings=3"]
        p = Proc("run", ["run"] + common + ["--net", f"tap=kvmtap0,mac={mac}", "--snapshot-dir", snap] + append,
                 netns=ns)
        p.expect_exit(33, 90)
        for want in (f"snapdev: net on virtio-{transport} ", "snapshot: saved", "snapdev: net after saved ok"):
            if want not in p.out():
                raise Fail(f"[run] no '{want}'\n{p.report()}")
        # A fresh neighbour table: the restored guest's ARP must really cross the tap.
        subprocess.run(["ip", "netns", "exec", ns, "ip", "neigh", "flush", "dev", "kvmtap0"], capture_output=True)
        r = Proc("restore", ["restore", snap, "--net", f"tap=kvmtap0,mac={mac}", "--timeout", "60"], netns=ns)
        r.expect_exit(33, 90)
        for want in ("snapshot: restored", "snapdev: net after restored ok (ARP and 3 pings", "PASS"):
            if want not in r.out():
                raise Fail(f"[restore] no '{want}'\n{r.report()}")
        log(f"ok: virtio-net on {transport}: ARP and 3 pings through the tap after the restore")
    finally:
        for x in PROCS:
            if x.p.poll() is None:
                x.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def dirtymem_args(passes, mb=128):
    return ["--kernel", os.path.join(GUESTS, "dirtymem.elf"), "--cpus", "2", "--memory", "256M",
            "--append", f"cpus=2 mb={mb} passes={passes}"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def incoming(kind):
    if kind == "unix":
        return "unix:" + os.path.join(TMP, f"mig-{time.monotonic_ns()}.sock")
    return f"tcp:127.0.0.1:{free_port()}"


def wait_listening(uri, proc, timeout=30):
    if uri.startswith("unix:"):
        wait_path(uri[5:], timeout, proc)
        return
    host, port = uri[4:].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        # a listening socket shows up in /proc/net/tcp in state 0A; connecting would start a migration
        with open("/proc/net/tcp") as f:
            if any(l.split()[1].endswith(f":{int(port):04X}") and l.split()[3] == "0A" for l in f.readlines()[1:]):
                return
        if proc.p.poll() is not None:
            raise Fail(f"[{proc.name}] exited ({proc.p.returncode}) before listening on {uri}\n{proc.report()}")
        if time.monotonic() > deadline:
            raise Fail(f"[{proc.name}] not listening on {uri} within {timeout} s\n{proc.report()}")
        time.sleep(0.05)


def query_migrate(sock):
    _, r, _ = ctl(sock, "query-migrate")
    if isinstance(r, dict) and "return" in r:
        r = r["return"]
    if r == {}:
        return {"status": "none"}  # QMP's answer before any migration
    if not isinstance(r, dict) or "status" not in r:
        raise Fail(f"query-migrate answered {r!r}: no status")
    return r


def wait_migration(sock, src, timeout=120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if src.p.poll() is not None:
            return last
        try:
            last = query_migrate(sock)
        except Fail:
            # A source whose guest moved away exits: its socket may close under
            # the query before the process is gone.  The caller checks its status.
            try:
                src.p.wait(timeout=10)
                return last
            except subprocess.TimeoutExpired:
                raise
        if last["status"] in ("completed", "failed", "cancelled"):
            return last
        time.sleep(0.1)
    raise Fail(f"migration not finished after {timeout} s: {last}\n{src.report()}")


PASS_RE = re.compile(r"^pass (\d+) verified", re.M)


def check_passes(text, what):
    if "FAIL" in text:
        raise Fail(f"{what}: the guest found damaged RAM:\n" +
                   "\n".join(x for x in text.splitlines() if "FAIL" in x))
    n = [int(x) for x in PASS_RE.findall(text)]
    for a, b in zip(n, n[1:]):
        if b != a + 1:
            raise Fail(f"{what}: pass {a} is followed by pass {b}")
    return n


def migrate_once(src, sock, kind, passes, extra=()):
    uri = incoming(kind)
    dst = Proc(f"dest-{kind}", ["run"] + dirtymem_args(passes) + list(extra) +
               ["--incoming", uri, "--timeout", "300"])
    wait_listening(uri, dst)
    if dst.out():
        raise Fail(f"[{dst.name}] the guest runs before the migration arrived\n{dst.report()}")
    done_before = len(PASS_RE.findall(src.out()))
    t0 = time.monotonic()
    ctl(sock, "migrate", f"uri={uri}")
    st = wait_migration(sock, src)
    src.expect_exit(0, 60)
    took = time.monotonic() - t0
    if st and st["status"] not in ("completed", "active"):
        raise Fail(f"query-migrate says {st}\n{src.report()}")
    dst.expect_exit(33, 300)
    text = src.out() + dst.out()
    n = check_passes(text, "source + destination")
    dn = PASS_RE.findall(dst.out())
    if not dn or n[-1] != passes or "PASS" not in dst.out():
        raise Fail(f"[{dst.name}] did not verify its RAM to pass {passes}\n{dst.report()}")
    log(f"ok: migrated over {uri} in {took:.2f} s after {done_before} passes; the destination verified "
        f"passes {dn[0]}..{dn[-1]} and passed; source exit 0 ({st})")


def scenario_migrate(kind, machine=""):
    passes = 400
    sock = os.path.join(TMP, "api-src")
    # machine "split": both sides with --irqchip split; "split-mismatch": only the source, and the
    # destination must refuse the stream in one line naming --irqchip.
    extra = ["--irqchip", "split"] if machine.startswith("split") else []
    src = Proc("source", ["run"] + dirtymem_args(passes) + extra + ["--api", sock, "--timeout", "300"])
    src.wait_for(r"^pass 3 verified", 60)
    if machine != "split-mismatch":
        migrate_once(src, sock, kind, passes, extra)
        return
    uri = incoming(kind)
    dst = Proc("dest-kernel", ["run"] + dirtymem_args(passes) + ["--incoming", uri, "--timeout", "60"])
    wait_listening(uri, dst)
    ctl(sock, "migrate", f"uri={uri}")
    dst.expect_exit(1, 60)
    want = "the source's irqchip is split, this side's in the kernel (--irqchip)"
    if want not in dst.err():
        raise Fail(f"[{dst.name}] no '{want}'\n{dst.report()}")
    if src.p.poll() is not None:
        raise Fail(f"[source] ended after the destination refused\n{src.report()}")
    src.p.kill()
    src.p.wait()
    log("ok: a split-irqchip source refused by an in-kernel-irqchip destination, in one line; the source ran on")


class DyingDestination(threading.Thread):
    """Accepts one migration stream, reads part of it, and drops the connection."""

    def __init__(self, path, limit):
        super().__init__(daemon=True)
        self.path, self.limit, self.got = path, limit, 0
        self.s = socket.socket(socket.AF_UNIX)
        self.s.bind(path)
        self.s.listen(1)

    def run(self):
        c, _ = self.s.accept()
        c.settimeout(3)  # a source that waits for an answer first: die then
        try:
            while self.got < self.limit:
                b = c.recv(65536)
                if not b:
                    break
                self.got += len(b)
        except socket.timeout:
            pass
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        c.close()
        self.s.close()


def scenario_migrate_fail():
    passes = 600
    sock = os.path.join(TMP, "api-src")
    src = Proc("source", ["run"] + dirtymem_args(passes) + ["--api", sock, "--timeout", "300"])
    src.wait_for(r"^pass 3 verified", 60)
    path = os.path.join(TMP, "dying.sock")
    dying = DyingDestination(path, 8 << 20)
    dying.start()
    ctl(sock, "migrate", f"uri=unix:{path}")
    st = wait_migration(sock, src, 60)
    dying.join(10)
    if src.p.poll() is not None:
        raise Fail(f"[source] exited ({src.p.returncode}) when its destination died\n{src.report()}")
    if not st or st["status"] != "failed":
        raise Fail(f"query-migrate after the destination died: {st}, expected status failed")
    n = len(PASS_RE.findall(src.out()))
    src.wait_for(r"^pass \d+ verified", 30, count=n + 3)
    check_passes(src.out(), "source")
    log(f"ok: the destination died after {dying.got} bytes; migration failed ({st.get('error-desc', st)}); "
        "the guest kept verifying its RAM")
    migrate_once(src, sock, "unix", passes)


def files_digest(d):
    return {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest() for f in sorted(os.listdir(d))}


def scenario_refuse():
    img = os.path.join(TMP, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    good = os.path.join(TMP, "good")
    p = Proc("run", ["run"] + snapcount_args(1, "lines=4 snap_at=2") + ["--disk", img, "--snapshot-dir", good,
                                                                          "--timeout", "60"])
    p.expect_exit(33, 90)
    if "snapshot: saved" not in p.out():
        raise Fail(f"[run] no snapshot taken\n{p.report()}")
    # The good snapshot restores (so the refusals below are about the damage).
    r = Proc("restore-good", ["restore", good, "--timeout", "60"])
    r.expect_exit(33, 90)
    state_size = os.path.getsize(os.path.join(good, "state"))

    def damaged(name, damage, expect_err, disk_grow=False):
        d = os.path.join(TMP, name)
        shutil.copytree(good, d)
        damage(d)
        disk = img
        if disk_grow:
            disk = os.path.join(TMP, "grown.img")
            shutil.copy(img, disk)
            with open(disk, "r+b") as f:
                f.truncate((1 << 20) + 4096)
        before = files_digest(d)
        disk_before = hashlib.sha256(open(disk, "rb").read()).hexdigest()
        q = Proc(f"restore-{name}", ["restore", d, "--disk", disk, "--timeout", "30"])
        q.expect_exit(1, 30)
        err = q.err().splitlines()
        if len(err) != 1 or not re.search(expect_err, err[0], re.I):
            raise Fail(f"[{q.name}] stderr {err}: expected one line matching /{expect_err}/")
        if q.out():
            raise Fail(f"[{q.name}] the guest ran: {q.out()[:200]!r}")
        if files_digest(d) != before:
            raise Fail(f"[{q.name}] the snapshot files changed")
        if hashlib.sha256(open(disk, "rb").read()).hexdigest() != disk_before:
            raise Fail(f"[{q.name}] the disk image changed")
        log(f"ok: {name}: {err[0]}")

    def truncate(f, size):
        def do(d):
            with open(os.path.join(d, f), "r+b") as h:
                h.truncate(size(os.path.getsize(os.path.join(d, f))))
        return do

    def flip(f, off):
        def do(d):
            with open(os.path.join(d, f), "r+b") as h:
                h.seek(off)
                b = h.read(1)
                h.seek(off)
                h.write(bytes([b[0] ^ 0x5a]))
        return do

    damaged("state-truncated", truncate("state", lambda n: n // 2), r"truncat|short|corrupt|checksum|end of")
    damaged("state-corrupt", flip("state", state_size // 2), r"checksum|corrupt")
    damaged("state-empty", truncate("state", lambda n: 0), r"not a kvmrun snapshot|truncat|empty")
    damaged("state-magic", flip("state", 0), r"not a kvmrun snapshot")
    damaged("state-newer", bump_version, r"version")
    damaged("memory-short", truncate("memory", lambda n: n // 2), r"memory")
    damaged("disk-resized", lambda d: None, r"disk|size", disk_grow=True)


def bump_version(d):
    """DIR/state begins with an 8-byte magic and a little-endian u32 version: make it one newer."""
    with open(os.path.join(d, "state"), "r+b") as h:
        h.seek(8)
        v = int.from_bytes(h.read(4), "little")
        h.seek(8)
        h.write((v + 1).to_bytes(4, "little"))


def main():
    global KVMRUN, GUESTS, TMP
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    KVMRUN, GUESTS, scenario, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if not (os.access("/dev/kvm", os.R_OK | os.W_OK)):
        skip("/dev/kvm is missing or not accessible")
    scenarios = {"cycles": scenario_cycles, "guest-port": scenario_guest_port, "devices": scenario_devices,
                 "net": scenario_net, "migrate": scenario_migrate, "migrate-fail": scenario_migrate_fail,
                 "refuse": scenario_refuse}
    if scenario not in scenarios:
        print(f"unknown scenario {scenario}\n{__doc__}")
        return 2
    TMP = tempfile.mkdtemp(prefix="kvmrun-snap-")
    try:
        scenarios[scenario](*args)
        return 0
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        for p in PROCS:
            if p.p.poll() is None:
                p.kill()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
