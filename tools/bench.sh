#!/bin/bash
# kvmrun benchmarks against QEMU and a bare KVM loop; prints a Markdown table.
#
# Run by hand from a built tree (not part of the test suite):
#	cmake -S . -B build && cmake --build build
#	tools/bench.sh [--runs N] [--iters N] [--pio-runs N] [--no-pc] [--linux]
#	               [--blk | --blk-only] [--blk-runs N] [--blk-iters N] [--blk-mb N]
#	               [--blk-qd "1 16"] [--blk-cache "writeback none"]
#	               [--blk-aio "io_uring threads sync"] [--blk-qemu-aio "io_uring threads"]
#	               [--vhost-user | --vhost-user-only] [--vhost-user-runs N]
#	               [--net | --net-only] [--net-runs N] [--net-secs S]
#
# Measures (every process timed by build/tools/benchrun: wall time from fork
# to wait4, peak RSS from wait4's rusage):
#   start-up  median over RUNS runs of the exit test guest, whose first port
#             write is a byte to COM1 and whose second ends the VM: the time
#             from fork to that byte on the VMM's stdout (the start-up cost)
#             and to the process's end (adds the VM's teardown), for kvmrun,
#             QEMU -M microvm, QEMU -M pc (for reference; it goes through
#             SeaBIOS) and bench_bareloop 0 (a bare KVM program: the floor).
#   PIO rate  exits per second of `out` from guest CPL3: bench_pio with
#             iters=N and iters=0, rate = N / (t_N - t_0) on the medians;
#             the bare loop's rate is what bench_bareloop N reports (median).
#   peak RSS  ru_maxrss of the whole process for a 256 MiB exit guest.
#   --linux   also: time from process start to the Linux guest's "Run /init
#             as init process" line and, where userspace runs, to its first
#             userspace line; bzImage and vmlinux (PVH) under kvmrun, bzImage
#             under QEMU (on PVM hosts QEMU dies in the emulator: recorded).
#   --blk     also (--blk-only: only) virtio-blk throughput from the CPL3
#             virtio_blk test guest in its bench mode (polling driver, no
#             interrupts): 4 KiB random reads per second, 64 KiB sequential
#             reads and writes in MiB/s, timed inside the guest with rdtsc at
#             the host's TSC rate (benchrun -t).  kvmrun --disk IMG,cache=C
#             against QEMU -M microvm with virtio-blk-device on
#             -drive cache=C,aio=threads, on one raw image of --blk-mb MiB of
#             random data (in $BLK_DIR, default /var/tmp), read once before
#             the runs (warm host page cache for cache=writeback); runs of the
#             two alternate, medians of --blk-runs each; the image is synced
#             after every run so that one run's dirty pages do not slow the next,
#             and every run waits (up to 20 s) for the host to be 90 % idle.
#   --vhost-user  also (--vhost-user-only: only) vhost-user backends, from
#             tools/bench_vhost_user.sh (see there): the virtio_blk bench
#             guest on kvmrun's built-in virtio-blk, kvmrun --disk
#             vhost-user=SOCK and QEMU -M microvm vhost-user-blk, both on one
#             qemu-storage-daemon export of the same image (qd 1 and 16); the
#             virtio_fs bench guest on kvmrun --fs and QEMU vhost-user-fs-device
#             with a fresh virtiofsd (cache=none) per run; all on virtio-mmio,
#             kvmrun also on virtio-pci; and the VMM's own CPU time per run
#             (benchrun -c: user+sys minus guest time) beside the backend's.
#             Medians of --vhost-user-runs runs, the configurations alternating.
#   --net     also (--net-only: only) virtio-net transmit throughput: the CPL3
#             virtio_net test guest in its bulk mode (net=bulk secs=S: UDP
#             frames to the tap's address as fast as the device takes them,
#             ring kept full, used buffers polled) for 64- and 1500-byte
#             frames, counted on the host from the tap's rx_packets/rx_bytes
#             (tests/integration/tap_rate.py, sampled every ms) in a network
#             namespace of its own (root only): kvmrun --net tap=... against
#             QEMU -M microvm with virtio-net-device on -netdev tap,vhost=off;
#             runs alternate, medians of --net-runs each.
# Progress goes to stderr, the table (and a few lines on how it was made) to
# stdout.  QEMU is taken from $QEMU (default qemu-system-x86_64); without it
# the QEMU columns read n/a.  The build tree is $BUILD (default build).
set -uo pipefail

prog=bench.sh
runs=20
seq_runs=100
iters=20000
pio_runs=5
do_pc=1
do_linux=0
do_base=1
do_blk=0
do_stop=0
do_snap=0
do_vu=0
vu_runs=5
snap_runs=5
stop_runs=5
blk_runs=5
blk_iters=20000
blk_mb=256
blk_qds="1 16"
blk_caches="writeback none"
blk_aios="io_uring threads sync"
blk_qemu_aios="io_uring threads"
do_net=0
net_runs=3
net_secs=2

usage() {
	cat <<EOF
usage: tools/bench.sh [--runs N] [--iters N] [--pio-runs N] [--no-pc] [--linux]
  --runs N      runs per start-up measurement (default $runs)
  --seq-runs N  back-to-back runs for guests per second (default $seq_runs)
  --iters N     port writes in the PIO-rate runs (default $iters)
  --pio-runs N  runs per PIO-rate measurement (default $pio_runs)
  --no-pc       skip the QEMU -M pc reference column (about 1.3 s per run on PVM)
  --linux       add Linux boot times (tools/build-linux-guest.sh; minutes on PVM)
  --blk         add virtio-blk throughput (a few minutes with the defaults)
  --blk-only    measure only virtio-blk throughput
  --blk-runs N  runs per virtio-blk configuration and VMM (default $blk_runs)
  --blk-iters N random 4 KiB reads per run (default $blk_iters)
  --blk-mb N    image size in MiB, read and written sequentially (default $blk_mb)
  --blk-qd L    queue depths, a quoted list (default "$blk_qds"; 1..32)
  --blk-cache L cache modes, a quoted list of writeback and none (default "$blk_caches")
  --blk-aio L   kvmrun's block engines, a quoted list (default "$blk_aios")
  --blk-qemu-aio L  QEMU's -drive aio= modes (default "$blk_qemu_aios")
  --net         add virtio-net transmit throughput (root; about a minute with the defaults)
  --net-only    measure only virtio-net transmit throughput
  --net-runs N  runs per frame size and VMM (default $net_runs)
  --net-secs S  seconds each run sends for (default $net_secs)
  --stop        add the time from SIGTERM to exit under the flood guests
                (tests/integration/stop_bound.py; stdout a stalled 4 KiB pipe)
  --stop-only   measure only that
  --stop-runs N runs per flood guest (default $stop_runs)
  --snapshot    add snapshot size and time and restore time against QEMU
                (tools/bench_snapshot.py: 256 MiB and 4 GiB snapcount guests;
                with --linux also KUnit's end from a snapshot against a cold boot)
  --snapshot-only  measure only that
  --snapshot-runs N  runs per RAM size and VMM (default $snap_runs)
  --vhost-user  add vhost-user block and virtio-fs throughput and VMM CPU time
                against QEMU (qemu-storage-daemon, virtiofsd; a few minutes)
  --vhost-user-only  measure only that
  --vhost-user-runs N  runs per configuration (default $vu_runs)
Run from a built tree (cmake -S . -B build && cmake --build build).
Environment: QEMU=path of qemu-system-x86_64 (default: from PATH);
BUILD=build tree (default: build); BLK_DIR=directory for the disk image
(default /var/tmp; cache=none needs a file system with O_DIRECT; on tmpfs,
BLK_DIR=/dev/shm, the cache=none rows measure each I/O path with no disk to wait for);
QSD=qemu-storage-daemon, VIRTIOFSD=virtiofsd (default /usr/lib/qemu/virtiofsd).
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

posint() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
		die "$1 needs a positive number, got '$2'"
	fi
}

while [ $# -gt 0 ]; do
	case "$1" in
	--runs) [ $# -ge 2 ] || die "--runs needs a value"; posint --runs "$2"; runs=$2; shift 2 ;;
	--seq-runs) [ $# -ge 2 ] || die "--seq-runs needs a value"; posint --seq-runs "$2"; seq_runs=$2; shift 2 ;;
	--iters) [ $# -ge 2 ] || die "--iters needs a value"; posint --iters "$2"; iters=$2; shift 2 ;;
	--pio-runs) [ $# -ge 2 ] || die "--pio-runs needs a value"; posint --pio-runs "$2"; pio_runs=$2; shift 2 ;;
	--no-pc) do_pc=0; shift ;;
	--linux) do_linux=1; shift ;;
	--blk) do_blk=1; shift ;;
	--blk-only) do_blk=1; do_base=0; shift ;;
	--net) do_net=1; shift ;;
	--net-only) do_net=1; do_base=0; shift ;;
	--net-runs) [ $# -ge 2 ] || die "--net-runs needs a value"; posint --net-runs "$2"; net_runs=$2; shift 2 ;;
	--net-secs) [ $# -ge 2 ] || die "--net-secs needs a value"; posint --net-secs "$2"; net_secs=$2; shift 2 ;;
	--stop) do_stop=1; shift ;;
	--snapshot) do_snap=1; shift ;;
	--snapshot-only) do_snap=1; do_base=0; shift ;;
	--snapshot-runs) [ $# -ge 2 ] || die "--snapshot-runs needs a value"; posint --snapshot-runs "$2"; snap_runs=$2; shift 2 ;;
	--stop-only) do_stop=1; do_base=0; shift ;;
	--vhost-user) do_vu=1; shift ;;
	--vhost-user-only) do_vu=1; do_base=0; shift ;;
	--vhost-user-runs) [ $# -ge 2 ] || die "--vhost-user-runs needs a value"; posint --vhost-user-runs "$2"; vu_runs=$2; shift 2 ;;
	--stop-runs) [ $# -ge 2 ] || die "--stop-runs needs a value"; posint --stop-runs "$2"; stop_runs=$2; shift 2 ;;
	--blk-runs) [ $# -ge 2 ] || die "--blk-runs needs a value"; posint --blk-runs "$2"; blk_runs=$2; shift 2 ;;
	--blk-iters) [ $# -ge 2 ] || die "--blk-iters needs a value"; posint --blk-iters "$2"; blk_iters=$2; shift 2 ;;
	--blk-mb) [ $# -ge 2 ] || die "--blk-mb needs a value"; posint --blk-mb "$2"; blk_mb=$2; shift 2 ;;
	--blk-qd)
		[ $# -ge 2 ] || die "--blk-qd needs a value"
		for q in $2; do
			posint --blk-qd "$q"
			[ "$q" -le 32 ] || die "--blk-qd: $q is more than 32 (the guest's limit)"
		done
		blk_qds=$2; shift 2 ;;
	--blk-aio)
		[ $# -ge 2 ] || die "--blk-aio needs a value"
		for c in $2; do
			case $c in io_uring|threads|sync) ;; *) die "--blk-aio: '$c' is not io_uring, threads or sync" ;; esac
		done
		blk_aios=$2; shift 2 ;;
	--blk-qemu-aio)
		[ $# -ge 2 ] || die "--blk-qemu-aio needs a value"
		for c in $2; do
			case $c in io_uring|threads|native) ;; *) die "--blk-qemu-aio: '$c' is not io_uring, threads or native" ;; esac
		done
		blk_qemu_aios=$2; shift 2 ;;
	--blk-cache)
		[ $# -ge 2 ] || die "--blk-cache needs a value"
		for c in $2; do
			[ "$c" = writeback ] || [ "$c" = none ] || die "--blk-cache: '$c' is not writeback or none"
		done
		blk_caches=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

cd "$(dirname "$0")/.." || die "cannot cd to the repository root"

B=${BUILD:-build}
KVMRUN=$B/kvmrun
BENCHRUN=$B/tools/benchrun
BARELOOP=$B/tools/bench_bareloop
BENCHDISK=$B/tools/bench_disk
EXIT_PVH=$B/guests/exit.elf
EXIT_MB=$B/guests/exit.mb.elf
PIO_PVH=$B/guests/bench_pio.elf
PIO_MB=$B/guests/bench_pio.mb.elf
BLK_PVH=$B/guests/virtio_blk.elf
BLK_MB=$B/guests/virtio_blk.mb.elf
NET_PVH=$B/guests/virtio_net.elf
NET_MB=$B/guests/virtio_net.mb.elf

missing=0
for f in "$KVMRUN" "$BENCHRUN" "$BARELOOP"; do
	if [ ! -x "$f" ]; then
		echo "$prog: $f is missing (or not executable)" >&2
		missing=1
	fi
done
guests=("$EXIT_PVH" "$PIO_PVH")
[ $do_blk = 1 ] || [ $do_vu = 1 ] && guests+=("$BLK_PVH")
[ $do_vu = 1 ] && guests+=("$B/guests/virtio_fs.elf")
[ $do_blk = 1 ] && guests+=("$BLK_PVH")
[ $do_net = 1 ] && guests+=("$NET_PVH")
for f in "${guests[@]}"; do
	if [ ! -f "$f" ]; then
		echo "$prog: test guest $f is missing" >&2
		missing=1
	fi
done
[ $missing = 0 ] || die "build first, from the repository root: cmake -S . -B $B && cmake --build $B"
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	die "/dev/kvm is missing or not read/writable by $(id -un)"
fi

QEMU=${QEMU:-qemu-system-x86_64}
have_qemu=1
if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "$prog: $QEMU not found: the QEMU columns will read n/a" >&2
	have_qemu=0
else
	qguests=("$EXIT_MB" "$PIO_MB")
	[ $do_blk = 1 ] && qguests+=("$BLK_MB")
	[ $do_net = 1 ] && qguests+=("$NET_MB")
	for f in "${qguests[@]}"; do
		if [ ! -f "$f" ]; then
			echo "$prog: multiboot test guest $f is missing: the QEMU columns will read n/a" >&2
			have_qemu=0
		fi
	done
fi
[ $have_qemu = 1 ] || do_pc=0

# ---- helpers --------------------------------------------------------------

# field KEY "k=v k=v ...": the value of KEY.
field() {
	local kv
	for kv in $2; do
		if [ "${kv%%=*}" = "$1" ]; then
			echo "${kv#*=}"
			return 0
		fi
	done
	echo ""
}

# bench EXPECTED_STATUS NRUNS CMD...: benchrun's line on stdout, or nothing
# (and a message on stderr) when CMD failed or ended with another status.
bench() {
	local want=$1 n=$2 out
	shift 2
	out=$("$BENCHRUN" -n "$n" -q ${BENCH_FIRST:+-f} -- "$@")
	local rc=$? st
	st=$(field status "$out")
	if [ $rc -ne 0 ] || [ "$st" != "$want" ]; then
		echo "$prog: expected exit status $want, got '${st:-none}' (benchrun rc $rc) from: $*" >&2
		return 1
	fi
	echo "$out"
}

fmt_ms() {	# a median in ms, or n/a
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f ms", v; else printf "%.1f ms", v }'
}

fmt_ps() {	# runs per second, or n/a
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN { printf "%.0f/s", v }'
}

fmt_mib() {	# KiB -> "12.3 MiB"
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1024 }'
}

fmt_rate() {	# exits/s with thousands separators
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN {
		s = sprintf("%.0f", v); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		printf "%s%s/s", s, o }'
}

ratio() {	# A/B as "1.23x", or n/a
	if [ -z "$1" ] || [ -z "$2" ]; then echo "n/a"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }'
}

# pio_rate ITERS T_N_MS T_0_MS: exits per second, empty if not measurable.
pio_rate() {
	[ -n "$2" ] && [ -n "$3" ] || return 0
	awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { if (a > b) printf "%.1f", n * 1000 / (a - b) }'
}

median() {	# of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

step() {
	echo "== $*" >&2
}

# Command lines (the contract with the test guests: exit status 33 is
# success through the debug-exit port 0xf4).
kvmrun_cmd=("$KVMRUN" run --memory 256M --serial none)
# shellcheck disable=SC2054  # the commas belong to -cpu's argument
qemu_base=("$QEMU" -enable-kvm -cpu host,-arch-capabilities -m 256M -nodefaults
	-no-user-config -nographic -display none
	-device isa-debug-exit,iobase=0xf4,iosize=4)

if [ -d /sys/module/kvm_pvm ]; then
	backend="PVM (no hardware virtualization; guest kernel code emulated)"
elif grep -qw -e vmx -e svm /proc/cpuinfo; then
	backend="hardware KVM"
else
	backend="KVM"
fi

# ---- virtio-blk throughput --------------------------------------------------

# blk_parse: the guest's output on stdin -> "IOPS SEQREAD_MIBS SEQWRITE_MIBS",
# from its "virtio-blk bench: PHASE reqs=N bytes=N ... us=N" lines; fails
# unless all three phases reported.
blk_parse() {
	tr -d '\r' | awk '
	/^virtio-blk bench: (rand4k|seqread|seqwrite) / {
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			v[$3, kv[1]] = kv[2]
		}
	}
	END {
		if (v["rand4k", "us"] < 1 || v["seqread", "us"] < 1 || v["seqwrite", "us"] < 1)
			exit 1
		printf "%.1f %.1f %.1f\n", v["rand4k", "reqs"] * 1e6 / v["rand4k", "us"],
			v["seqread", "bytes"] / 1.048576 / v["seqread", "us"],
			v["seqwrite", "bytes"] / 1.048576 / v["seqwrite", "us"]
	}'
}

# The microvm transport QEMU puts its first virtio-mmio device on, as the
# guest's virtio_mmio.device= word: the guest lists 8 candidate slots
# (0xfeb00000 + 0x200 * i, IRQ 5 + i) and says where the block device is.
blk_qemu_mmio() {
	local dev="" i
	for ((i = 0; i < 8; i++)); do
		dev+=" virtio_mmio.device=512@$(printf '0x%x' $((0xfeb00000 + 0x200 * i))):$((5 + i))"
	done
	timeout 60 "${qemu_blk[@]}" -drive "file=$blk_img,format=raw,if=none,id=d0,cache=writeback,aio=threads" \
		-device virtio-blk-device,drive=d0 -append "blk=bench iters=1 seq_mb=1$dev" 2>&1 | tr -d '\r' |
		sed -n 's/^virtio-blk: device \(at\|on virtio-mmio\) \(0x[0-9a-f]*\) irq \([0-9]*\),.*/virtio_mmio.device=512@\2:\3/p'
}

# cpu_idle_pct: percentage of CPU time idle over the next half second.
cpu_idle_pct() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 0.5
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y); t = 0
		for (i = 2; i <= n; i++) t += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%.0f", (t > 0 ? 100 * idle / t : 100) }'
}

# wait_idle: waits (up to 20 s) until the host is at least 90 % idle, so that
# other work on a shared machine does not take the CPU the VMMs spin on;
# counts the runs that had to start anyway in blk_busy_runs.
wait_idle() {
	local i
	for ((i = 0; i < 40; i++)); do
		[ "$(cpu_idle_pct)" -ge 90 ] && return 0
	done
	blk_busy_runs=$((blk_busy_runs + 1))
}

# blk_once kvmrun:AIO|qemu:AIO CACHE QD: one run; its blk_parse line, or a
# message on stderr and status 1.
blk_once() {
	local vmm=${1%%:*} aio=${1#*:} cache=$2 qd=$3 out rc
	local args="blk=bench iters=$blk_iters seq_mb=$blk_mb seq_write=1 qd=$qd tsc_khz=$tsc_khz"

	if [ "$vmm" = host ]; then
		# The same three phases on the host's disk itself, no VM: the cache=none ceiling.
		[ "$cache" = none ] || return 1
		local r s w kib=$((blk_iters * 4 / 1024))
		r=$("$BENCHDISK" "$blk_img" randread "$qd" 4 $((kib > 0 ? kib : 1))) &&
			s=$("$BENCHDISK" "$blk_img" seqread "$qd" 64 "$blk_mb") &&
			w=$("$BENCHDISK" "$blk_img" seqwrite "$qd" 64 "$blk_mb") || return 1
		sync "$blk_img"
		echo "$(field iops "$r") $(field MiB/s "$s") $(field MiB/s "$w")"
		return 0
	fi
	if [ "$vmm" = kvmrun ]; then
		out=$(timeout 600 "$KVMRUN" run --memory 256M --transport mmio --kernel "$BLK_PVH" \
			--disk "$blk_img,cache=$cache,aio=$aio" --append "$args" 2>&1)
	else
		# QEMU's native AIO needs O_DIRECT; its io_uring and threads take either.
		[ "$aio" = native ] && [ "$cache" != none ] && return 1
		out=$(timeout 600 "${qemu_blk[@]}" \
			-drive "file=$blk_img,format=raw,if=none,id=d0,cache=$cache,aio=$aio" \
			-device virtio-blk-device,drive=d0 -append "$args $qemu_mmio" 2>&1)
	fi
	rc=$?
	sync "$blk_img"
	if [ $rc -ne 33 ] || ! printf '%s\n' "$out" | blk_parse; then
		echo "$prog: $1, virtio-blk bench, cache=$cache qd=$qd: exit status $rc; last lines:" >&2
		printf '%s\n' "$out" | tail -n 3 >&2
		return 1
	fi
}

# range: "median (min-max)" of the numbers on stdin, formatted by $1 (fmt_iops or fmt_mibs).
range() {
	local v m
	v=$(sort -g)
	[ -n "$v" ] || { echo " n/a"; return; }
	m=$(printf '%s\n' "$v" | median)
	echo "$m $($1 "$m") ($($1 "$(printf '%s\n' "$v" | head -n 1)")-$($1 "$(printf '%s\n' "$v" | tail -n 1)"))"
}

fmt_iops() {	# requests/s, rounded to 100, with thousands separators
	awk -v v="$1" 'BEGIN {
		s = sprintf("%.0f", int(v / 100 + 0.5) * 100); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		printf "%s%s", s, o }'
}

fmt_mibs() {
	awk -v v="$1" 'BEGIN { printf "%.0f", v }'
}

blk_bench() {
	local cache qd i vmm line rows=() cell_kv k a b c bqcol blk_load m
	local -A vals

	blk_load=$(cut -d' ' -f1-3 /proc/loadavg)
	blk_busy_runs=0
	blk_total_runs=0
	bqcol="QEMU (not run)"

	blk_dir=${BLK_DIR:-/var/tmp}
	blk_img=$(mktemp -p "$blk_dir" kvmrun-bench.XXXXXX) || die "cannot create the disk image in $blk_dir"
	blk_fs=$(stat -f -c %T "$blk_dir")
	trap 'rm -f "$blk_img"' EXIT
	step "virtio-blk: $blk_mb MiB image of random data: $blk_img"
	dd if=/dev/urandom of="$blk_img" bs=1M count="$blk_mb" status=none conv=fsync ||
		die "cannot write $blk_img"
	cat "$blk_img" >/dev/null	# warm host page cache
	tsc_khz=$(field tsc_khz "$("$BENCHRUN" -t)")
	[ -n "$tsc_khz" ] || die "benchrun -t did not report the TSC rate"

	qemu_mmio=""
	if [ $have_qemu = 1 ]; then
		# shellcheck disable=SC2054
		qemu_blk=("${qemu_base[@]}" -M microvm,acpi=off -serial stdio
			-global virtio-mmio.force-legacy=false -kernel "$BLK_MB")
		step "virtio-blk: where QEMU -M microvm puts the device"
		qemu_mmio=$(blk_qemu_mmio)
		if [ -n "$qemu_mmio" ]; then
			bqcol="QEMU $("$QEMU" -version | sed -n '1s/.*version \([0-9.]*\).*/\1/p') -M microvm"
		else
			echo "$prog: QEMU -M microvm did not run the virtio_blk guest: QEMU column n/a" >&2
		fi
	fi

	local configs=() c
	for c in $blk_aios; do configs+=("kvmrun:$c"); done
	if [ -n "$qemu_mmio" ]; then
		for c in $blk_qemu_aios; do configs+=("qemu:$c"); done
	fi
	case " $blk_caches " in *" none "*) [ -x "$BENCHDISK" ] && configs+=("host:none") ;; esac
	for cache in $blk_caches; do
		for qd in $blk_qds; do
			step "virtio-blk: cache=$cache qd=$qd, $blk_runs runs each of ${configs[*]}, in turn"
			for ((i = 0; i < blk_runs; i++)); do
				for vmm in "${configs[@]}"; do
					[ "$vmm" = host:none ] && [ "$cache" != none ] && continue
					wait_idle
					blk_total_runs=$((blk_total_runs + 1))
					line=$(blk_once "$vmm" "$cache" "$qd") || continue
					read -r a b c <<<"$line"
					vals[$vmm,$cache,$qd,0]+="$a"$'\n'
					vals[$vmm,$cache,$qd,1]+="$b"$'\n'
					vals[$vmm,$cache,$qd,2]+="$c"$'\n'
				done
			done
			for k in 0 1 2; do
				local f=fmt_mibs what row best_k="" best_q="" best_h=""
				case $k in
				0) f=fmt_iops; what="4 KiB random reads/s" ;;
				1) what="64 KiB sequential reads, MiB/s" ;;
				2) what="64 KiB sequential writes, MiB/s" ;;
				esac
				row="| $what | $cache | $qd |"
				for vmm in "${configs[@]}"; do
					cell_kv=$(printf '%s' "${vals[$vmm,$cache,$qd,$k]:-}" | range $f)
					row+=" ${cell_kv#* } |"
					m=${cell_kv%% *}
					[ "$m" = n/a ] || [ -z "$m" ] && continue
					if [ "${vmm%%:*}" = host ]; then
						best_h=$m
					elif [ "${vmm%%:*}" = kvmrun ]; then
						awk -v a="$m" -v b="${best_k:-0}" 'BEGIN { exit !(a > b) }' && best_k=$m
					else
						awk -v a="$m" -v b="${best_q:-0}" 'BEGIN { exit !(a > b) }' && best_q=$m
					fi
				done
				rows+=("$row $(ratio "$best_k" "$best_q") | $(ratio "$best_k" "$best_h") |")
			done
		done
	done
	rm -f "$blk_img"
	trap - EXIT

	local head="| virtio-blk, $blk_mb MiB raw image | cache | queue depth |" sep="| --- | --- | ---: |"
	for vmm in "${configs[@]}"; do
		case ${vmm%%:*} in
		kvmrun) head+=" kvmrun aio=${vmm#*:} |" ;;
		host) head+=" host, no VM (bench_disk) |" ;;
		*) head+=" QEMU aio=${vmm#*:} |" ;;
		esac
		sep+=" ---: |"
	done
	echo
	echo "Host: $(nproc) CPUs, Linux $(uname -r), /dev/kvm: $backend; $(date -u +%Y-%m-%d); load average before: $blk_load."
	echo
	echo "$head best kvmrun / best QEMU | best kvmrun / host |"
	echo "$sep --- | --- |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Median (min-max) of $blk_runs runs per cell, the configurations run in turn. Guest: virtio_blk"
	echo "test guest, blk=bench iters=$blk_iters seq_mb=$blk_mb seq_write=1 qd=N: one queue, driver in CPL3"
	echo "polling the used ring (no interrupts), EVENT_IDX; each phase timed in the guest with rdtsc"
	echo "at the host's TSC rate ($tsc_khz kHz, benchrun -t); MiB/s = 2^20 bytes per second."
	echo "kvmrun: --transport mmio --disk IMG,cache=C,aio=A. QEMU ($bqcol): -M microvm,acpi=off,"
	echo "-drive cache=C,aio=A, virtio-blk-device (${qemu_mmio:-not run}). The image was read once"
	echo "before the runs (warm host page cache: cache=writeback reads are memory copies); cache=none"
	if [ "$blk_fs" = tmpfs ]; then
		echo "on this image is O_DIRECT on tmpfs ($blk_dir): memory copies with no disk behind, so the"
		echo "rows show each I/O path's own cost; writes are not flushed inside the timing, the image is synced"
	else
		echo "goes to the host's disk; writes are not flushed inside the timing, the image is synced"
	fi
	echo "between runs. Each run waited for the host to be >= 90 % idle (up to 20 s); $blk_busy_runs of"
	echo "$blk_total_runs runs started on a busier host.  Host, no VM: tools/bench_disk on the same image"
	echo "with O_DIRECT, the same depth and sizes through one io_uring, buffers on huge pages (the"
	echo "disk's own limit for these patterns; cache=none rows only)."
}

# ---- virtio-net transmit throughput -----------------------------------------

# net_once kvmrun|qemu SIZE: one bulk-send run through the tap; prints
# "FRAMES_PER_S BYTES_PER_S" as counted on the host, or a message on stderr
# and status 1.
net_once() {
	local vmm=$1 size=$2 sp rc out line
	local args="net_ip=10.0.2.15 net_gw=10.0.2.2 net=bulk frames=0 secs=$net_secs size=$size tsc_khz=$tsc_khz"
	local rate=tests/integration/tap_rate.py

	ip netns exec "$net_ns" "$rate" sample "$net_tap" >"$net_tmp/samples" &
	sp=$!
	# The first sample is the baseline: the guest starts once it is written.
	for _ in $(seq 200); do [ -s "$net_tmp/samples" ] && break; sleep 0.05; done
	if [ "$vmm" = kvmrun ]; then
		out=$(timeout 60 ip netns exec "$net_ns" "$KVMRUN" run --memory 256M --transport mmio \
			--kernel "$NET_PVH" --net "tap=$net_tap,mac=52:54:00:12:34:56" --append "$args" 2>&1)
	else
		out=$(timeout 60 ip netns exec "$net_ns" "${qemu_base[@]}" -M microvm,acpi=off -serial stdio \
			-global virtio-mmio.force-legacy=false -kernel "$NET_MB" \
			-netdev "tap,id=n0,ifname=$net_tap,script=no,downscript=no,vhost=off" \
			-device virtio-net-device,netdev=n0,mac=52:54:00:12:34:56 -append "$args $net_qemu_mmio" 2>&1)
	fi
	rc=$?
	sleep 0.1
	kill "$sp"
	wait "$sp"
	# Skip the guest's ARP request: one frame before the bulk ones.
	if [ $rc -ne 33 ] || ! line=$("$rate" rate "$net_tmp/samples" --skip 1); then
		echo "$prog: $vmm, virtio-net bulk, size=$size: exit status $rc; last lines:" >&2
		printf '%s\n' "$out" | tr -d '\r' | tail -n 3 >&2
		return 1
	fi
	echo "$(field pps "$line") $(field bps "$line")"
}

# shellcheck disable=SC2317  # called from the EXIT trap
net_cleanup() {
	ip netns pids "$net_ns" 2>/dev/null | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	ip netns del "$net_ns" 2>/dev/null
	rm -rf "$net_tmp"
}

fmt_fps() {	# frames/s, rounded to 100, with thousands separators
	fmt_iops "$1"
}

fmt_mibs1() {	# bytes/s -> MiB/s with one decimal
	awk -v v="$1" 'BEGIN { printf "%.1f", v / 1048576 }'
}

net_bench() {
	local size i vmm a b rows=() qcol="QEMU (not run)" net_load i8 k
	local -A vals

	if [ "$(id -u)" != 0 ] || ! [ -c /dev/net/tun ] || ! command -v ip >/dev/null; then
		echo "$prog: --net needs root, /dev/net/tun and ip (iproute2): virtio-net not measured" >&2
		return 0
	fi
	net_load=$(cut -d' ' -f1-3 /proc/loadavg)
	blk_busy_runs=0	# wait_idle counts there
	blk_total_runs=0
	net_ns=kvmrun-bench-$$ net_tap=kvmtap0
	net_tmp=$(mktemp -d)
	trap net_cleanup EXIT
	ip netns add "$net_ns" || die "cannot create network namespace $net_ns"
	{ ip netns exec "$net_ns" ip link set lo up &&
	  ip netns exec "$net_ns" ip tuntap add dev "$net_tap" mode tap &&
	  ip netns exec "$net_ns" ip addr add 10.0.2.2/24 dev "$net_tap" &&
	  ip netns exec "$net_ns" ip link set "$net_tap" up; } || die "cannot set up tap $net_tap in $net_ns"
	tsc_khz=$(field tsc_khz "$("$BENCHRUN" -t)")
	[ -n "$tsc_khz" ] || die "benchrun -t did not report the TSC rate"
	# QEMU -M microvm's virtio-mmio slots (0xfeb00000 + 0x200 * i, IRQ 5 + i): the guest takes the one with the device.
	net_qemu_mmio=""
	for ((i8 = 0; i8 < 8; i8++)); do
		net_qemu_mmio+=" virtio_mmio.device=512@$(printf '0x%x' $((0xfeb00000 + 0x200 * i8))):$((5 + i8))"
	done
	[ $have_qemu = 1 ] && qcol="QEMU $("$QEMU" -version | sed -n '1s/.*version \([0-9.]*\).*/\1/p') -M microvm"

	for size in 64 1500; do
		step "virtio-net: bulk send, $size-byte frames, $net_secs s, $net_runs runs each of kvmrun and QEMU, alternating"
		for ((i = 0; i < net_runs; i++)); do
			for vmm in kvmrun qemu; do
				[ $vmm = qemu ] && [ $have_qemu = 0 ] && continue
				wait_idle
				blk_total_runs=$((blk_total_runs + 1))
				read -r a b <<<"$(net_once $vmm $size)" || continue
				[ -n "$a" ] || continue
				vals[$vmm,$size,0]+="$a"$'\n'
				vals[$vmm,$size,1]+="$b"$'\n'
			done
		done
		for k in 0 1; do
			local f=fmt_fps what="$size-byte frames: frames/s" cell_kv cell_q
			if [ $k = 1 ]; then
				f=fmt_mibs1 what="$size-byte frames: MiB/s"
			fi
			cell_kv=$(printf '%s' "${vals[kvmrun,$size,$k]:-}" | range $f)
			cell_q=$(printf '%s' "${vals[qemu,$size,$k]:-}" | range $f)
			rows+=("| $what | ${cell_kv#* } | ${cell_q#* } | $(ratio "${cell_kv%% *}" "${cell_q%% *}") |")
		done
	done
	net_cleanup
	trap - EXIT

	echo
	echo "Host: $(nproc) CPUs, Linux $(uname -r), /dev/kvm: $backend; $(date -u +%Y-%m-%d); load average before: $net_load."
	echo
	echo "| virtio-net transmit, guest to tap | kvmrun | $qcol | kvmrun/QEMU |"
	echo "| --- | ---: | ---: | --- |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Median (min-max) of $net_runs runs per cell, kvmrun and QEMU runs alternating. Guest: virtio_net test"
	echo "guest, net=bulk secs=$net_secs size=N: UDP frames of N bytes (Ethernet header included, 12-byte"
	echo "virtio-net header not) to 10.0.2.2, one descriptor per frame, transmit ring kept full, driver in"
	echo "CPL3 polling the used ring, EVENT_IDX. Counted on the host: the tap's rx_packets and rx_bytes,"
	echo "sampled every ms, rate between 10 % and 90 % of the frames; MiB/s = 2^20 bytes per second."
	echo "Tap in a network namespace of its own at 10.0.2.2/24. kvmrun: --transport mmio --net tap=TAP"
	echo "(one worker thread, a writev per frame). QEMU: -M microvm,acpi=off, virtio-net-device on"
	echo "-netdev tap,script=no,downscript=no,vhost=off. Each run waited for the host to be >= 90 % idle"
	echo "(up to 20 s); $blk_busy_runs of $blk_total_runs runs started on a busier host."
}

# ---- stop bound ------------------------------------------------------------

# One flood scenario: "LABEL|STOP_BOUND_OPTS|KVMRUN ARGS" -> a table row.
stop_row() {
	local label=$1 opts=$2 args=$3 t rss times=() rsss=() i out
	for ((i = 0; i < stop_runs; i++)); do
		# shellcheck disable=SC2086  # opts and args are word lists
		out=$(tests/integration/stop_bound.py "$KVMRUN" 10 sigterm $opts -- \
			--kernel "$B/guests/flood.elf" $args 2>&1 | head -n 1)
		t=$(sed -n 's/^stop request -> exit: \([0-9.]*\) s.*/\1/p' <<<"$out")
		rss=$(sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' <<<"$out")
		[ -n "$t" ] || { echo "$prog: $label: $out" >&2; continue; }
		times+=("$t")
		rsss+=("${rss:-0}")
	done
	t=$(printf '%s\n' "${times[@]}" | median)
	rss=$(printf '%s\n' "${rsss[@]}" | median)
	echo "| $label | ${t:+$(awk -v v="$t" 'BEGIN { printf "%.0f ms", v * 1000 }')} | ${rss:+$rss MiB} |"
}

stop_bench() {
	step "stop bound: SIGTERM to exit, $stop_runs runs each"
	echo
	echo "| Flood guest (stdout: a 4 KiB pipe nobody reads) | SIGTERM to exit, median | peak RSS |"
	echo "| --- | ---: | ---: |"
	stop_row "COM1" "" "--append out=serial"
	stop_row "COM1 + virtio-console (pci)" "" "--virtio-console --memory 128M --append out=both"
	stop_row "virtio-blk WRITE_ZEROES storm, tmpfs, page cache, 2 vCPUs" "--tmpfs-disk=64" \
		"--memory 128M --cpus 2 --append out=blk-zeroes"
	stop_row "virtio-blk WRITE_ZEROES storm, tmpfs, cache=none, 2 vCPUs" "--tmpfs-disk=64,cache=none" \
		"--memory 128M --cpus 2 --append out=blk-zeroes"
	stop_row "virtio-blk 64 MiB unaligned reads, tmpfs, cache=none, 2 vCPUs" \
		"--tmpfs-disk=64,cache=none" "--memory 128M --cpus 2 --append out=blk-read"
	echo
	echo "tests/integration/stop_bound.py: SIGTERM once the guest has run 2 s; time until the process is"
	echo "gone; peak RSS (VmHWM) just before the signal.  $stop_runs runs each, medians; 128 MiB guests"
	echo "(the 64 MiB reads touch half of it).  Backend: $backend."
}

snap_bench() {
	echo
	local linux=()
	if [ $do_linux = 1 ]; then
		local ldir
		ldir=$("$(dirname "$0")/build-linux-guest.sh" --cached 2>/dev/null) && linux=(--linux "$ldir")
	fi
	python3 "$(dirname "$0")/bench_snapshot.py" --build "$B" --runs "$snap_runs" --qemu "$QEMU" \
		"${linux[@]}"
}

# ---- vhost-user -------------------------------------------------------------

# shellcheck source=tools/bench_vhost_user.sh
. tools/bench_vhost_user.sh

if [ $do_base = 0 ]; then
	if [ -x "$B/tools/bench_teardown" ]; then
	echo
	echo "KVM's own cost of a VM by irqchip arrangement (tools/bench_teardown $runs: one vCPU, medians;"
	echo "close_cpu_ms is CPU time, the rest of close_ms is the kernel asleep; kvmrun's machine is"
	echo "irqchip+pit, its close runs in the reaper after kvmrun has exited):"
	"$B/tools/bench_teardown" "$runs" | sed 's/^/    /'
fi

[ $do_blk = 1 ] && blk_bench
	[ $do_vu = 1 ] && vu_bench
	[ $do_net = 1 ] && net_bench
	[ $do_stop = 1 ] && stop_bench
	[ $do_snap = 1 ] && snap_bench
	exit 0
fi

# ---- start-up and peak RSS ------------------------------------------------

step "start-up: kvmrun, exit guest, $runs runs"
kv_start=$(BENCH_FIRST=1 bench 33 "$runs" "$KVMRUN" run --memory 256M --kernel "$EXIT_PVH") ||
	die "kvmrun did not run the exit guest; try: $KVMRUN run --memory 256M --kernel $EXIT_PVH"

step "guests per second: kvmrun, exit guest, $seq_runs runs back to back"
kv_seq=$(bench 33 "$seq_runs" "$KVMRUN" run --memory 256M --serial none --kernel "$EXIT_PVH") || kv_seq=""

step "start-up: bench_bareloop 0, $runs runs"
bare_start=$(bench 0 "$runs" "$BARELOOP" 0) ||
	die "bench_bareloop failed; try: $BARELOOP 0"
bare_seq=$(bench 0 "$seq_runs" "$BARELOOP" 0) || bare_seq=""

qemu_machine=""
q_start=""
q_seq=""
pc_start=""
if [ $have_qemu = 1 ]; then
	# QEMU's machine for the comparison: microvm if it runs the exit guest,
	# else pc.  -serial none for start-up as for kvmrun; the PIO runs use
	# -serial null, because the UART (and so port 0x3ff) exists only then.
	for m in microvm pc; do
		step "checking QEMU -M $m"
		if "$QEMU" -version >/dev/null 2>&1 &&
			bench 33 1 "${qemu_base[@]}" -M $m -serial none -kernel "$EXIT_MB" >/dev/null; then
			qemu_machine=$m
			break
		fi
		echo "$prog: QEMU -M $m did not run the exit guest" >&2
	done
	if [ -z "$qemu_machine" ]; then
		echo "$prog: QEMU runs no test guest here: the QEMU columns will read n/a" >&2
		have_qemu=0
		do_pc=0
	else
		step "start-up: QEMU -M $qemu_machine, exit guest, $runs runs"
		q_start=$(BENCH_FIRST=1 bench 33 "$runs" "${qemu_base[@]}" -M $qemu_machine -serial stdio -kernel "$EXIT_MB") || q_start=""
		step "guests per second: QEMU -M $qemu_machine, exit guest, $seq_runs runs back to back"
		q_seq=$(bench 33 "$seq_runs" "${qemu_base[@]}" -M $qemu_machine -serial none -kernel "$EXIT_MB") || q_seq=""
		[ "$qemu_machine" = pc ] && do_pc=0	# already the main column
	fi
fi
if [ $do_pc = 1 ]; then
	pc_runs=$(( runs < 5 ? runs : 5 ))
	step "start-up: QEMU -M pc (reference), exit guest, $pc_runs runs"
	pc_start=$(BENCH_FIRST=1 bench 33 "$pc_runs" "${qemu_base[@]}" -M pc -serial stdio -kernel "$EXIT_MB") || pc_start=""
fi

# ---- PIO exit rate from CPL3 ----------------------------------------------

step "PIO rate: kvmrun, bench_pio iters=$iters and iters=0, $pio_runs runs each"
kv_pio_n=$(bench 33 "$pio_runs" "${kvmrun_cmd[@]}" --kernel "$PIO_PVH" --append "iters=$iters") ||
	die "kvmrun did not run bench_pio; try: ${kvmrun_cmd[*]} --kernel $PIO_PVH --append iters=$iters"
kv_pio_0=$(bench 33 "$runs" "${kvmrun_cmd[@]}" --kernel "$PIO_PVH" --append "iters=0") ||
	die "kvmrun did not run bench_pio; try: ${kvmrun_cmd[*]} --kernel $PIO_PVH --append iters=0"
kv_rate=$(pio_rate "$iters" "$(field median_ms "$kv_pio_n")" "$(field median_ms "$kv_pio_0")")

q_rate=""
if [ $have_qemu = 1 ]; then
	step "PIO rate: QEMU -M $qemu_machine, bench_pio iters=$iters and iters=0, $pio_runs runs each"
	q_pio_n=$(bench 33 "$pio_runs" "${qemu_base[@]}" -M $qemu_machine -serial null -kernel "$PIO_MB" -append "iters=$iters") || q_pio_n=""
	q_pio_0=$(bench 33 "$runs" "${qemu_base[@]}" -M $qemu_machine -serial null -kernel "$PIO_MB" -append "iters=0") || q_pio_0=""
	q_rate=$(pio_rate "$iters" "$(field median_ms "$q_pio_n")" "$(field median_ms "$q_pio_0")")
fi

step "PIO rate: bench_bareloop $iters, $pio_runs runs"
bare_rates=""
bare_entry=""
for ((i = 0; i < pio_runs; i++)); do
	line=$("$BARELOOP" "$iters") || die "bench_bareloop failed; try: $BARELOOP $iters"
	bare_rates+="$(field rate "$line")"$'\n'
	bare_entry=$(field entry "$line")
done
bare_rate=$(printf '%s' "$bare_rates" | median)

# ---- the table ------------------------------------------------------------

kv_ms=$(field median_ms "$kv_start")
q_ms=$(field median_ms "$q_start")
pc_ms=$(field median_ms "$pc_start")
kv_first=$(field first_median_ms "$kv_start")
q_first=$(field first_median_ms "$q_start")
pc_first=$(field first_median_ms "$pc_start")
bare_ms=$(field median_ms "$bare_start")
kv_rss=$(field maxrss_kib "$kv_start")
q_rss=$(field maxrss_kib "$q_start")
pc_rss=$(field maxrss_kib "$pc_start")

kv_rate_cell=$(fmt_rate "$kv_rate")
if [ -n "$kv_rate" ] && [ -n "$bare_rate" ]; then
	kv_rate_cell+=" ($(awk -v a="$kv_rate" -v b="$bare_rate" 'BEGIN { printf "%.0f", 100 * a / b }') % of bare)"
fi

if [ $have_qemu = 1 ]; then
	qcol="QEMU $("$QEMU" -version | sed -n '1s/.*version \([0-9.]*\).*/\1/p') -M $qemu_machine"
else
	qcol="QEMU (not run)"
fi
pccol="QEMU -M pc"
if [ $do_pc = 0 ]; then
	pc_ms=""
	pc_rss=""
fi

echo
echo "Host: $(nproc) CPUs, Linux $(uname -r), /dev/kvm: $backend; $(date -u +%Y-%m-%d)."
echo
echo "| Measure | kvmrun | $qcol | $pccol | bare KVM loop | kvmrun vs QEMU |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
echo "| Start-up: process start to the guest's first port write, median of $runs | $(fmt_ms "$kv_first") | $(fmt_ms "$q_first") | $(fmt_ms "$pc_first") | < $(fmt_ms "$bare_ms") | QEMU/kvmrun $(ratio "$q_first" "$kv_first") |"
echo "| Whole run of the exit guest (start-up + teardown), median of $runs | $(fmt_ms "$kv_ms") | $(fmt_ms "$q_ms") | $(fmt_ms "$pc_ms") | $(fmt_ms "$bare_ms") | QEMU/kvmrun $(ratio "$q_ms" "$kv_ms") |"
kv_ps=$(field per_s "$kv_seq")
q_ps=$(field per_s "$q_seq")
echo "| Guests per second, $seq_runs exit guests back to back | $(fmt_ps "$kv_ps") | $(fmt_ps "$q_ps") | n/a | $(fmt_ps "$(field per_s "$bare_seq")") | kvmrun/QEMU $(ratio "$kv_ps" "$q_ps") |"
echo "| PIO exits/s from guest CPL3 ($iters \`out\`) | $kv_rate_cell | $(fmt_rate "$q_rate") | n/a | $(fmt_rate "$bare_rate") | kvmrun/QEMU $(ratio "$kv_rate" "$q_rate") |"
echo "| Peak RSS, 256 MiB guest (ru_maxrss) | $(fmt_mib "$kv_rss") | $(fmt_mib "$q_rss") | $(fmt_mib "$pc_rss") | n/a | QEMU/kvmrun $(ratio "$q_rss" "$kv_rss") |"
echo
echo "Start-up: exit test guest (PVH ELF for kvmrun, multiboot ELF for QEMU); first port write ="
echo "fork to the guest's first COM1 byte on the VMM's stdout; whole run = fork to wait4. The bare"
echo "KVM loop is tools/bench_bareloop 0 (2 MiB VM, no irqchip, no loader; it prints only at its end)."
echo "PIO: bench_pio guest, rate = $iters / (t(iters=$iters) - t(iters=0)) on medians of $pio_runs and $runs runs;"
echo "QEMU with -serial null so that its UART handles port 0x3ff; bare loop: tools/bench_bareloop $iters"
echo "(median of $pio_runs, CPL3 entered via ${bare_entry:-?}). Peak RSS from the start-up runs."

[ $do_blk = 1 ] && blk_bench
[ $do_vu = 1 ] && vu_bench
[ $do_net = 1 ] && net_bench
[ $do_stop = 1 ] && stop_bench
[ $do_snap = 1 ] && snap_bench
[ $do_linux = 1 ] || exit 0

# ---- Linux boot time --------------------------------------------------------

# boot_time REGEX CMD...: milliseconds from start to the first output line
# matching REGEX ("" if it never came); the last line goes to $last_file.
last_file=$(mktemp)
trap 'rm -f "$last_file"' EXIT
boot_time() {
	local re=$1 start t="" line last_line="" error=""
	shift
	start=$(date +%s%N)
	while IFS= read -r line; do
		line=${line%$'\r'}
		[ -n "$line" ] && last_line=$line
		# QEMU stops (paused, not exited) on an emulation failure: keep its reason.
		[ -z "$error" ] && [[ $line =~ "KVM internal error" ]] && error=$line
		if [ -z "$t" ] && [[ $line =~ $re ]]; then
			t=$((($(date +%s%N) - start) / 1000000))
		fi
	done < <(timeout "${BOOT_TIMEOUT:-600}" "$@" </dev/null 2>&1)
	printf '%s\n' "${error:-$last_line}" >"$last_file"
	echo "$t"
}

fmt_s() {	# ms -> "12.3 s", or the reason it is missing
	if [ -n "$1" ]; then awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }'; else echo "$2"; fi
}

step "Linux guest (tools/build-linux-guest.sh)"
ldir=$(tools/build-linux-guest.sh | tail -n 1) || die "could not build the Linux guest"
pvm=0
"$KVMRUN" info | grep -q '^backend: PVM' && pvm=1
init_re='Run /init as init process'
user_re='kvmrun-guest: userspace is up'
largs="console=ttyS0 panic=-1 kunit.enable=0"
declare -A init_ms user_ms
for k in bzImage vmlinux; do
	step "kvmrun: $k to init"
	init_ms[$k]=$(boot_time "$init_re" "$KVMRUN" run --kernel "$ldir/$k" --initrd "$ldir/initramfs.cpio" \
		--cpus 2 --memory 512M --append "$largs kvmrun.check=1")
	user_ms[$k]=""
	if [ $pvm = 0 ]; then
		user_ms[$k]=$(boot_time "$user_re" "$KVMRUN" run --kernel "$ldir/$k" --initrd "$ldir/initramfs.cpio" \
			--cpus 2 --memory 512M --append "$largs kvmrun.check=1")
	fi
done
q_init="" q_user="" q_why="not run"
if [ $have_qemu = 1 ]; then
	step "QEMU -M microvm: bzImage to init"
	qargs=$largs
	# The same kernel arguments kvmrun adds on PVM hosts, so the comparison is fair.
	[ $pvm = 1 ] && qargs="$("$KVMRUN" info | sed -n 's/^pvm linux args: //p') $largs"
	q_init=$(BOOT_TIMEOUT=120 boot_time "$init_re" "$QEMU" -enable-kvm -cpu host,-arch-capabilities -M microvm -smp 2 -m 512M \
		-nodefaults -no-user-config -nographic -display none -serial stdio -no-reboot \
		-kernel "$ldir/bzImage" -initrd "$ldir/initramfs.cpio" -append "$qargs kvmrun.check=1")
	q_why="failed: $(cut -c1-80 "$last_file")"
fi
pvm_note=""
[ $pvm = 1 ] && pvm_note=" (PVM: no guest userspace)"
echo
echo "| Linux 6.12 guest, 2 vCPUs, 512 MiB | to 'Run /init as init process' | to first userspace line$pvm_note |"
echo "| --- | ---: | ---: |"
echo "| kvmrun, bzImage | $(fmt_s "${init_ms[bzImage]}" failed) | $(fmt_s "${user_ms[bzImage]}" n/a) |"
echo "| kvmrun, vmlinux (PVH) | $(fmt_s "${init_ms[vmlinux]}" failed) | $(fmt_s "${user_ms[vmlinux]}" n/a) |"
echo "| QEMU -M microvm, bzImage | $(fmt_s "$q_init" "$q_why") | n/a |"
echo
echo "Kernel and initramfs from tools/build-linux-guest.sh ($(basename "$ldir")); wall time from"
echo "process start to the line on the serial console; one run each."
