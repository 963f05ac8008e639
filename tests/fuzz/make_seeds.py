#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ (small, valid ones: the fuzzers
grow them).  Run from anywhere; the loader seeds also take two stripped test
guests when a build/ tree has them.  The input layouts are described at the
top of each tests/fuzz/fuzz_*.c."""
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def put(name, target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


class Ram:
    def __init__(self, size):
        self.b = bytearray(size)

    def w(self, off, data):
        self.b[off:off + len(data)] = data

    def desc(self, table, i, addr, length, flags, nxt=0):
        self.w(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def avail(self, avail, heads, flags=0):
        self.w(avail, struct.pack("<HH", flags, len(heads)))
        for i, h in enumerate(heads):
            self.w(avail + 4 + 2 * i, struct.pack("<H", h))

    def trimmed(self):
        return bytes(self.b).rstrip(b"\0")


def ops(lst, n):
    out = b"".join(struct.pack("<BBH", *o) for o in lst)
    return out + bytes(4 * n - len(out))


# ---- virtqueue: u16 num, u8 flags, u64 desc/avail/used, 32 ops, RAM ----
DESC, AVAIL, USED, BUF, IND = 0x100, 0x200, 0x300, 0x400, 0x800
POP, PUSH, INTR, NOTIFY, HAS, POKE, COPY, RESET, BUDGET = range(1, 10)


def vq_seed(name, flags, ram, oplist, num=8):
    hdr = struct.pack("<HBQQQ", num, flags, DESC, AVAIL, USED)
    put(name, "virtqueue", hdr + ops(oplist, 32) + ram.trimmed())


def virtqueue():
    r = Ram(0x1000)
    r.desc(DESC, 0, BUF, 16, F_NEXT, 1)
    r.desc(DESC, 1, BUF + 0x10, 0x100, F_WRITE | F_NEXT, 2)
    r.desc(DESC, 2, BUF + 0x110, 1, F_WRITE)
    r.avail(AVAIL, [0])
    vq_seed("direct", 0, r, [(POP, 0, 0), (COPY, 4, 0), (PUSH, 0x11, 0), (INTR, 0, 0),
                              (NOTIFY, 1, 0), (HAS, 0, 0), (POP, 0, 0)])
    r = Ram(0x1000)
    r.desc(DESC, 0, BUF, 16, F_NEXT, 1)
    r.desc(DESC, 1, IND, 48, F_INDIRECT)
    r.desc(IND, 0, BUF + 0x10, 32, F_NEXT, 1)
    r.desc(IND, 1, BUF + 0x30, 64, F_WRITE | F_NEXT, 2)
    r.desc(IND, 2, BUF + 0x70, 1, F_WRITE)
    r.avail(AVAIL, [0])
    vq_seed("indirect", 2, r, [(POP, 0, 0), (COPY, 8, 3), (PUSH, 65, 0), (INTR, 0, 0)])
    r = Ram(0x1000)
    for i in range(4):
        r.desc(DESC, i, BUF + 0x40 * i, 0x40, F_WRITE if i & 1 else 0)
    r.avail(AVAIL, [3, 2, 1, 0])
    r.w(AVAIL + 4 + 2 * 8, struct.pack("<H", 2))        # used_event
    vq_seed("event-idx", 1, r, [(BUDGET, 1, 2), (POP, 0, 0), (POP, 0, 0), (POP, 0, 0),
                                (HAS, 0, 0), (BUDGET, 0, 0), (PUSH, 0, 0), (INTR, 0, 0),
                                (POKE, 5, AVAIL + 2), (POP, 0, 0), (PUSH, 0, 0),
                                (NOTIFY, 1, 0), (RESET, 0, 0), (POP, 0, 0)])


# ---- blk, blk_direct and blk_uring: u8 flags, u16 image/8, 20 serial, u16 num, u32 desc/avail/used, 16 ops, RAM ----
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
B_NOTIFY, B_POKE, B_CONFIG, B_RESET = 1, 2, 3, 4


def blk_seed(name, reqs, flags=0x6, indirect=False, serial=b"fuzz-serial", targets=("blk", "blk_direct", "blk_uring")):
    """reqs: (type, sector, out_payload_len or bytes, in_len) per request."""
    r = Ram(0x2000)
    heads, d, buf = [], 0, 0x800
    for typ, sector, payload, in_len in reqs:
        segs = []
        hdr = struct.pack("<IIQ", typ, 0, sector)
        r.w(buf, hdr)
        segs.append((buf, 16, 0))
        buf += 16
        if isinstance(payload, (bytes, bytearray)) and payload:
            r.w(buf, payload)
            segs.append((buf, len(payload), 0))
            buf += len(payload)
        if in_len:
            segs.append((buf, in_len, F_WRITE))
            buf += in_len
        segs.append((buf, 1, F_WRITE))
        buf += 1
        heads.append(d)
        if indirect:
            tbl = 0x600 + 0x40 * len(heads)
            for j, (a, l, f) in enumerate(segs):
                last = j == len(segs) - 1
                r.desc(tbl, j, a, l, f | (0 if last else F_NEXT), j + 1)
            r.desc(DESC, d, tbl, 16 * len(segs), F_INDIRECT)
            d += 1
        else:
            for j, (a, l, f) in enumerate(segs):
                last = j == len(segs) - 1
                r.desc(DESC, d, a, l, f | (0 if last else F_NEXT), d + 1)
                d += 1
    r.avail(AVAIL, heads)
    hdr = struct.pack("<BH", flags, 8192) + serial.ljust(20, b"\0")
    hdr += struct.pack("<HIII", 16, DESC, AVAIL, USED)
    oplist = [(B_NOTIFY, 0, 0), (B_CONFIG, 7, 0), (B_CONFIG, 3, 0x14)]
    for t in targets:
        put(name, t, hdr + ops(oplist, 16) + r.trimmed())


def blk():
    blk_seed("read", [(T_IN, 1, b"", 512)])
    blk_seed("write", [(T_OUT, 2, bytes(range(256)) * 2, 0)])
    blk_seed("flush-getid", [(T_FLUSH, 0, b"", 0), (T_GET_ID, 0, b"", 20)])
    blk_seed("discard-zeroes", [
        (T_DISCARD, 0, struct.pack("<QII", 4, 8, 0), 0),
        (T_WZ, 0, struct.pack("<QII", 8, 4, 1) + struct.pack("<QII", 20, 2, 0), 0)])
    blk_seed("mixed-indirect", [(T_OUT, 0, bytes(512), 0), (T_IN, 0, b"", 512),
                                (99, 0, b"", 0)], indirect=True)
    blk_seed("readonly-write", [(T_OUT, 0, bytes(512), 0)], flags=0x7)
    blk_seed("write-read", [(T_OUT, 3, bytes(range(256)) * 2, 0), (T_IN, 3, b"", 512)])


# ---- console: u8 flags, 2 x (u16 num, u32 desc/avail/used), 16 ops, RAM ----
C_NOTIFY, C_POKE, C_INPUT, C_RESET = 1, 2, 3, 4


def console():
    r = Ram(0x2000)
    r.desc(0x100, 0, 0x1000, 64, F_WRITE)
    r.desc(0x100, 1, 0x1040, 64, F_WRITE)
    r.avail(0x200, [0, 1])
    r.desc(0x400, 0, 0x1100, 6, F_NEXT, 1)
    r.desc(0x400, 1, 0x1106, 7, 0)
    r.w(0x1100, b"hello, world\n")
    r.avail(0x500, [0])
    r.w(0x0, b"typed input\r")
    hdr = struct.pack("<B", 6) + struct.pack("<HIII", 8, 0x100, 0x200, 0x300)
    hdr += struct.pack("<HIII", 8, 0x400, 0x500, 0x600)
    oplist = [(C_NOTIFY, 1, 0), (C_INPUT, 0, 12), (C_NOTIFY, 0, 0), (C_INPUT, 0, 100),
              (C_RESET, 0, 0), (C_NOTIFY, 1, 0)]
    put("echo", "console", hdr + ops(oplist, 16) + r.trimmed())
    put("echo-plain", "console", bytes([0]) + hdr[1:] + ops(oplist, 16) + r.trimmed())


# ---- pci: u8 flags, then ops ----
P_PW, P_PR, P_LATCH, P_WW, P_WR, P_CFG, P_WORK, P_INT, P_POKE, P_NR = range(10)
W = {1: 0, 2: 1, 4: 2, 8: 3}


def latch(slot, reg):
    return struct.pack("<BBBB", P_LATCH, slot, 0, reg)


def pw(off, width, val):
    return struct.pack("<BBBI", P_PW, off, W[width], val)


def pr(off, width):
    return struct.pack("<BBBI", P_PR, off, W[width], 0)


def ww(off, width, val):
    return struct.pack("<BIBQ", P_WW, off, W[width], val)


def wr(off, width):
    return struct.pack("<BIBQ", P_WR, off, W[width], 0)


def cfg(slot, off, length, val, write):
    return struct.pack("<BBBHBQB", P_CFG, slot, 0, off, length - 1, val, write)


def poke(off, data):
    return b"".join(struct.pack("<BHB", P_POKE, off + i, c) for i, c in enumerate(data))


def pci():
    probe = b"".join(latch(s, 0) + pr(4, 4) for s in range(3))
    probe += latch(1, 0x10) + pw(4, 4, 0xffffffff) + pr(4, 4) + pw(4, 4, 0xc0000000)
    probe += latch(1, 0x34) + pr(4, 1) + latch(1, 0x40) + pr(4, 4) + pr(6, 2)
    put("probe", "pci", bytes([0]) + probe)
    drv = cfg(1, 4, 2, 6, 1)
    drv += ww(20, 1, 0) + ww(20, 1, 1) + ww(20, 1, 3)
    drv += ww(0, 4, 1) + wr(4, 4) + ww(8, 4, 1) + ww(12, 4, 1) + ww(8, 4, 0)
    drv += ww(12, 4, (1 << 28) | (1 << 29)) + ww(20, 1, 0xb) + wr(20, 1)
    drv += ww(22, 2, 0) + ww(24, 2, 8) + ww(32, 8, 0x1000) + ww(40, 4, 0x2000)
    drv += ww(44, 4, 0) + ww(48, 8, 0x3000) + ww(16, 2, 0) + ww(26, 2, 1) + ww(28, 2, 1)
    drv += ww(20, 1, 0xf)
    drv += cfg(1, 0x9a, 2, 0x8000, 1)                       # MSI-X enable
    drv += ww(0x4010, 8, 0xfee00000) + ww(0x4018, 4, 0x31) + ww(0x401c, 4, 0)
    drv += poke(0x1000, struct.pack("<QIHH", 0x4000, 64, F_WRITE, 0))
    drv += poke(0x2000, struct.pack("<HHH", 0, 1, 0))
    drv += ww(0x3000, 2, 0) + bytes([P_WORK]) + wr(0x5000, 8) + wr(0x1000, 1)
    drv += cfg(1, 0x88, 1, 0, 1) + cfg(1, 0x8c, 4, 0x14, 1) + cfg(1, 0x90, 4, 1, 1)
    drv += cfg(1, 0x94, 4, 0, 0) + bytes([P_INT, 0x80, P_NR, 0]) + wr(0x2000, 4)
    drv += ww(20, 1, 0) + wr(0x5000, 8)
    put("driver", "pci", bytes([0x02]) + drv)
    put("driver-routing", "pci", bytes([0x23]) + drv)
    two = latch(2, 0x10) + pw(4, 4, 0xc0000000) + cfg(2, 4, 2, 2, 1) + wr(0x14, 1)
    two += latch(1, 4) + pw(4, 2, 0) + wr(0x14, 1)
    put("two-functions", "pci", bytes([0x1f]) + two)


# ---- mmio: u8 flags, then ops ----
M_W, M_R, M_RW, M_RR, M_WORK, M_INT, M_POKE, M_NR = range(8)


def mmio():
    def rw(off, val):
        return struct.pack("<BBI", M_RW, off // 4, val)

    def rr(off):
        return struct.pack("<BBI", M_RR, off // 4, 0)

    def mpoke(off, data):
        return b"".join(struct.pack("<BHB", M_POKE, off + i, c) for i, c in enumerate(data))

    drv = rr(0) + rr(4) + rr(8) + rr(0xc) + rw(0x70, 0) + rw(0x70, 1) + rw(0x70, 3)
    drv += rw(0x14, 1) + rr(0x10) + rw(0x24, 1) + rw(0x20, 1) + rw(0x24, 0)
    drv += rw(0x20, (1 << 28) | (1 << 29)) + rw(0x70, 0xb) + rr(0x70)
    drv += rw(0x30, 0) + rr(0x34) + rw(0x38, 8) + rw(0x80, 0x1000) + rw(0x84, 0)
    drv += rw(0x90, 0x2000) + rw(0x94, 0) + rw(0xa0, 0x3000) + rw(0xa4, 0) + rw(0x44, 1)
    drv += rw(0x70, 0xf)
    drv += mpoke(0x1000, struct.pack("<QIHH", 0x4000, 64, F_WRITE, 0))
    drv += mpoke(0x2000, struct.pack("<HHH", 0, 1, 0))
    drv += rw(0x50, 0) + bytes([M_WORK]) + rr(0x60) + rw(0x64, 1) + rr(0xfc)
    drv += struct.pack("<BHBQ", M_R, 0x100, 2, 0) + struct.pack("<BHBQ", M_W, 0x104, 1, 0xabcd)
    drv += struct.pack("<BHBQ", M_R, 0xffc, 2, 0) + bytes([M_INT, 0x80]) + rr(0x60)
    drv += rw(0x64, 2) + bytes([M_NR]) + rr(0x70) + rw(0x70, 0) + rr(0x60)
    put("driver", "mmio", bytes([0x01]) + drv)


# ---- serial: u8 flags, then ops (kind<<6 | width<<4 | far<<3 | reg) ----
def s_w(reg, val, width=1):
    return struct.pack("<BQ", (W[width] << 4) | reg, val)


def s_r(reg, width=1):
    return struct.pack("<BQ", 0x40 | (W[width] << 4) | reg, 0)


def serial():
    init = s_w(3, 0x80) + s_w(0, 1) + s_w(1, 0) + s_w(3, 3) + s_w(2, 0xc7) + s_w(4, 0x0b)
    init += s_w(1, 0x0f) + s_r(2) + s_w(0, 0x41) + s_r(5) + s_r(2)
    init += bytes([0x80 | 5]) + b"hello" + s_r(2) + s_r(0) * 5 + s_r(5, 4)
    init += bytes([0x80 | 20]) + bytes(range(20)) + s_r(5) + s_r(2)
    put("linux-init", "serial", bytes([1]) + init)
    loop = s_w(4, 0x1f) + s_r(6) + s_w(0, 0x5a, 2) + s_r(0) + s_w(2, 1) + s_w(2, 0)
    loop += bytes([0xc0]) + struct.pack("<BQQ", 0x08 | 0, 0x41, 0x3f8)
    put("loopback", "serial", bytes([0]) + loop)


# ---- pio: u32 clock, then (op, port selector, u32 value) ----
PIO_BASES = [0x3f8, 0x60, 0x64, 0xf4, 0x80, 0x600, 0x70, 0xcf8]


def pio():
    def acc(write, base, off, val, width=1):
        i = PIO_BASES.index(base) | (off << 5)
        return struct.pack("<BBI", (0x80 if write else 0) | {1: 0, 2: 1, 4: 2}[width], i, val)

    def raw(write, port, val, width=1):
        return struct.pack("<BHI", (0x80 if write else 0) | 0x40 | {1: 0, 2: 1, 4: 2}[width],
                           port, val)

    clock = struct.pack("<I", 1764115200 // 4)             # 2025-11-26
    kbd = acc(1, 0x64, 0, 0xaa) + acc(0, 0x60, 0, 0) + acc(1, 0x64, 0, 0x20) + acc(0, 0x60, 0, 0)
    kbd += acc(1, 0x64, 0, 0x60) + acc(1, 0x60, 0, 0x47) + acc(1, 0x60, 0, 0xff)
    kbd += acc(0, 0x64, 0, 0) + acc(0, 0x60, 0, 0) + acc(0, 0x60, 0, 0) + acc(1, 0x64, 0, 0xd1)
    kbd += acc(1, 0x60, 0, 0xdf) + acc(1, 0x64, 0, 0xa7) + acc(1, 0x64, 0, 0xfe)
    put("i8042", "pio", clock + kbd)
    rtc = b"".join(acc(1, 0x70, 0, r) + acc(0, 0x70, 1, 0) for r in (0, 2, 4, 6, 7, 8, 9, 0x32, 0xa, 0xb, 0xc, 0xd))
    rtc += acc(1, 0x70, 0, 0xb) + acc(1, 0x70, 1, 0x82) + acc(1, 0x70, 0, 9) + acc(1, 0x70, 1, 0x99)
    rtc += acc(1, 0x70, 0, 0xb) + acc(1, 0x70, 1, 0x06) + acc(1, 0x70, 0, 9) + acc(0, 0x70, 1, 0)
    rtc += acc(1, 0x70, 0, 0x40) + acc(1, 0x70, 1, 0x5a) + acc(0, 0x70, 1, 0)
    put("rtc", "pio", clock + rtc)
    misc = acc(1, 0x3f8, 3, 0x80) + acc(1, 0x3f8, 0, 1) + acc(1, 0x3f8, 3, 3) + acc(0, 0x3f8, 5, 0)
    misc += acc(0, 0x600, 0, 0, 4) + acc(1, 0x600, 2, 0x0100, 2) + acc(1, 0x600, 0, 0xffff, 2)
    misc += acc(0, 0x600, 4, 0, 2) + acc(1, 0x80, 0, 0x12) + raw(0, 0x3fe, 0, 4) + raw(0, 0x1234, 0, 2)
    misc += acc(1, 0xcf8, 0, 0x80000000, 4) + acc(0, 0xcf8, 4, 0, 4) + acc(0, 0xcf8, 6, 0, 2)
    misc += acc(1, 0x600, 6, 1) + acc(1, 0x600, 4, 0x3400, 2) + acc(1, 0xf4, 0, 0x31, 4)
    put("platform", "pio", clock + misc)


# ---- loader: the kernel file itself ----
def elf64(segs, entry, notes=b""):
    """segs: (paddr, data, memsz); one PT_NOTE when notes are given."""
    phnum = len(segs) + (1 if notes else 0)
    off = 64 + 56 * phnum
    ph, body = b"", b""
    for paddr, data, memsz in segs:
        ph += struct.pack("<IIQQQQQQ", 1, 7, off + len(body), paddr, paddr, len(data), memsz, 16)
        body += data
    if notes:
        ph += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0, len(notes), len(notes), 4)
        body += notes
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    return eh + ph + body


def elf32(segs, entry):
    phnum = len(segs)
    off = 52 + 32 * phnum
    ph, body = b"", b""
    for paddr, data, memsz in segs:
        ph += struct.pack("<IIIIIIII", 1, off + len(body), paddr, paddr, len(data), memsz, 7, 16)
        body += data
    eh = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, entry, 52, 0, 0, 52, 32, phnum, 40, 0, 0)
    return eh + ph + body


def note(name, typ, desc):
    n = name + b"\0"
    pad = lambda b: b + bytes((4 - len(b) % 4) % 4)
    return struct.pack("<III", len(n), len(desc), typ) + pad(n) + pad(desc)


def mb_header(flags, extra=b""):
    magic = 0x1BADB002
    return struct.pack("<III", magic, flags, (-(magic + flags)) & 0xffffffff) + extra


def loader():
    code = b"\xf4" * 16                                       # hlt
    pvh = note(b"Xen", 18, struct.pack("<I", 0x100000)) + note(b"Linux", 1, b"6.1\0")
    put("pvh-elf64", "loader", elf64([(0x100000, code, 0x2000)], 0x100000, pvh))
    put("multiboot-elf32", "loader", elf32([(0x100000, mb_header(3) + code, 0x1000)], 0x10000c))
    # a.out kludge: the header says where the file goes (load from file offset 0).
    kl = mb_header(0x10003, struct.pack("<IIIII", 0x100000, 0x100000, 0, 0x104000, 0x100020))
    put("multiboot-kludge", "loader", kl + bytes(0x20 - len(kl)) + code)
    # bzImage: one setup sector, protocol 2.15, 64-bit entry, relocatable.
    setup = bytearray(1024)
    setup[0x1f1] = 1
    struct.pack_into("<H", setup, 0x1fe, 0xAA55)
    setup[0x200:0x202] = b"\xeb\x66"                          # jump past the header to 0x268
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020f)
    setup[0x211] = 1                                          # LOADED_HIGH
    struct.pack_into("<I", setup, 0x22c, 0x7fffffff)          # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, 0x200000)            # kernel_alignment
    setup[0x234] = 1                                          # relocatable
    struct.pack_into("<H", setup, 0x236, 3)                   # XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
    struct.pack_into("<I", setup, 0x238, 2047)                # cmdline_size
    struct.pack_into("<Q", setup, 0x258, 0x1000000)           # pref_address
    struct.pack_into("<I", setup, 0x260, 0x4000)              # init_size
    put("bzimage", "loader", bytes(setup) + code * 32)
    # Linked near the top of the 32 MiB RAM, init_size 0, odd size (so with an initrd):
    # the initrd once went on top of the kernel.
    struct.pack_into("<I", setup, 0x230, 0)
    struct.pack_into("<Q", setup, 0x258, (32 << 20) - 0x3000)
    struct.pack_into("<I", setup, 0x260, 0)
    put("bzimage-low-init-size", "loader", bytes(setup) + code * 0x200 + b"\xf4")
    # Two real test guests, stripped, when they are built (kept once there: rebuilt guests differ).
    for g in ("hello.elf", "hello.mb.elf"):
        src = os.path.join(ROOT, "build", "guests", g)
        dst = os.path.join(CORPUS, "loader", "seed-guest-" + g)
        if os.path.exists(src) and not os.path.exists(dst):
            subprocess.run(["strip", "-o", dst, src], check=True)


# ---- config: argv[1..] joined by NUL bytes ----
def config():
    def argv(name, words):
        put(name, "config", b"\0".join(w.encode() for w in words))
    argv("full", ["run", "--kernel", "/boot/vmlinuz", "-m", "512M", "-c", "2",
                  "--disk", "/tmp/d.img,readonly,serial=abc,num-queues=2",
                  "--disk", "/tmp/e.img,cache=none", "--net", "tap=tap0,mac=52:54:00:12:34:56",
                  "--rng", "--transport", "mmio", "-t", "1.5", "--serial", "file:/tmp/x",
                  "--pvm", "on", "--reboot", "restart", "--seccomp", "off", "--hugepages", "thp",
                  "--virtio-console", "-a", "console=ttyS0 quiet", "-i", "/tmp/initrd", "-v"])
    argv("short", ["-vqk", "bzImage", "--memory=2G", "--cpus=255", "--mem-shared",
                   "--hugepages=hugetlb", "--timeout", "1e3"])
    argv("info", ["info", "-q"])
    argv("help", ["--help"])
    argv("bad", ["run", "--kernel", "x", "--quiet=1", "-x", "--disk", ",ro", "extra"])
    argv("vhost-user", ["run", "-k", "k", "--disk", "vhost-user=/run/b.sock,num-queues=2",
                        "--fs", "socket=/run/f.sock,tag=t,queue-size=64,num-queues=2",
                        "--share", "/srv,tag=s,readonly"])


# ---- vhost_user: u8 flags, then the backend's replies, in the frontend's order ----
def vhost_user():
    def reply(req, payload):
        return struct.pack("<III", req, 1 | 4, len(payload)) + payload

    def ack(req):
        return reply(req, struct.pack("<Q", 0))

    feats = (1 << 32) | (1 << 30) | (1 << 29) | (1 << 28) | (1 << 9) | (1 << 6)
    proto = (1 << 0) | (1 << 3) | (1 << 9)
    conv = reply(1, struct.pack("<Q", feats)) + reply(15, struct.pack("<Q", proto))
    conv += ack(3) + reply(17, struct.pack("<Q", 1))
    conv += reply(24, struct.pack("<III", 0, 60, 0) + struct.pack("<Q", 2048) + bytes(52))
    for req in (2, 5, 8, 10, 9, 12, 13, 18):
        conv += ack(req)
    conv += reply(11, struct.pack("<II", 0, 5)) + ack(25)
    put("conversation", "vhost_user", b"\0" + conv)
    put("conversation-fd", "vhost_user", b"\1" + conv)
    put("no-protocol", "vhost_user", b"\0" + reply(1, struct.pack("<Q", 1 << 32)))


def ioapic():
    """fuzz_ioapic: entries programmed (edge, level, remappable), lines, EOIs."""
    def reg_w(reg, val):
        return struct.pack("<BHBI", 0, 0x00, 2, reg) + struct.pack("<BHBI", 0, 0x10, 2, val)

    def line(pin, level):
        return struct.pack("<BBB", 2, pin, level)

    def eoi(vec):
        return struct.pack("<BB", 3, vec)

    edge = reg_w(0x11 + 8, 0x01000000) + reg_w(0x10 + 8, 0x24) + line(4, 1) + line(4, 0)
    level = reg_w(0x10 + 20, 0x8000 | 0x5a) + line(10, 1) + eoi(0x5a) + line(10, 0) + eoi(0x5a)
    remap = reg_w(0x11 + 22, 0x00030000 | 0x2468 << 17) + reg_w(0x10 + 22, 0x10000 | 0x8800 | 0x70)
    remap += line(11, 1) + reg_w(0x10 + 22, 0x8800 | 0x70) + struct.pack("<BHBI", 0, 0x40, 2, 0x70)
    put("edge", "ioapic", edge)
    put("level", "ioapic", level + struct.pack("<B", 4))
    put("remappable", "ioapic", remap + struct.pack("<BHBI", 1, 0x10, 2, 0))


if __name__ == "__main__":
    for fn in (virtqueue, blk, console, pci, mmio, serial, pio, loader, config, vhost_user, ioapic):
        fn()
    total = sum(os.path.getsize(os.path.join(dp, f))
                for dp, _, fs in os.walk(CORPUS) for f in fs)
    print("corpus: %d KiB in %s" % (total >> 10, CORPUS), file=sys.stderr)
