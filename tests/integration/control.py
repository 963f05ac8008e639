#!/usr/bin/env python3
"""The control socket against a running guest (guests/powerbtn.c, which prints a
heartbeat until the ACPI power button reaches it).

    control.py KVMRUN POWERBTN_GUEST

Checks: socket mode 0600; greeting and negotiation; query-status; stop -> paused,
STOP to both clients, no guest output while paused; cont -> RESUME; query-cpus-fast
thread ids are threads of kvmrun; garbage, a 1 MiB line and a client leaving
mid-request are answered or dropped while the guest keeps printing; `kvmrun ctl` for
commands, errors and events; system_powerdown reaches the guest (status 33); an
existing non-socket path and a socket someone listens on are refused; a stale
socket is replaced; quit ends kvmrun with status 0.
"""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

kvmrun, guest = sys.argv[1], sys.argv[2]
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("skipped: no usable /dev/kvm")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="kvmrun-control-")
sock_path = os.path.join(tmp, "qmp.sock")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


class Guest:
    def __init__(self, *extra):
        self.p = subprocess.Popen([kvmrun, "run", "--kernel", guest, "--api", sock_path,
                                   "--timeout", "60", *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.err = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait_for(self, text, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if any(text in l for l in self.lines):
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        fail("no '%s' from the guest; output %s; stderr %s" % (text, self.lines[-5:], self.err))

    def ticks(self):
        return sum(1 for l in self.lines if "powerbtn: tick" in l)

    def status(self, timeout=10):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("kvmrun did not end")


class Client:
    def __init__(self, negotiate=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(sock_path)
        self.buf = b""
        self.events = []
        g = self.msg()
        if "QMP" not in g:
            fail("greeting %r" % g)
        if negotiate:
            r = self.cmd("qmp_capabilities")
            if r != {"return": {}}:
                fail("qmp_capabilities: %r" % r)

    def msg(self):
        while b"\n" not in self.buf:
            try:
                d = self.s.recv(65536)
            except ConnectionResetError:	# closed with our unread request in its buffer
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.endswith(b"\r"):
            fail("a line without \\r\\n: %r" % line)
        return json.loads(line)

    def send(self, data):
        self.s.sendall(data)

    def cmd(self, name, args=None, **kw):
        req = {"execute": name, **kw}
        if args is not None:
            req["arguments"] = args
        self.send(json.dumps(req).encode() + b"\n")
        return self.reply()

    def reply(self):
        while True:
            m = self.msg()
            if m is None:
                return None
            if "event" in m:
                self.events.append(m)
                continue
            return m

    def event(self, name, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e)
                    return e
            m = self.msg()
            if m is None:
                break
            if "event" in m:
                self.events.append(m)
        fail("no %s event" % name)


def ctl(*args):
    return subprocess.run([kvmrun, "ctl", sock_path, *args], capture_output=True, text=True,
                          timeout=30)


g = Guest()
g.wait_for("powerbtn: ready")
st = os.lstat(sock_path)
if not stat.S_ISSOCK(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600:
    fail("socket mode %o" % st.st_mode)
ok("socket created 0600")

a = Client(negotiate=False)
r = a.cmd("query-status")
if r["error"]["class"] != "CommandNotFound":
    fail("a command before negotiation: %r" % r)
if a.cmd("qmp_capabilities", id=5) != {"return": {}, "id": 5}:
    fail("negotiation")
r = a.cmd("query-status", id="x")
if r != {"return": {"running": True, "singlestep": False, "status": "running"}, "id": "x"}:
    fail("query-status: %r" % r)
ok("greeting, negotiation, query-status, ids")

b = Client()
if a.cmd("stop") != {"return": {}}:
    fail("stop")
a.event("STOP")
b.event("STOP")
if b.cmd("query-status")["return"]["status"] != "paused":
    fail("not paused after stop")
t0 = g.ticks()
time.sleep(0.6)
if g.ticks() != t0:
    fail("the guest printed while paused")
if b.cmd("cont") != {"return": {}}:
    fail("cont")
a.event("RESUME")
b.event("RESUME")
g.wait_for("powerbtn: tick %d" % (t0 + 2))
ok("stop and cont, STOP and RESUME to two clients, nothing runs while paused")

cpus = a.cmd("query-cpus-fast")["return"]
tasks = os.listdir("/proc/%d/task" % g.p.pid)
if len(cpus) != 1 or str(cpus[0]["thread-id"]) not in tasks or cpus[0]["target"] != "x86_64":
    fail("query-cpus-fast %r, tasks %r" % (cpus, tasks))
ok("query-cpus-fast: vCPU thread %d is a thread of kvmrun" % cpus[0]["thread-id"])

# Hostile clients: each is answered or dropped; the guest keeps printing.
t0 = g.ticks()
c = Client()
c.send(b"garbage }{ here\n")
r = c.reply()
if r["error"]["class"] != "GenericError" or "JSON parse error" not in r["error"]["desc"]:
    fail("garbage: %r" % r)
if c.cmd("query-version")["return"]["package"].split()[0] != "kvmrun":
    fail("no answer after garbage")
c.send(b'{"execute": "query-status", "arguments": {"x": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}\n')
if "nesting" not in c.reply()["error"]["desc"]:
    fail("deep nesting accepted")
try:
    c.send(b'{"execute": "' + b"a" * (1 << 20) + b'"}\n')
except (BrokenPipeError, ConnectionResetError):
    pass
r = c.reply()
if r is not None and "longer than" not in r["error"]["desc"]:
    fail("1 MiB request: %r" % r)
if c.reply() is not None:
    fail("1 MiB request: still connected")
d = Client()
d.send(b'{"execute": "query-sta')
d.s.close()
e = Client(negotiate=False)
e.s.close()
for i in range(20):
    Client().s.close()
g.wait_for("powerbtn: tick %d" % (t0 + 3))
if a.cmd("query-status")["return"]["status"] != "running":
    fail("the VM was disturbed")
ok("garbage, deep nesting, a 1 MiB line, clients leaving mid-request: answered or "
   "dropped, the guest kept running")

r = ctl("query-status")
if r.returncode or json.loads(r.stdout)["status"] != "running":
    fail("kvmrun ctl query-status: %r" % r)
r = ctl("frobnicate")
if r.returncode != 1 or r.stderr.strip() != "kvmrun: ctl: The command frobnicate has not been found":
    fail("kvmrun ctl unknown command: %r" % r)
r = ctl("query-status", "bogus=1")
if r.returncode != 1 or "Parameter 'bogus' is unexpected" not in r.stderr:
    fail("kvmrun ctl bad argument: %r" % r)
r = ctl("migrate-set-parameters", "downtime-limit=notanumber")
if r.returncode != 1 or "expected: integer" not in r.stderr:
    fail("kvmrun ctl typed argument: %r" % r)
r = subprocess.run([kvmrun, "ctl", sock_path], capture_output=True, text=True)
if r.returncode != 1 or len(r.stderr.splitlines()) != 1:
    fail("kvmrun ctl usage: %r" % r)
ok("kvmrun ctl: a command, errors, usage")

# Someone already listens: refused.
r = subprocess.run([kvmrun, "run", "--kernel", guest, "--api", sock_path, "--timeout", "5"],
                   capture_output=True, text=True, timeout=30)
if r.returncode != 1 or "another process is listening there" not in r.stderr:
    fail("a second kvmrun on a live socket: %r" % r)
ok("a socket in use is refused")

events = subprocess.Popen([kvmrun, "ctl", sock_path, "events"], stdout=subprocess.PIPE,
                          text=True)
time.sleep(0.3)
r = ctl("system_powerdown")
if r.returncode or r.stdout.strip() != "{}":
    fail("system_powerdown: %r" % r)
a.event("POWERDOWN")
g.wait_for("powerbtn: power button pressed")
if g.status() != 33:
    fail("powerbtn guest status %d" % g.p.returncode)
out, _ = events.communicate(timeout=10)
names = [json.loads(l)["event"] for l in out.splitlines()]
if events.returncode or "POWERDOWN" not in names or "SHUTDOWN" not in names:
    fail("kvmrun ctl events: %r" % out)
if os.path.exists(sock_path):
    fail("the socket was left behind")
ok("system_powerdown reached the guest through the SCI; ctl events saw %s" % names)

# A path that is not a socket is never replaced.
with open(sock_path, "w") as f:
    f.write("precious")
r = subprocess.run([kvmrun, "run", "--kernel", guest, "--api", sock_path], capture_output=True,
                   text=True, timeout=30)
if r.returncode != 1 or len(r.stderr.splitlines()) != 1 or "not a socket" not in r.stderr:
    fail("a regular file as --api: %r" % r)
if open(sock_path).read() != "precious":
    fail("the file was touched")
os.unlink(sock_path)
ok("an existing file is refused: %s" % r.stderr.strip())

# A stale socket (nobody listening) is replaced; quit ends the run with status 0.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sock_path)
s.close()
g = Guest()
g.wait_for("powerbtn: ready")
r = ctl("quit")
if r.returncode or r.stdout.strip() != "{}":
    fail("quit: %r" % r)
if g.status() != 0:
    fail("quit: status %d" % g.p.returncode)
ok("a stale socket is replaced; quit ends kvmrun with status 0")
print("PASS")
