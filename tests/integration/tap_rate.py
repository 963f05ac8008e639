#!/usr/bin/env python3
"""What crossed a tap, counted on the host: the frames a guest sent through it.

    tap_rate.py sample TAP          prints "NS PACKETS BYTES" lines, one per
                                    millisecond, from /sys/class/net/TAP/
                                    statistics/rx_{packets,bytes} (what the
                                    tap received from its user, kvmrun),
                                    until SIGTERM or SIGINT
    tap_rate.py rate FILE [--skip N] [--burst K]
                                    reads those samples and prints one line
                                    "frames=N bytes=N pps=X bps=X span_ms=X
                                    burst_ms=X": the frames after the first
                                    N (skip: the guest's ARP request), their
                                    rate between 10 % and 90 % of them (frames
                                    and bytes separately, so that the start
                                    and the end of a run do not count), the
                                    time from the first of them to the last
                                    (span_ms) and to the K-th (burst_ms),
                                    and the longest pause between two
                                    samples (gap_ms)

Run `sample` inside the tap's network namespace (ip netns exec mounts that
namespace's /sys). The samples are timed with CLOCK_MONOTONIC on the host,
never by the guest.
"""
import signal
import sys
import time


def sample(tap):
    base = f"/sys/class/net/{tap}/statistics/"
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(base + "rx_packets") as fp, open(base + "rx_bytes") as fb:
        out = sys.stdout
        first = True
        while not stop:
            fp.seek(0)
            fb.seek(0)
            p = fp.read().strip()
            b = fb.read().strip()
            out.write(f"{time.monotonic_ns()} {p} {b}\n")
            if first:
                out.flush()  # the baseline is out: the caller may start the guest
                first = False
            time.sleep(0.001)
        out.flush()


def crossing(samples, col, level):
    """Time (ns) at which column col first reached level, interpolated between samples."""
    prev = samples[0]
    for s in samples:
        if s[col] >= level:
            if s[col] == prev[col] or s is prev:
                return s[0]
            frac = (level - prev[col]) / (s[col] - prev[col])
            return prev[0] + frac * (s[0] - prev[0])
        prev = s
    return None


def rate(path, skip, burst):
    samples = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                samples.append(tuple(int(x) for x in parts))
    if len(samples) < 2:
        sys.exit("tap_rate.py: fewer than two samples")
    t0, p0, b0 = samples[0]
    # The skipped frames are ARP requests, 60 bytes on the wire (the guest pads them).
    pbase, bbase = p0 + skip, b0 + 60 * skip
    frames = samples[-1][1] - pbase
    nbytes = samples[-1][2] - bbase
    if frames < 10:
        sys.exit(f"tap_rate.py: only {frames} frames")
    # Time of the first frame of ours and of the last: the sample that shows it.
    t_first = next(s[0] for s in samples if s[1] > pbase)
    t_last = next(s[0] for s in samples if s[1] >= pbase + frames)
    p10, p90 = crossing(samples, 1, pbase + 0.1 * frames), crossing(samples, 1, pbase + 0.9 * frames)
    b10, b90 = crossing(samples, 2, bbase + 0.1 * nbytes), crossing(samples, 2, bbase + 0.9 * nbytes)
    pps = 0.8 * frames * 1e9 / (p90 - p10) if p90 > p10 else float("inf")
    bps = 0.8 * nbytes * 1e9 / (b90 - b10) if b90 > b10 else float("inf")
    # The longest pause between samples: how coarse the host's timing was (a stalled sampler shows here).
    gap = max(b[0] - a[0] for a, b in zip(samples, samples[1:]))
    line = (f"frames={frames} bytes={nbytes} pps={pps:.1f} bps={bps:.1f} span_ms={(t_last - t_first) / 1e6:.1f}"
            f" gap_ms={gap / 1e6:.1f}")
    if burst:
        tk = next(s[0] for s in samples if s[1] >= pbase + min(burst, frames))
        line += f" burst_ms={(tk - t_first) / 1e6:.1f}"
    print(line)


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "sample":
        sample(a[1])
    elif len(a) >= 2 and a[0] == "rate":
        skip, burst, rest = 0, 0, a[2:]
        while rest:
            if rest[0] == "--skip" and len(rest) > 1:
                skip = int(rest[1])
            elif rest[0] == "--burst" and len(rest) > 1:
                burst = int(rest[1])
            else:
                sys.exit(__doc__)
            rest = rest[2:]
        rate(a[1], skip, burst)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
