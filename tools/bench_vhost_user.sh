# shellcheck shell=bash
# vhost-user benchmark for tools/bench.sh --vhost-user: sourced by bench.sh (it
# uses bench.sh's helpers and variables), not run by itself.  vu_bench prints
# three Markdown tables:
#
#   block     the virtio_blk bench guest (blk=bench: VU_ITERS random 4 KiB
#             reads, then 64 KiB sequential reads and writes over a VU_MB MiB
#             raw image of random data) at queue depths 1 and 16, for
#             kvmrun's built-in virtio-blk (--disk IMG,cache=writeback),
#             kvmrun --disk vhost-user=SOCK and QEMU -M microvm with
#             vhost-user-blk, both on one qemu-storage-daemon export of the
#             same image (cache.direct=off: the host page cache, read once
#             before the runs), all on virtio-mmio; kvmrun on virtio-pci too.
#   virtio-fs the virtio_fs bench guest (fs=bench: read a 64 MiB bench.bin of
#             random data, write 64 MiB, VU_FS_ITERS LOOKUP+GETATTR pairs),
#             kvmrun --fs socket=SOCK (mmio and pci) against QEMU with
#             vhost-user-fs-device, each run on a fresh virtiofsd (cache=none).
#   CPU       per run: wall time, the VMM process's CPU (benchrun -c: user +
#             sys, and the vCPUs' guest time), the backend's CPU
#             (qemu-storage-daemon: its /proc stat before and after the run;
#             virtiofsd: wait4's rusage), and from one more run of each with
#             benchrun -s the split between the VMM's vCPU threads and the
#             rest (on pci the backend bypasses kvmrun: the rest stays idle).
#
# Runs of the configurations alternate (one of each, VU_RUNS times); each run
# waits for the host to be 90 % idle (wait_idle) and is followed by a sync.
# Environment: QSD (qemu-storage-daemon), VIRTIOFSD (/usr/lib/qemu/virtiofsd).

VU_ITERS=20000
VU_MB=256
VU_FS_MB=64
VU_FS_ITERS=5000
VU_TAG=kvmrun-fs

# vu_cpu_ticks PID: utime + stime of a live process, in clock ticks.
vu_cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# vu_wait_sock PATH: up to 10 s for a backend's listening socket.
vu_wait_sock() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# vu_record KEY LINE: files benchrun's CPU fields of one VMM run under KEY;
# with vu_sample=1 (a benchrun -s run) only its split by thread: the VMM's
# threads other than its vCPUs (kvmrun's vcpuN, QEMU's "CPU N/KVM"), and those.
vu_record() {
	local key=$1 line=$2
	if [ "${vu_sample:-0}" = 1 ]; then
		vu_vals[$key,vcpus]+="$(field threads "$line" | tr ',' '\n' | awk -F: '
			$1 == "vcpu" || $1 == "CPU_/KVM" { v += $2 } END { printf "%.1f", v }')"$'\n'
		vu_vals[$key,others]+="$(field threads "$line" | tr ',' '\n' | awk -F: '
			$1 != "vcpu" && $1 != "CPU_/KVM" { v += $2 } END { printf "%.1f", v }')"$'\n'
		return 0
	fi
	vu_vals[$key,wall]+="$(field median_ms "$line")"$'\n'
	vu_vals[$key,total]+="$(awk -v u="$(field user_ms "$line")" -v s="$(field sys_ms "$line")" \
		'BEGIN { printf "%.1f", u + s }')"$'\n'
	vu_vals[$key,guest]+="$(field guest_ms "$line")"$'\n'
}

# vu_run KEY CMD...: one VMM run under benchrun -c; on success its output is
# in $vu_out and its CPU is recorded under KEY; else a message and status 1.
vu_run() {
	local key=$1 line rc
	shift
	vu_out=$(timeout 600 "$BENCHRUN" -n 1 "$([ "${vu_sample:-0}" = 1 ] && echo -s || echo -c)" -- "$@" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$vu_out" | grep -o 'runs=[0-9]* median_ms=.*' | tail -n 1)
	if [ $rc -ne 0 ] || [ "$(field status "$line")" != 33 ]; then
		echo "$prog: $key: benchrun rc $rc, $(field status "$line"); last lines:" >&2
		printf '%s\n' "$vu_out" | grep -v 'runs=[0-9]* median_ms=' | tail -n 3 >&2
		return 1
	fi
	vu_record "$key" "$line"
}

# vu_blk_once CONFIG QD: one block run; its blk_parse line in $vu_line, or
# status 1.  Not in a subshell: it files CPU times in vu_vals.
vu_blk_once() {
	local cfg=$1 qd=$2 t0 t1 hz
	local args="blk=bench iters=$VU_ITERS seq_mb=$VU_MB seq_write=1 qd=$qd tsc_khz=$tsc_khz"
	local key="blk$qd,$cfg"

	hz=$(getconf CLK_TCK)
	t0=$(vu_cpu_ticks "$vu_qsd_pid")
	case $cfg in
	builtin)
		vu_run "$key" "$KVMRUN" run --memory 256M --transport mmio --kernel "$BLK_PVH" \
			--disk "$vu_img,cache=writeback" --append "$args" ;;
	kv-mmio | kv-pci)
		vu_run "$key" "$KVMRUN" run --memory 256M --transport "${cfg#kv-}" --kernel "$BLK_PVH" \
			--disk "vhost-user=$vu_dir/blk.sock" --append "$args" ;;
	qemu)
		vu_run "$key" "${vu_qemu[@]}" -chardev "socket,id=b0,path=$vu_dir/blk.sock" \
			-device vhost-user-blk,chardev=b0 -kernel "$BLK_PVH" -append "$args" ;;
	esac || return 1
	t1=$(vu_cpu_ticks "$vu_qsd_pid")
	sync "$vu_img"
	[ -n "$t0" ] && [ -n "$t1" ] && [ "$cfg" != builtin ] && [ "${vu_sample:-0}" = 0 ] &&
		vu_vals[$key,backend]+="$(((t1 - t0) * 1000 / hz))"$'\n'
	vu_line=$(printf '%s\n' "$vu_out" | blk_parse) || {
		echo "$prog: $key: the guest did not report all three phases" >&2
		return 1
	}
}

# vu_fs_parse: the fs guest's output on stdin -> "SEQREAD_MIBS SEQWRITE_MIBS PAIRS_S".
vu_fs_parse() {
	tr -d '\r' | awk '
	/^virtio-fs bench: (seqread|seqwrite|meta) / {
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			v[$3, kv[1]] = kv[2]
		}
	}
	END {
		if (v["seqread", "us"] < 1 || v["seqwrite", "us"] < 1 || v["meta", "us"] < 1)
			exit 1
		printf "%.1f %.1f %.1f\n", v["seqread", "bytes"] / 1.048576 / v["seqread", "us"],
			v["seqwrite", "bytes"] / 1.048576 / v["seqwrite", "us"],
			v["meta", "pairs"] * 1e6 / v["meta", "us"]
	}'
}

# vu_fs_once CONFIG: one virtio-fs run on a fresh virtiofsd; its vu_fs_parse
# line in $vu_line, or status 1.
vu_fs_once() {
	local cfg=$1 key="fs,$1" sock=$vu_dir/fs.sock vpid ok=0 vline
	local args="fs=bench fs_file=bench.bin iters=$VU_FS_ITERS tsc_khz=$tsc_khz"

	rm -f "$sock" "$vu_share/bench-write.bin"
	sync -f "$vu_share"
	# benchrun -c around virtiofsd: its CPU from wait4 (timeout reaps it, so it counts).
	"$BENCHRUN" -n 1 -c -- timeout 300 "$VIRTIOFSD" --socket-path="$sock" \
		-o source="$vu_share" -o cache=none >"$vu_dir/virtiofsd.out" 2>"$vu_dir/virtiofsd.log" &
	vpid=$!
	if ! vu_wait_sock "$sock"; then
		echo "$prog: virtiofsd did not listen on $sock; its log:" >&2
		tail -n 5 "$vu_dir/virtiofsd.log" >&2
		kill "$vpid" 2>/dev/null
		wait "$vpid"
		return 1
	fi
	case $cfg in
	kv-mmio | kv-pci)
		vu_run "$key" "$KVMRUN" run --memory 256M --transport "${cfg#kv-}" --kernel "$FS_PVH" \
			--fs "socket=$sock,tag=$VU_TAG" --append "$args" && ok=1 ;;
	qemu)
		vu_run "$key" "${vu_qemu[@]}" -chardev "socket,id=fs0,path=$sock" \
			-device "vhost-user-fs-device,chardev=fs0,tag=$VU_TAG" -kernel "$FS_PVH" \
			-append "$args" && ok=1 ;;
	esac
	# virtiofsd ends when its frontend goes away; timeout bounds a stuck one.
	wait "$vpid"
	vline=$(grep '^runs=' "$vu_dir/virtiofsd.out" | tail -n 1)
	[ -n "$vline" ] && [ "${vu_sample:-0}" = 0 ] && vu_vals[$key,backend]+="$(awk -v u="$(field user_ms "$vline")" \
		-v s="$(field sys_ms "$vline")" 'BEGIN { printf "%.1f", u + s }')"$'\n'
	[ $ok = 1 ] || return 1
	vu_line=$(printf '%s\n' "$vu_out" | vu_fs_parse) || {
		echo "$prog: $key: the guest did not report all three phases" >&2
		return 1
	}
}

# vu_cell KEY FMT: "median (min-max)" of the values filed under KEY (n/a if none).
vu_cell() {
	local c
	c=$(printf '%s' "${vu_vals[$1]:-}" | grep -v '^$' | range "$2")
	echo "${c#* }"
}

vu_med() {	# the raw median of the values under KEY, or nothing
	printf '%s' "${vu_vals[$1]:-}" | grep -v '^$' | median
}

fmt_ms0() {	# "123 ms", or n/a
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN { printf "%.0f ms", v }'
}

vu_bench() {
	local qd i cfg a b c k vu_load qver cfgs_blk cfgs_fs
	local -A vu_vals vu_name
	QSD=${QSD:-qemu-storage-daemon}
	VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
	FS_PVH=$B/guests/virtio_fs.elf

	command -v "$QSD" >/dev/null 2>&1 || die "--vhost-user: $QSD not found (Debian: qemu-system-x86 / qemu-utils; or set QSD)"
	[ -x "$VIRTIOFSD" ] || die "--vhost-user: $VIRTIOFSD not found (Debian: qemu-system-common; or set VIRTIOFSD)"
	[ -f "$FS_PVH" ] || die "--vhost-user: $FS_PVH is missing: build first"
	vu_load=$(cut -d' ' -f1-3 /proc/loadavg)
	blk_busy_runs=0
	blk_total_runs=0

	vu_dir=$(mktemp -d -p "${BLK_DIR:-/var/tmp}" kvmrun-vubench.XXXXXX) || die "cannot create a directory in ${BLK_DIR:-/var/tmp}"
	vu_img=$vu_dir/disk.img
	vu_share=$vu_dir/share
	vu_qsd_pid=""
	trap 'if [ -n "$vu_qsd_pid" ]; then kill "$vu_qsd_pid"; wait "$vu_qsd_pid"; fi 2>/dev/null; rm -rf "$vu_dir"' EXIT
	mkdir "$vu_share" || die "cannot create $vu_share"
	step "vhost-user: $VU_MB MiB image and $VU_FS_MB MiB bench.bin of random data in $vu_dir"
	dd if=/dev/urandom of="$vu_img" bs=1M count="$VU_MB" status=none conv=fsync &&
		dd if=/dev/urandom of="$vu_share/bench.bin" bs=1M count="$VU_FS_MB" status=none conv=fsync ||
		die "cannot write the test data in $vu_dir"
	cat "$vu_img" "$vu_share/bench.bin" >/dev/null	# warm host page cache
	tsc_khz=$(field tsc_khz "$("$BENCHRUN" -t)")
	[ -n "$tsc_khz" ] || die "benchrun -t did not report the TSC rate"

	# One export for all runs: qemu-storage-daemon takes one frontend at a time.
	"$QSD" --blockdev "driver=file,node-name=f0,filename=$vu_img,cache.direct=off" \
		--export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$vu_dir/blk.sock,writable=on" \
		>"$vu_dir/qsd.log" 2>&1 &
	vu_qsd_pid=$!
	vu_wait_sock "$vu_dir/blk.sock" || { tail -n 5 "$vu_dir/qsd.log" >&2; die "qemu-storage-daemon did not start"; }

	cfgs_blk="builtin kv-mmio kv-pci"
	cfgs_fs="kv-mmio kv-pci"
	qver="QEMU (not run)"
	if [ $have_qemu = 1 ]; then
		# shellcheck disable=SC2054  # the commas belong to the options' arguments
		vu_qemu=("${qemu_base[@]}" -serial stdio -name kvmrun-bench,debug-threads=on
			-object memory-backend-memfd,id=mem,size=256M,share=on
			-M microvm,acpi=off,memory-backend=mem -global virtio-mmio.force-legacy=false)
		cfgs_blk+=" qemu"
		cfgs_fs+=" qemu"
		qver="QEMU $("$QEMU" -version | sed -n '1s/.*version \([0-9.]*\).*/\1/p')"
	fi
	vu_name[builtin]="kvmrun built-in virtio-blk, mmio"
	vu_name[kv-mmio]="kvmrun vhost-user, mmio"
	vu_name[kv-pci]="kvmrun vhost-user, pci"
	vu_name[qemu]="$qver microvm vhost-user, mmio"

	for qd in 1 16; do
		step "vhost-user-blk: qd=$qd, $vu_runs runs each of: $cfgs_blk (alternating)"
		for ((i = 0; i < vu_runs; i++)); do
			for cfg in $cfgs_blk; do
				wait_idle
				blk_total_runs=$((blk_total_runs + 1))
				vu_blk_once "$cfg" "$qd" || continue
				read -r a b c <<<"$vu_line"
				vu_vals[blk$qd,$cfg,0]+="$a"$'\n'
				vu_vals[blk$qd,$cfg,1]+="$b"$'\n'
				vu_vals[blk$qd,$cfg,2]+="$c"$'\n'
			done
		done
	done
	step "vhost-user-blk: one run each with benchrun -s (CPU time by thread)"
	vu_sample=1
	for qd in 1 16; do
		for cfg in $cfgs_blk; do
			wait_idle
			blk_total_runs=$((blk_total_runs + 1))
			vu_blk_once "$cfg" "$qd"
		done
	done
	vu_sample=0
	kill "$vu_qsd_pid"
	wait "$vu_qsd_pid" 2>/dev/null
	vu_qsd_pid=""

	step "virtio-fs: $vu_runs runs each of: $cfgs_fs (alternating), a fresh virtiofsd each"
	for ((i = 0; i < vu_runs; i++)); do
		for cfg in $cfgs_fs; do
			wait_idle
			blk_total_runs=$((blk_total_runs + 1))
			vu_fs_once "$cfg" || continue
			read -r a b c <<<"$vu_line"
			vu_vals[fs,$cfg,0]+="$a"$'\n'
			vu_vals[fs,$cfg,1]+="$b"$'\n'
			vu_vals[fs,$cfg,2]+="$c"$'\n'
		done
	done

	step "virtio-fs: one run each with benchrun -s (CPU time by thread)"
	vu_sample=1
	for cfg in $cfgs_fs; do
		wait_idle
		blk_total_runs=$((blk_total_runs + 1))
		vu_fs_once "$cfg"
	done
	vu_sample=0

	step "start-up only: the exit guest, $vu_runs runs each of kvmrun and QEMU"
	for ((i = 0; i < vu_runs; i++)); do
		vu_run "exit,kv-mmio" "$KVMRUN" run --memory 256M --kernel "$EXIT_PVH" >/dev/null
		[ $have_qemu = 1 ] && vu_run "exit,qemu" "${vu_qemu[@]}" -kernel "$EXIT_PVH" >/dev/null
	done
	vu_sample=1
	vu_run "exit,kv-mmio" "$KVMRUN" run --memory 256M --kernel "$EXIT_PVH" >/dev/null
	[ $have_qemu = 1 ] && vu_run "exit,qemu" "${vu_qemu[@]}" -kernel "$EXIT_PVH" >/dev/null
	vu_sample=0
	rm -rf "$vu_dir"
	trap - EXIT

	echo
	echo "Host: $(nproc) CPUs, Linux $(uname -r), /dev/kvm: $backend; $(date -u +%Y-%m-%d); load average before: $vu_load."
	echo
	echo "| virtio-blk, $VU_MB MiB raw image | qd | ${vu_name[builtin]} | ${vu_name[kv-mmio]} | ${vu_name[qemu]} | kvmrun/QEMU, vhost-user mmio | ${vu_name[kv-pci]} |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | ---: |"
	for k in 0 1 2; do
		local f=fmt_mibs what
		case $k in
		0) f=fmt_iops; what="4 KiB random reads/s" ;;
		1) what="64 KiB sequential reads, MiB/s" ;;
		2) what="64 KiB sequential writes, MiB/s" ;;
		esac
		for qd in 1 16; do
			echo "| $what | $qd | $(vu_cell "blk$qd,builtin,$k" $f) | $(vu_cell "blk$qd,kv-mmio,$k" $f) |" \
				"$(vu_cell "blk$qd,qemu,$k" $f) | $(ratio "$(vu_med "blk$qd,kv-mmio,$k")" "$(vu_med "blk$qd,qemu,$k")") |" \
				"$(vu_cell "blk$qd,kv-pci,$k" $f) |"
		done
	done
	echo
	echo "| virtio-fs, virtiofsd cache=none | ${vu_name[kv-mmio]} | ${vu_name[qemu]} | kvmrun/QEMU, mmio | ${vu_name[kv-pci]} |"
	echo "| --- | ---: | ---: | --- | ---: |"
	for k in 0 1 2; do
		local f=fmt_mibs what
		case $k in
		0) what="sequential read of $VU_FS_MB MiB, 128 KiB requests, MiB/s" ;;
		1) what="sequential write of $VU_FS_MB MiB, 128 KiB requests, MiB/s" ;;
		2) f=fmt_iops; what="LOOKUP+GETATTR pairs/s" ;;
		esac
		echo "| $what | $(vu_cell "fs,kv-mmio,$k" $f) | $(vu_cell "fs,qemu,$k" $f) |" \
			"$(ratio "$(vu_med "fs,kv-mmio,$k")" "$(vu_med "fs,qemu,$k")") | $(vu_cell "fs,kv-pci,$k" $f) |"
	done
	echo
	echo "| CPU per run | wall time | VMM process, user+sys | of it guest_time | VMM threads but vCPUs [s] | vCPU threads [s] | backend's CPU |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	local w
	for w in blk1 blk16 fs exit; do
		local cfgs=$cfgs_blk label
		case $w in
		blk*) label="virtio-blk qd ${w#blk}" ;;
		fs) label="virtio-fs"; cfgs=$cfgs_fs ;;
		exit) label="exit guest (start-up and teardown)"; cfgs="kv-mmio"; [ $have_qemu = 1 ] && cfgs+=" qemu" ;;
		esac
		for cfg in $cfgs; do
			local name=${vu_name[$cfg]} be
			[ $w = exit ] && { name=${name%%,*}; name=${name% vhost-user}; }
			be=$(fmt_ms0 "$(vu_med "$w,$cfg,backend")")
			[ $cfg = builtin ] || [ $w = exit ] && be="(none)"
			echo "| $label, $name | $(fmt_ms0 "$(vu_med "$w,$cfg,wall")") | $(fmt_ms0 "$(vu_med "$w,$cfg,total")") |" \
				"$(fmt_ms0 "$(vu_med "$w,$cfg,guest")") | $(fmt_ms0 "$(vu_med "$w,$cfg,others")") |" \
				"$(fmt_ms0 "$(vu_med "$w,$cfg,vcpus")") | $be |"
		done
	done
	echo
	echo "Median (min-max) of $vu_runs runs per cell, the configurations' runs alternating; each run is one"
	echo "VM (256 MiB) started by build/tools/benchrun -c. Block: virtio_blk test guest, blk=bench"
	echo "iters=$VU_ITERS seq_mb=$VU_MB seq_write=1 qd=N (one queue, driver in CPL3 polling the used ring,"
	echo "EVENT_IDX), each phase timed in the guest with rdtsc at the host's TSC rate ($tsc_khz kHz,"
	echo "benchrun -t). vhost-user: one qemu-storage-daemon for all block runs, --blockdev"
	echo "driver=file,cache.direct=off --export type=vhost-user-blk,writable=on; built-in: kvmrun --disk"
	echo "IMG,cache=writeback on the same image (page cache warm; synced after every run). kvmrun:"
	echo "--transport mmio|pci; QEMU: -M microvm,acpi=off,memory-backend=(memfd, share=on),"
	echo "-global virtio-mmio.force-legacy=false, -device vhost-user-blk / vhost-user-fs-device, the same"
	echo "PVH guests. virtio-fs: virtio_fs test guest, fs=bench iters=$VU_FS_ITERS (128 KiB READ/WRITE"
	echo "requests; the write creates bench-write.bin, removed before each run), a fresh"
	echo "$VIRTIOFSD -o cache=none per run. CPU: wall time, the VMM process's user+sys (wait4's rusage)"
	echo "and the part of it its vCPUs spent in the guest (guest_time of the zombie's /proc stat, 10 ms"
	echo "ticks, sampled apart from user+sys: compare, do not subtract), medians of the same runs, start-up"
	echo "included (the exit-guest rows are start-up alone); backend: qemu-storage-daemon's utime+stime"
	echo "across the run (/proc, 10 ms ticks), virtiofsd's whole life (wait4's rusage). [s]: one more run"
	echo "of each with benchrun -s (each thread's schedstat every 10 ms; sampling slows a run slightly):"
	echo "CPU of the VMM's threads other than its vCPUs (kvmrun: device workers, main thread; QEMU: main"
	echo "loop, RCU, ...), and of its vCPU threads (guest, exits; ioeventfd notifies stay in KVM)."
	echo "Each run waited for the host to be >= 90 % idle (up to 20 s); $blk_busy_runs of $blk_total_runs runs started on a busier host."
}
