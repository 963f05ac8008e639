# Integration tests: boot the project's test guests (guests/) under kvmrun.
set(RUN ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_guest.sh)
set(KVMRUN $<TARGET_FILE:kvmrun>)
set(G ${PROJECT_BINARY_DIR}/guests)

# kvmrun_guest_test(NAME GUEST_FILE [checks...] [ARGS kvmrun run options...])
function(kvmrun_guest_test name guest)
  cmake_parse_arguments(T "" "" "ARGS" ${ARGN})
  add_test(NAME ${name}
    COMMAND ${RUN} --needs-kvm ${T_UNPARSED_ARGUMENTS}
            -- ${KVMRUN} run --kernel ${G}/${guest} --timeout 120 ${T_ARGS})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS guest)
endfunction()

# A plain command (no guest), checked the same way.
function(kvmrun_cmd_test name)
  cmake_parse_arguments(T "" "" "CMD" ${ARGN})
  add_test(NAME ${name} COMMAND ${RUN} ${T_UNPARSED_ARGUMENTS} -- ${T_CMD})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)
endfunction()

set(PASS --status 33 --out "^PASS")

foreach(v pvh mb)
  if(v STREQUAL "pvh")
    set(sfx .elf)
    set(proto pvh)
  else()
    set(sfx .mb.elf)
    set(proto multiboot)
  endif()
  kvmrun_guest_test(guest.hello.${v} hello${sfx} ${PASS}
    --out "Hello from a kvmrun test guest \\(booted via ${proto}\\)" --err-lines 0)
  kvmrun_guest_test(guest.bootinfo.${v} bootinfo${sfx} ${PASS}
    --out "^cmdline: \\[expect_mem=268435456 one two=2 three\\]$"
    --out "^protocol: ${proto}$"
    ARGS --memory 256M --append "expect_mem=268435456 one two=2 three")
  kvmrun_guest_test(guest.smp.${v} smp${sfx} ${PASS} --out "all 4 CPUs online"
    --out "cpu 3 online" ARGS --cpus 4 --append expect_cpus=4)
  kvmrun_guest_test(guest.timer.${v} timer${sfx} ${PASS}
    --out "lapic timer: 10 interrupts" --out "pit via pic: 10 interrupts")
  kvmrun_guest_test(guest.usermode.${v} usermode${sfx} ${PASS} --out "hello from CPL3"
    --out "user-mode #GP and #UD reached the guest kernel")
  kvmrun_guest_test(guest.fixups.${v} fixups${sfx} ${PASS} --out "int3 and fwait completed")
  kvmrun_guest_test(guest.badio.${v} badio${sfx} ${PASS}
    --out "survived a storm"
    --err-count "unhandled port (read from|write to) 0x1234 " 1
    --err "unhandled MMIO read from 0xe8000000"
    ARGS -vv)
endforeach()

# Memory above the 32-bit hole: 5 GiB of RAM is 3 GiB low + 2 GiB from 4 GiB up.
kvmrun_guest_test(guest.bootinfo.highmem bootinfo.mb.elf ${PASS}
  --out "^map: 0x100000-0xc0000000 type 1$" --out "^map: 0x100000000-0x180000000 type 1$"
  ARGS --memory 5G --append expect_mem=5368709120)
kvmrun_guest_test(guest.bootinfo.memfd bootinfo.elf ${PASS}
  ARGS --memory 64M --mem-shared --append expect_mem=67108864)
kvmrun_guest_test(guest.bootinfo.thp bootinfo.elf ${PASS}
  ARGS --memory 64M --hugepages thp --append expect_mem=67108864)
kvmrun_guest_test(guest.smp.one smp.elf ${PASS} --out "all 1 CPUs online" --no-out "cpu 1 online"
  ARGS --cpus 1 --append expect_cpus=1)
kvmrun_guest_test(guest.smp.max smp.elf ${PASS} --out "all 16 CPUs online"
  ARGS --cpus 16 --append expect_cpus=16)
# --no-pit: the PIT's ports read all-ones and IRQ 0 stays quiet; the check fails where a PIT is.
kvmrun_guest_test(guest.timer.no-pit timer.elf ${PASS} --out "^no pit: port 0x40 reads 0xffff"
  ARGS --no-pit --append nopit=1)
kvmrun_guest_test(guest.timer.no-pit-check timer.elf --status 35
  --out "^FAIL: port 0x40 answered 0x[0-9a-f]+: a PIT is there" ARGS --append nopit=1)

# Resets end kvmrun with status 0.
foreach(mode kbd outport triple cf9)
  kvmrun_guest_test(guest.reset.${mode} reset.elf --status 0 --out "resetting via ${mode}"
    --no-out FAIL ARGS --append mode=${mode})
endforeach()
# 0xCF9 is inside the PCI host's ports with virtio-pci, a port of its own without.
kvmrun_guest_test(guest.reset.cf9-mmio reset.elf --status 0 --out "resetting via cf9"
  --no-out FAIL ARGS --transport mmio --append mode=cf9)

# Serial input through the UART's receive interrupt (IRQ 4).
kvmrun_guest_test(guest.serial.echo serial_echo.elf ${PASS}
  --out "uart registers behave like a 16550A" --out "^echo: ping from the host$"
  --wait-for "^ready" --input "ping from the host\\n")
kvmrun_guest_test(guest.serial.file hello.elf --status 33 --no-out "."
  --file ${CMAKE_CURRENT_BINARY_DIR}/serial-file.out "^Hello from a kvmrun test guest"
  ARGS --serial file:${CMAKE_CURRENT_BINARY_DIR}/serial-file.out)
kvmrun_guest_test(guest.serial.none hello.elf --status 33 --no-out "." ARGS --serial none)

# Ways to stop a guest that never ends.
kvmrun_guest_test(guest.stop.timeout reset.elf --status 124 --out "resetting via hang"
  --err "timeout" ARGS --append mode=hang --timeout 1.5)
kvmrun_guest_test(guest.stop.sigterm reset.elf --status 143 --wait-for "resetting via hang"
  --signal TERM ARGS --append mode=hang)
kvmrun_guest_test(guest.stop.sigint reset.elf --status 130 --wait-for "resetting via hang"
  --signal INT ARGS --append mode=hang)

# A stop is a promise (tests/integration/stop_bound.py): a guest flooding COM1
# and the virtio console while stdout is a 4 KiB pipe nobody reads still ends
# within 1 s of SIGTERM or --timeout, without the stop watchdog's help.
foreach(how sigterm timeout)
  set(args --kernel ${G}/flood.elf)
  if(how STREQUAL "timeout")
    list(APPEND args --timeout 2)
  endif()
  add_test(NAME stop.flood.serial.${how} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/stop_bound.py
    ${KVMRUN} 1.0 ${how} -- ${args} --append out=serial)
  foreach(t pci mmio)
    add_test(NAME stop.flood.console-${t}.${how}
      COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/stop_bound.py ${KVMRUN} 1.0 ${how} --
      ${args} --virtio-console --memory 128M --transport ${t} --append out=both)
  endforeach()
endforeach()
# virtio-blk storms on a tmpfs image (no FALLOC_FL_ZERO_RANGE: every zero is
# written), page cache and O_DIRECT, both transports: WRITE_ZEROES of 16
# whole-disk segments a request, and 64 MiB reads into an unaligned buffer
# (with cache=none each bounces; peak RSS must stay near guest RAM touched).
foreach(t pci mmio)
  foreach(cache writeback none)
    foreach(how sigterm timeout)
      set(args --kernel ${G}/flood.elf --memory 128M --cpus 2 --transport ${t})
      if(how STREQUAL "timeout")
        list(APPEND args --timeout 2)
      endif()
      add_test(NAME stop.blk-zeroes.${cache}-${t}.${how}
        COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/stop_bound.py ${KVMRUN} 1.0 ${how}
        --tmpfs-disk=64,cache=${cache} -- ${args} --append out=blk-zeroes)
      list(APPEND stop_tests stop.blk-zeroes.${cache}-${t}.${how})
    endforeach()
  endforeach()
  add_test(NAME stop.blk-read.none-${t}.sigterm
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/stop_bound.py ${KVMRUN} 1.0 sigterm
    --tmpfs-disk=64,cache=none --max-rss-mb=110 -- --kernel ${G}/flood.elf --memory 128M --cpus 2
    --transport ${t} --append out=blk-read)
  list(APPEND stop_tests stop.blk-read.none-${t}.sigterm)
endforeach()
set_tests_properties(stop.flood.serial.sigterm stop.flood.serial.timeout
  stop.flood.console-pci.sigterm stop.flood.console-pci.timeout
  stop.flood.console-mmio.sigterm stop.flood.console-mmio.timeout ${stop_tests}
  PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS stop)

# Bad input: one clear line on stderr, exit status 1, nothing else.
set(ONE_ERROR --status 1 --err-lines 1 --no-out ".")
kvmrun_cmd_test(cli.no_command ${ONE_ERROR} --err "missing command" CMD ${KVMRUN})
kvmrun_cmd_test(cli.unknown_command ${ONE_ERROR} --err "unknown command 'frob'" CMD ${KVMRUN} frob)
kvmrun_cmd_test(cli.no_kernel ${ONE_ERROR} --err "missing --kernel" CMD ${KVMRUN} run)
kvmrun_cmd_test(cli.unknown_flag ${ONE_ERROR} --err "unknown option '--frobnicate'"
  CMD ${KVMRUN} run --kernel x --frobnicate)
kvmrun_cmd_test(cli.missing_value ${ONE_ERROR} --err "needs a value" CMD ${KVMRUN} run --kernel)
kvmrun_cmd_test(cli.bad_memory ${ONE_ERROR} --err "--memory '12Q'" CMD ${KVMRUN} run --kernel x --memory 12Q)
kvmrun_cmd_test(cli.tiny_memory ${ONE_ERROR} --err "between 2M and 1T" CMD ${KVMRUN} run --kernel x --memory 1M)
kvmrun_cmd_test(cli.bad_cpus ${ONE_ERROR} --err "--cpus '0'" CMD ${KVMRUN} run --kernel x --cpus 0)
kvmrun_cmd_test(cli.many_cpus ${ONE_ERROR} --err "--cpus '256'" CMD ${KVMRUN} run --kernel x --cpus 256)
kvmrun_cmd_test(cli.bad_timeout ${ONE_ERROR} --err "--timeout '-1'" CMD ${KVMRUN} run --kernel x --timeout -1)
kvmrun_cmd_test(cli.bad_serial ${ONE_ERROR} --err "--serial 'tcp:1'" CMD ${KVMRUN} run --kernel x --serial tcp:1)
kvmrun_cmd_test(cli.stray_arg ${ONE_ERROR} --err "unexpected argument 'extra'" CMD ${KVMRUN} run --kernel x extra)
kvmrun_cmd_test(cli.help --status 0 --out "^Exit status:" --out "Ctrl-A x" CMD ${KVMRUN} --help)
kvmrun_cmd_test(cli.version --status 0 --out "^kvmrun [0-9]+\\.[0-9]+\\.[0-9]+$" CMD ${KVMRUN} --version)
kvmrun_cmd_test(cli.info --needs-kvm --status 0 --out "^KVM API version: 12$" --out "^backend: "
  --out "IRQCHIP" CMD ${KVMRUN} info)

# Missing or broken kernels, and no usable /dev/kvm.
kvmrun_cmd_test(cli.kernel_missing --needs-kvm ${ONE_ERROR} --err "could not open kernel: No such file"
  CMD ${KVMRUN} run --kernel /nonexistent/vmlinux)
kvmrun_cmd_test(cli.kernel_directory --needs-kvm ${ONE_ERROR} --err "not a regular file"
  CMD ${KVMRUN} run --kernel /)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/empty-kernel "")
kvmrun_cmd_test(cli.kernel_empty --needs-kvm ${ONE_ERROR} --err "kernel file is empty"
  CMD ${KVMRUN} run --kernel ${CMAKE_CURRENT_BINARY_DIR}/empty-kernel)
kvmrun_cmd_test(cli.kernel_device --needs-kvm ${ONE_ERROR} --err "not a regular file"
  CMD ${KVMRUN} run --kernel /dev/null)
kvmrun_cmd_test(cli.kernel_text --needs-kvm ${ONE_ERROR} --err "not a kernel kvmrun can boot"
  CMD ${KVMRUN} run --kernel ${CMAKE_CURRENT_SOURCE_DIR}/CMakeLists.txt)
add_test(NAME cli.kernel_truncated COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/truncated.sh
  ${RUN} ${KVMRUN} ${G}/hello.elf)
set_tests_properties(cli.kernel_truncated PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)
add_test(NAME cli.closed_fds COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/closed_fds.sh
  ${KVMRUN} ${G}/reset.elf)
set_tests_properties(cli.closed_fds PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)
add_test(NAME stop.reaper COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/reaper.sh
  ${KVMRUN} ${G}/reset.elf)
set_tests_properties(stop.reaper PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS stop)
add_test(NAME stop.background-tty COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/background_tty.sh
  ${KVMRUN} ${G}/reset.elf)
set_tests_properties(stop.background-tty PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS stop)
add_test(NAME tools.benchrun_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/benchrun_cpu.sh
  $<TARGET_FILE:benchrun> ${KVMRUN} ${G}/virtio_blk.elf)
set_tests_properties(tools.benchrun_cpu PROPERTIES TIMEOUT 60 LABELS tools)
add_test(NAME cli.host_files COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/host_files.sh
  ${RUN} ${KVMRUN} ${G}/hello.elf)
set_tests_properties(cli.host_files PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS cli)
kvmrun_cmd_test(cli.kernel_too_big --needs-kvm ${ONE_ERROR} --err "does not fit in guest RAM"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --memory 2M)
kvmrun_cmd_test(cli.no_dev_kvm ${ONE_ERROR} --err "/nonexistent/kvm: no such device"
  CMD env KVMRUN_DEV_KVM=/nonexistent/kvm ${KVMRUN} info)
kvmrun_cmd_test(cli.not_kvm ${ONE_ERROR} --err "/dev/null: KVM API version -1"
  CMD env KVMRUN_DEV_KVM=/dev/null ${KVMRUN} run --kernel ${G}/hello.elf)
add_test(NAME cli.kvm_permission COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/permission.sh
  ${RUN} ${KVMRUN} ${G}/hello.elf)
set_tests_properties(cli.kvm_permission PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)
add_test(NAME cli.hugetlb COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/hugetlb.sh
  ${RUN} ${KVMRUN} ${G}/bootinfo.elf)
set_tests_properties(cli.hugetlb PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)

# ACPI tables, and power-off / reset through the FADT's registers.
kvmrun_guest_test(guest.acpi.poweroff acpi.elf --status 0 --out "power off through PM1a_CNT"
  --out "acpi: 1 LAPICs, 1 IOAPIC" --no-out FAIL)
kvmrun_guest_test(guest.acpi.smp acpi.mb.elf --status 0 --out "acpi: 4 LAPICs, 1 IOAPIC" --no-out FAIL
  ARGS --cpus 4 --append expect_cpus=4)
kvmrun_guest_test(guest.acpi.reset acpi.elf --status 0 --out "reset through port" --no-out FAIL
  --err "guest reset" ARGS -v --append mode=reset)
kvmrun_guest_test(guest.acpi.pmtimer acpi.elf --status 0 --out "acpi: PM timer at port 0x608"
  --no-out FAIL)

# The PC devices kvm-unit-tests reads: fw_cfg (CPU count, RAM size), the PM timer's
# rate against the PIT, and with --pc-testdev QEMU's pc-testdev.
kvmrun_guest_test(guest.pcdevs.one pcdevs.elf ${PASS} --out "^fw_cfg: QEMU, 1 CPUs, 268435456 bytes$"
  --out "^pm timer: " ARGS --memory 256M --append expect_mem=268435456)
kvmrun_guest_test(guest.pcdevs.testdev pcdevs.mb.elf ${PASS}
  --out "^fw_cfg: QEMU, 3 CPUs, 536870912 bytes$" --out "^pc-testdev: scratch ports$"
  --out "^pc-testdev: flush page$" --out "^pc-testdev: mmio scratch$"
  --out "^pc-testdev: irq line 10$"
  ARGS --cpus 3 --memory 512M --pc-testdev --append "expect_cpus=3 expect_mem=536870912 testdev=1")
# Without --pc-testdev its ports read all-ones and the guest says so: the check can fail.
kvmrun_guest_test(guest.pcdevs.absent pcdevs.elf --status 35
  --out "^FAIL: scratch port 0xe0 reads 0xffffffff$" ARGS --append testdev=1)
# QEMU's pci-testdev: found by scanning config space, BARs sized, every test counted.
kvmrun_guest_test(guest.pci_testdev pci_testdev.elf ${PASS}
  --out "^BAR 0 memory at 0x[0-9a-f]+ \\(4096 bytes\\), BAR 1 I/O at 0x[0-9a-f]+ \\(256 ports\\)$"
  --out-min "^pci-testdev (mem|io): .* width 1: 16 writes counted$" 6
  --out "^pci-testdev: I/O space off hides BAR 1$" ARGS --pci-testdev --append exact_counts=1)
kvmrun_guest_test(guest.pci_testdev.absent pci_testdev.mb.elf --status 35
  --out "^FAIL: no 1b36:0005 on bus 0$")
kvmrun_cmd_test(cli.pci_testdev_mmio --status 1 --err "--pci-testdev needs the PCI bus"
  CMD ${KVMRUN} run --kernel ${G}/pci_testdev.elf --transport mmio --pci-testdev)
# QEMU's edu behind the VT-d unit (guests/vtd_edu.c): registers, DMA untranslated and through
# second-level tables it builds (4 KiB and 2 MiB pages, faults recorded), and its MSI remapped
# through an IRTE to the vector and CPU the IRTE names (MSI-only remapping: KVM's IOAPIC).
kvmrun_guest_test(guest.vtd_edu.ir vtd_edu.elf ${PASS}
  --out "^edu: id 0x010000ed, liveness, 10! = 3628800$" --out "^edu: untranslated DMA both ways$"
  --out "^vtd: DMA through second-level tables both ways, 4 KiB and 2 MiB pages$"
  --out "^vtd: DMA to an unmapped IOVA and into a read-only page: nothing lands, faults recorded$"
  --out "^vtd: edu MSI remapped through IRTE 3 to vector 0x61 on APIC 1$"
  --out "^vtd: IRTE changed, IEC invalidated through the queue: vector 0x62 on APIC 0$"
  --out "^vtd: non-present IRTE: nothing delivered, fault 0x22 recorded$"
  ARGS --edu --iommu intel,intremap=msi --cpus 2 --memory 64M --append "vtd=1 ir=1")
# The split irqchip with intremap=on: the edu's INTx through a remappable IOAPIC entry too.
kvmrun_guest_test(guest.vtd_edu.split vtd_edu.elf ${PASS}
  --out "^vtd: edu MSI remapped through IRTE 3 to vector 0x61 on APIC 1$"
  --out "^vtd: edu INTx through IOAPIC pin 1[6-9] remapped by IRTE 0xa5 to vector 0x63 on APIC 1$"
  ARGS --edu --iommu intel,intremap=on --irqchip split --cpus 2 --memory 64M
  --append "vtd=1 ir=1 ioapic=1")
# Snapshot with translation, remapping (split irqchip) and the queue on; the restored VM goes on
# through them, the IOAPIC's remapped entry included.
set(VTD_SNAP ${CMAKE_CURRENT_BINARY_DIR}/vtd-edu-snapshot)
kvmrun_cmd_test(guest.vtd_edu.snapshot --needs-kvm ${PASS} --out "^snapshot: restored$"
  --out "^vtd: edu MSI remapped through IRTE 3 to vector 0x61 on APIC 1$"
  --out "^vtd: IRTE changed, IEC invalidated through the queue: vector 0x62 on APIC 0$"
  --out "^vtd: edu INTx through IOAPIC pin 1[6-9] remapped by IRTE 0xa5 to vector 0x63 on APIC 1$"
  CMD sh -c "rm -rf ${VTD_SNAP} && ${KVMRUN} run --kernel ${G}/vtd_edu.elf --edu --iommu intel,intremap=on --irqchip split --cpus 2 --memory 64M --append 'vtd=1 ir=1 ioapic=1 snap=1' --snapshot-dir ${VTD_SNAP} >/dev/null 2>&1 || true && exec ${KVMRUN} restore ${VTD_SNAP}")
kvmrun_guest_test(guest.vtd_edu.dma vtd_edu.mb.elf ${PASS}
  --out "^vtd: DMA through second-level tables both ways, 4 KiB and 2 MiB pages$"
  ARGS --edu --iommu intel --memory 64M --append vtd=1)
# Without the unit the same DMA goes to the IOVA as a physical address; without IR no IRTE.
kvmrun_guest_test(guest.vtd_edu.no_iommu vtd_edu.elf --status 35
  --out "^FAIL: DMA through VT-d: page B does not hold page A's bytes$"
  ARGS --edu --memory 64M --append vtd=1)
kvmrun_guest_test(guest.vtd_edu.no_ir vtd_edu.elf --status 35
  --out "^FAIL: vtd: no interrupt remapping in ECAP$"
  ARGS --edu --iommu intel --memory 64M --append "vtd=1 ir=1")
kvmrun_guest_test(guest.vtd_edu.absent vtd_edu.elf --status 35 --out "^FAIL: no 1234:11e8 on bus 0$")
kvmrun_cmd_test(cli.edu_mmio --status 1 --err "--edu needs --transport pci"
  CMD ${KVMRUN} run --kernel ${G}/vtd_edu.elf --transport mmio --edu)

# A CPU count that fw_cfg does not report fails too.
kvmrun_guest_test(guest.pcdevs.wrongcpus pcdevs.elf --status 35
  --out "^FAIL: fw_cfg says 2 CPUs, expected 3$" ARGS --cpus 2 --append expect_cpus=3)

# The CMOS clock shows the host's UTC date and keeps what the guest sets.
# S3: the RTC's UIP and alarm interrupt, then suspend to RAM and the alarm's wake at the FACS
# waking vector (the real-mode stub prints "woke"); without RTC_EN nothing wakes it.
foreach(v pvh mb)
  if(v STREQUAL "pvh")
    set(sfx .elf)
  else()
    set(sfx .mb.elf)
  endif()
  kvmrun_guest_test(guest.sleep.${v} sleep${sfx} --status 33 --out "^rtc: update-in-progress seen$"
    --out "^rtc: alarm irq 8, register C 0xb0$" --out "^sleeping until second" --out "^woke$")
endforeach()
kvmrun_guest_test(guest.sleep.no-wake sleep.elf --status 124 --out "^sleeping until second"
  --no-out "woke" ARGS --timeout 6 --append rtc_en=0)
kvmrun_guest_test(guest.sleep.no-vector sleep.elf --status 0 --out "^sleeping until second"
  --no-out "woke" --err "waking vector 0x0 is not in real mode's first MiB: the machine resets"
  ARGS --append vector=0)
# Asleep: query-status says suspended; cont, snapshot-save and migrate are refused with the reason.
add_test(NAME control.sleep COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/sleep_ctl.sh ${KVMRUN} ${G})
set_tests_properties(control.sleep PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS control)
add_test(NAME guest.rtc COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/rtc.sh ${RUN} ${KVMRUN}
  ${G}/rtc.elf)
set_tests_properties(guest.rtc PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS guest)

# --reboot restart boots the guest again after each reset, until --timeout (which spans all boots).
kvmrun_guest_test(guest.reset.restart reset.elf --status 124 --out-min "^resetting via kbd" 3
  ARGS --reboot restart --timeout 2)
kvmrun_cmd_test(cli.bad_reboot ${ONE_ERROR} --err "--reboot 'never'" CMD ${KVMRUN} run --kernel x --reboot never)

# Linux guests (tools/build-linux-guest.sh): kernel-level boot tests everywhere,
# the userspace test only where guest userspace can run (not on PVM hosts).
# Each runs alone (RUN_SERIAL): on a 2-CPU PVM host two 2-vCPU Linux guests
# side by side stalled for minutes in emulated kernel code (measured
# 2026-12-04 with this and the previous kvmrun alike), one alone boots in 70-90 s.
foreach(mode kunit-bzimage kunit-pvh kunit-split userspace)
  add_test(NAME linux.${mode}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux.sh ${RUN} ${KVMRUN} ${mode})
  set_tests_properties(linux.${mode} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS linux RUN_SERIAL TRUE)
endforeach()

# The CPUID model (KVM signature, topology) and an emulation failure reported with RIP and bytes.
kvmrun_guest_test(guest.cpuid cpuid.elf ${PASS} --out "signature=KVMKVMKVM"
  ARGS --cpus 3 --pvm on --append "pvm=1 expect_cpus=3")
add_test(NAME guest.emufail COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/emufail.sh ${RUN}
  ${KVMRUN} ${G}/emufail.elf)
set_tests_properties(guest.emufail PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS guest)

# Virtio devices driven by CPL3 drivers in test guests (guests/lib/virtio.c), on
# both transports; each test checks that the guest found its device on the
# transport asked for.  The multiboot variants cover the other boot path.
function(kvmrun_virtio_test name guest)
  kvmrun_guest_test(${name} ${guest} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS virtio)
endfunction()
function(virtio_blk_test name guest mode transport)
  add_test(NAME ${name} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/virtio_blk.sh
    ${RUN} ${KVMRUN} $<TARGET_FILE:blkimg> ${G}/${guest} ${mode} ${transport} ${ARGN})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS virtio)
endfunction()
foreach(t pci mmio)
  kvmrun_virtio_test(virtio.${t}.rng virtio_rng.elf ${PASS} --out "virtio-rng: 8192 bytes"
    --out "^virtio-rng: device on virtio-${t} " --out "^virtio-rng: reset 3 right after posting requests"
    ARGS --rng --transport ${t} --append reinit=4)
  virtio_blk_test(virtio.${t}.blk.rw virtio_blk.elf rw ${t})
  virtio_blk_test(virtio.${t}.blk.readonly virtio_blk.elf readonly ${t})
  virtio_blk_test(virtio.${t}.blk.direct-mq virtio_blk.elf direct-mq ${t})
  # The default engine is io_uring; the same checks on the other two.
  foreach(aio threads sync)
    foreach(mode rw readonly direct-mq)
      virtio_blk_test(virtio.${t}.blk.${mode}.${aio} virtio_blk.elf ${mode} ${t} ${aio})
    endforeach()
  endforeach()
  kvmrun_virtio_test(virtio.${t}.console virtio_console.elf ${PASS}
    --out "virtio-console got: ping from the host" --wait-for "hello from the guest"
    --out "^virtio-console: device on virtio-${t} "
    --input "ping from the host\\n" ARGS --virtio-console --timeout 60 --transport ${t})
  kvmrun_virtio_test(virtio.${t}.console-huge virtio_console.elf ${PASS}
    --out "^virtio-console: after the huge buffer" --wait-for "hello from the guest"
    --err "a 268435456-byte transmit buffer: only its first 1048576 bytes are written"
    --input "ping\\n" ARGS --virtio-console --memory 512M --timeout 60 --transport ${t}
    --append huge_tx=1)
  kvmrun_virtio_test(virtio.${t}.irq virtio_irq.elf ${PASS} --out "^virtio-irq: device on virtio-${t} "
    ARGS --rng --transport ${t} --timeout 60 --append transport=${t})
  if(t STREQUAL "pci")
    # MSI-X off: INTx through the IOAPIC (level, resample irqfd), ISR, Interrupt Disable.
    kvmrun_virtio_test(virtio.pci.intx virtio_irq.elf ${PASS}
      --out "^virtio-irq: 8 INTx interrupts on GSI 1[6-9] \\(pin A\\) for 8 requests"
      --out "^virtio-irq: INTx is level" --out "^virtio-irq: Interrupt Status follows the ISR"
      --out "^virtio-irq: Interrupt Disable holds INTx back"
      --err "virtio-rng: MSI-X is off, interrupts go out on INTx"
      ARGS -v --rng --transport pci --timeout 60 --append "transport=pci intx=1")
    # MSI-X through the VT-d unit's remapping wrapper: compatibility messages pass while IRE is off.
    kvmrun_virtio_test(virtio.pci.irq.iommu virtio_irq.elf ${PASS}
      --out "^virtio-irq: function mask: held, delivered on unmask$"
      ARGS --rng --iommu intel,intremap=msi --timeout 60 --append transport=pci)
  endif()
  if(t STREQUAL "pci")
    # ECAM against ports 0xCF8/0xCFC, extended space, writes; BAR 0 (64-bit) sized, moved
    # above 4 GiB into the 64-bit window (4 GiB with 256 MiB of RAM) and used there.
    kvmrun_virtio_test(pci.ecam-bar64 pci_ecam.elf ${PASS}
      --out "^pci-ecam: ECAM matches ports 0xCF8/0xCFC on all 32 slots"
      --out "^pci-ecam: writes through ECAM take effect"
      --out "^pci-ecam: BAR 0 is 64-bit, 0x8000 bytes at 0xc"
      --out "^pci-ecam: BAR 0 moved to 0x100100000 \\(64-bit window\\): 64 bytes of entropy"
      --out "^pci-ecam: BAR 0 over RAM decodes nowhere"
      --out "^pci-ecam: moved back to 0xc"
      --err "PCI windows 0xc0000000-0xdfffffff and 0x100000000-0x4ffffffff, ECAM at 0xe0000000"
      ARGS -v --rng --disk ${G}/pci_ecam.elf,readonly --transport pci --memory 256M --timeout 60
      --append win64=4294967296)
  endif()
  add_test(NAME virtio.${t}.net COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/virtio_net.sh
    ${RUN} ${KVMRUN} ${G}/virtio_net.elf ${t})
  set_tests_properties(virtio.${t}.net PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS virtio)
  # Rates counted on the host from the tap: alone, so that other tests do not slow the unlimited run.
  add_test(NAME ratelimit.${t}.net COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/net_ratelimit.sh
    ${KVMRUN} ${G}/virtio_net.elf ${t})
  set_tests_properties(ratelimit.${t}.net PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS "ratelimit;virtio"
    RUN_SERIAL TRUE)
  # virtio-fs: the script runs virtiofsd (vhost-user) beside kvmrun.
  add_test(NAME virtio.${t}.fs.check COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/virtio_fs.sh
    ${RUN} ${KVMRUN} ${G}/virtio_fs.elf ${t})
  set_tests_properties(virtio.${t}.fs.check PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS "virtio;vhost-user")
endforeach()
kvmrun_virtio_test(virtio.pci.rng.mb virtio_rng.mb.elf ${PASS} --out "virtio-rng: 8192 bytes"
  ARGS --rng)
# Disk rate limits, measured by the guest itself (tests/integration/blk_ratelimit.sh).
foreach(t pci mmio)
  add_test(NAME ratelimit.${t}.blk COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/blk_ratelimit.sh
    ${KVMRUN} ${G}/virtio_blk.elf $<TARGET_FILE:benchrun> ${t})
  # Alone: the caps are checked from below too, which a busy host can spoil.
  set_tests_properties(ratelimit.${t}.blk PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
    LABELS "virtio;ratelimit" RUN_SERIAL TRUE)
endforeach()
# vhost-user: real backends (qemu-storage-daemon, virtiofsd) the tests start themselves.
foreach(t pci mmio)
  foreach(mode check survive)
    add_test(NAME vhost-user.${t}.blk.${mode} COMMAND
      ${CMAKE_CURRENT_SOURCE_DIR}/integration/vhost_user_blk.sh ${RUN} ${KVMRUN}
      $<TARGET_FILE:blkimg> ${G}/virtio_blk.elf ${mode} ${t})
    set_tests_properties(vhost-user.${t}.blk.${mode} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
      LABELS "virtio;vhost-user")
  endforeach()
  foreach(mode rw readonly)
    add_test(NAME vhost-user.${t}.share.${mode} COMMAND
      ${CMAKE_CURRENT_SOURCE_DIR}/integration/share.sh ${RUN} ${KVMRUN} ${G}/virtio_fs.elf ${t} ${mode})
    set_tests_properties(vhost-user.${t}.share.${mode} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
      LABELS "virtio;vhost-user")
  endforeach()
  add_test(NAME vhost-user.${t}.share.snapshot COMMAND
    ${CMAKE_CURRENT_SOURCE_DIR}/integration/share.sh ${RUN} ${KVMRUN} ${G}/snapdev.elf ${t} snapshot)
  set_tests_properties(vhost-user.${t}.share.snapshot PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
    LABELS "virtio;vhost-user")
endforeach()
virtio_blk_test(virtio.pci.blk.rw.mb virtio_blk.mb.elf rw pci)
virtio_blk_test(virtio.mmio.blk.rw.mb virtio_blk.mb.elf rw mmio)
kvmrun_virtio_test(virtio.pci.rng.cpl0 virtio_rng.elf ${PASS} ARGS --rng --append cpl=0)
kvmrun_cmd_test(cli.disk_missing --needs-kvm ${ONE_ERROR} --err "--disk /nonexistent.img: No such file"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --disk /nonexistent.img)
kvmrun_cmd_test(cli.disk_bad_option ${ONE_ERROR} --err "--disk: unknown option 'bogus'"
  CMD ${KVMRUN} run --kernel x --disk img,bogus)
# Bad disk, initrd and network arguments: one line each, status 1, nothing run.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/empty.img "")
kvmrun_cmd_test(cli.disk_directory --needs-kvm ${ONE_ERROR} --err "--disk /: Is a directory"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --disk /)
kvmrun_cmd_test(cli.disk_empty --needs-kvm ${ONE_ERROR}
  --err "the image is smaller than one 512-byte sector"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --disk ${CMAKE_CURRENT_BINARY_DIR}/empty.img)
kvmrun_cmd_test(cli.disk_not_a_file --needs-kvm ${ONE_ERROR}
  --err "--disk /dev/null: not a regular file or block device"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --disk /dev/null)
kvmrun_cmd_test(cli.disk_too_many ${ONE_ERROR} --err "--disk: at most 4 disks"
  CMD ${KVMRUN} run --kernel x --disk a --disk b --disk c --disk d --disk e)
kvmrun_cmd_test(cli.disk_bad_queues ${ONE_ERROR} --err "num-queues '99': expected 1 to 16"
  CMD ${KVMRUN} run --kernel x --disk a,num-queues=99)
kvmrun_cmd_test(cli.initrd_missing --needs-kvm ${ONE_ERROR} --err "cannot open initrd"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --initrd /nonexistent.cpio)
kvmrun_cmd_test(cli.initrd_empty --needs-kvm ${ONE_ERROR} --err "initrd is not a regular, non-empty file"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --initrd ${CMAKE_CURRENT_BINARY_DIR}/empty.img)
kvmrun_cmd_test(cli.initrd_too_big --needs-kvm ${ONE_ERROR} --err "does not fit in low RAM"
  CMD sh -c "truncate -s 64M ${CMAKE_CURRENT_BINARY_DIR}/big.initrd && exec ${KVMRUN} run --kernel ${G}/hello.elf --memory 16M --initrd ${CMAKE_CURRENT_BINARY_DIR}/big.initrd")
kvmrun_cmd_test(cli.disk_bad_rate ${ONE_ERROR} --err "--disk: 'iops=lots': expected a number"
  CMD ${KVMRUN} run --kernel x --disk a,iops=lots)
kvmrun_cmd_test(cli.disk_bad_aio ${ONE_ERROR} --err "--disk: unknown option 'aio=posix'"
  CMD ${KVMRUN} run --kernel x --disk a,aio=posix)
kvmrun_cmd_test(cli.net_bad_rate ${ONE_ERROR} --err "--net: 'pps=-1': expected a number"
  CMD ${KVMRUN} run --kernel x --net tap=t0,pps=-1)
kvmrun_cmd_test(cli.net_bad_mac ${ONE_ERROR} --err "--net: mac 'zz': expected a unicast address"
  CMD ${KVMRUN} run --kernel x --net tap=t0,mac=zz)
kvmrun_cmd_test(cli.net_bad_option ${ONE_ERROR} --err "--net: unknown option 'bogus=1'"
  CMD ${KVMRUN} run --kernel x --net bogus=1)
kvmrun_cmd_test(cli.transport_bad ${ONE_ERROR} --err "--transport 'isa': expected mmio or pci"
  CMD ${KVMRUN} run --kernel x --transport isa)

# The seccomp sandbox: a forbidden system call from each kind of thread kills kvmrun.
add_test(NAME guest.seccomp COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/seccomp.sh ${RUN}
  ${KVMRUN} ${G}/virtio_rng.elf)
set_tests_properties(guest.seccomp PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS guest)
kvmrun_cmd_test(cli.seccomp_bad ${ONE_ERROR} --err "--seccomp 'maybe': expected on or off"
  CMD ${KVMRUN} run --kernel x --seccomp maybe)

# Hostile guests (issue 5): attacks on kvmrun from inside (guests/hostile*.c).  Each must
# leave kvmrun running and correct, the attacked disk working after a reset, another vCPU
# and the entropy device working throughout; kvmrun logs each broken device once (the
# counts below: one line per attack that leaves the disk needing a reset, nothing else).
# The disk is a 256 KiB image of "kvmrun-hostile!\n" lines, one per test.
string(REPEAT "kvmrun-hostile!\n" 16384 hostile_disk)
function(hostile_test name guest transport)
  cmake_parse_arguments(H "" "APPEND;DISKOPT" "" ${ARGN})
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${name}.img "${hostile_disk}")
  kvmrun_guest_test(${name} ${guest} ${PASS} --no-out "FAIL"
    --out "^hostile: [a-z]+: disk on virtio-${transport} " ${H_UNPARSED_ARGUMENTS}
    ARGS --rng --disk ${CMAKE_CURRENT_BINARY_DIR}/${name}.img${H_DISKOPT} --cpus 2 --transport ${transport} --timeout 60
    --append "transport=${transport} ${H_APPEND}")
  set_tests_properties(${name} PROPERTIES LABELS hostile)
endfunction()
set(NEEDS_RESET ". the device needs a reset$")  # "." for the ";" (a CMake list separator)
# BARs aimed at RAM, the LAPIC, ECAM, the IOAPIC, another device, past the windows; Interrupt
# Disable toggled under INTx; all-ones over ECAM (guests/hostile_pci.c).
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/hostile.pci.bars.img "${hostile_disk}")
kvmrun_guest_test(hostile.pci.bars hostile_pci.elf ${PASS} --no-out "FAIL"
  --out "^hostile: pci: 10 scenarios passed" --err-lines 0
  ARGS --rng --disk ${CMAKE_CURRENT_BINARY_DIR}/hostile.pci.bars.img --transport pci
  --memory 256M --timeout 60 --append win64=4294967296)
set_tests_properties(hostile.pci.bars PROPERTIES LABELS hostile)
foreach(t pci mmio)
  hostile_test(hostile.${t}.ring hostile_ring.elf ${t} --out "^hostile: ring: 48 scenarios passed"
    --err-count "malformed descriptor chain${NEEDS_RESET}" 30
    --err-count "request without header or status byte${NEEDS_RESET}" 3
    --err-count "impossible ring addresses or size${NEEDS_RESET}" 8 --err-lines 41)
  # The same attacks on a cache=none disk, whose reads and writes run on I/O threads.
  hostile_test(hostile.${t}.ring-direct hostile_ring.elf ${t} --out "^hostile: ring: 48 scenarios passed"
    --err-count "malformed descriptor chain${NEEDS_RESET}" 30
    --err-count "request without header or status byte${NEEDS_RESET}" 3
    --err-count "impossible ring addresses or size${NEEDS_RESET}" 8 --err-lines 41
    DISKOPT ",cache=none")
  # And on the engines that are not the default (io_uring): the I/O threads, the worker itself.
  foreach(aio threads sync)
    hostile_test(hostile.${t}.ring-${aio} hostile_ring.elf ${t} --out "^hostile: ring: 48 scenarios passed"
      --err-count "malformed descriptor chain${NEEDS_RESET}" 30
      --err-count "request without header or status byte${NEEDS_RESET}" 3
      --err-count "impossible ring addresses or size${NEEDS_RESET}" 8 --err-lines 41
      DISKOPT ",cache=none,aio=${aio}")
  endforeach()
  hostile_test(hostile.${t}.ports hostile_io.elf ${t} --out "^hostile: ports: 2 scenarios passed"
    --err-lines 0 APPEND only=ports)
endforeach()
hostile_test(hostile.pci.io hostile_io.elf pci --out "^hostile: io: 11 scenarios passed"
  --err-count "impossible ring addresses or size${NEEDS_RESET}" 2
  --err-count "DRIVER_OK without FEATURES_OK${NEEDS_RESET}" 3 --err-lines 5)
hostile_test(hostile.mmio.io hostile_io.elf mmio --out "^hostile: io: 9 scenarios passed"
  --err-count "impossible ring addresses or size${NEEDS_RESET}" 1
  --err-count "DRIVER_OK without FEATURES_OK${NEEDS_RESET}" 1 --err-lines 2)
# MSI-X exists on virtio-pci only.
hostile_test(hostile.pci.msix hostile_msix.elf pci --out "^hostile: msix: 5 scenarios passed"
  --err-count "malformed descriptor chain${NEEDS_RESET}" 2 --err-lines 2)

# virtio-net through a tap in a network namespace the test creates (root only).
foreach(t pci mmio pci-nomsi)
  add_test(NAME linux.dhcp-${t} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_dhcp.sh
    ${RUN} ${KVMRUN} ${t})
  set_tests_properties(linux.dhcp-${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 400 LABELS linux RUN_SERIAL TRUE)
endforeach()

# Linux's own virtio drivers on kvmrun's devices (tests/integration/linux_virtio.sh TRANSPORT
# MODE): ext4 root on virtio-blk, hvc0 on virtio-console, virtio-rng seeding the crng, all
# from the kernel log and the image, once per transport; the userspace variants need
# VT-x/AMD-V.
foreach(transport pci mmio)
  add_test(NAME linux.virtio-${transport} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_virtio.sh
    ${RUN} ${KVMRUN} $<TARGET_FILE:blkimg> ${transport} kernel)
  add_test(NAME linux.virtio-${transport}.userspace
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_virtio.sh
    ${RUN} ${KVMRUN} $<TARGET_FILE:blkimg> ${transport} userspace)
  set_tests_properties(linux.virtio-${transport} linux.virtio-${transport}.userspace PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS linux RUN_SERIAL TRUE)
endforeach()
# The same boot with pci=nomsi: every virtio-pci device on INTx, ECAM taken from MCFG.
add_test(NAME linux.virtio-pci.nomsi COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_virtio.sh
  ${RUN} ${KVMRUN} $<TARGET_FILE:blkimg> pci nomsi)
set_tests_properties(linux.virtio-pci.nomsi PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS linux RUN_SERIAL TRUE)
# Linux on vhost-user devices with the real backends (tests/integration/linux_vhost_user.sh):
# its root on virtio-fs (kvmrun --share starts virtiofsd) and on vhost-user-blk
# (qemu-storage-daemon); one transport each (the CPL3 tests cover both).
foreach(case "fs-root;pci" "blk-root;mmio" "fs-user;pci")
  list(GET case 0 mode)
  list(GET case 1 transport)
  add_test(NAME linux.vhost-user.${mode} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_vhost_user.sh
    ${RUN} ${KVMRUN} $<TARGET_FILE:blkimg> ${transport} ${mode})
  set_tests_properties(linux.vhost-user.${mode} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "linux;vhost-user" RUN_SERIAL TRUE)
endforeach()

# --irqchip split (issue 13): LAPICs in KVM, the IOAPIC in kvmrun (devices/ioapic.c), no PIC
# and no PIT.  The interrupt-using guests again, every line through the userspace IOAPIC: COM1's
# receive interrupt, pc-testdev's lines (edge; level with Remote IRR, EOI and mask), virtio-mmio
# (level), virtio-pci INTx (level, set directly: no resample irqfd) and MSI-X (irqfds), SMP, ACPI.
set(SPLIT --irqchip split)
kvmrun_guest_test(guest.split.serial.echo serial_echo.elf ${PASS} --out "^echo: ping from the host$"
  --wait-for "^ready" --input "ping from the host\\n" ARGS ${SPLIT} --append ioapic=1)
kvmrun_guest_test(guest.split.pcdevs.testdev pcdevs.mb.elf ${PASS} --out "^pc-testdev: irq line 10$"
  --out "^pc-testdev: level irq line 10, Remote IRR and mask$"
  ARGS ${SPLIT} --cpus 2 --pc-testdev --append "expect_cpus=2 testdev=1 nopit=1 level=1")
kvmrun_guest_test(guest.split.smp smp.elf ${PASS} --out "all 4 CPUs online"
  ARGS ${SPLIT} --cpus 4 --append expect_cpus=4)
kvmrun_guest_test(guest.split.acpi acpi.mb.elf --status 0 --out "acpi: 4 LAPICs, 1 IOAPIC" --no-out FAIL
  ARGS ${SPLIT} --cpus 4 --append "expect_cpus=4 expect_pic=0")
# The same guest on the default machine fails that check: the flag is really looked at.
kvmrun_guest_test(guest.split.acpi-check acpi.mb.elf --status 35
  --out "^FAIL: MADT flags 0x1, expected PCAT_COMPAT 0" ARGS --append expect_pic=0)
kvmrun_guest_test(guest.split.timer timer.elf ${PASS} --out "^no pit: port 0x40 reads 0xffff"
  --out "lapic timer: 10 interrupts" ARGS ${SPLIT} --append nopit=1)
foreach(t pci mmio)
  kvmrun_virtio_test(virtio.split.${t}.irq virtio_irq.elf ${PASS}
    --out "^virtio-irq: device on virtio-${t} "
    ARGS ${SPLIT} --rng --transport ${t} --timeout 60 --append transport=${t})
endforeach()
kvmrun_virtio_test(virtio.split.pci.intx virtio_irq.elf ${PASS}
  --out "^virtio-irq: 8 INTx interrupts on GSI 1[6-9] \\(pin A\\) for 8 requests"
  --out "^virtio-irq: INTx is level" --out "^virtio-irq: Interrupt Status follows the ISR"
  --out "^virtio-irq: Interrupt Disable holds INTx back"
  --err "no INTx irqfd for GSI 1[6-9] \\(Operation not supported\\): the line is set directly"
  ARGS -vv ${SPLIT} --rng --transport pci --timeout 60 --append "transport=pci intx=1")
kvmrun_cmd_test(cli.split.qemu-front --needs-kvm --status 33 --out "^PASS"
  CMD ${KVMRUN} qemu -kernel ${G}/hello.elf -M q35,kernel-irqchip=split -nodefaults -serial stdio
  -device isa-debug-exit,iobase=0xf4,iosize=4)
# Every x86 KVM since Linux 4.4 offers it, PVM included.
kvmrun_cmd_test(cli.split.info --needs-kvm --status 0
  --out "^split irqchip \\(--irqchip split\\): available$" CMD ${KVMRUN} info)
kvmrun_cmd_test(cli.split.qemu-front-off --status 1
  --err "-machine kernel-irqchip=off: unsupported \\(on and split are"
  CMD ${KVMRUN} qemu -kernel ${G}/hello.elf -M q35,kernel-irqchip=off)

# Snapshots, restores and live migration (issue 11; tests/integration/snapshot.py):
# the snapcount, dirtymem and snapdev guests across kvmrun processes.
kvmrun_guest_test(guest.snapcount.1 snapcount.elf ${PASS} --out "^seq 5 ticks 50 cpu0 [0-9]+$"
  ARGS --append lines=5)
kvmrun_guest_test(guest.snapcount.2 snapcount.mb.elf ${PASS} --out "^seq 5 ticks 50 cpu0 [0-9]+ cpu1 [0-9]+$"
  ARGS --cpus 2 --append "cpus=2 lines=5")
kvmrun_guest_test(guest.dirtymem dirtymem.elf ${PASS} --out "^pass 5 verified \\(64 MiB\\)" --no-out FAIL
  ARGS --cpus 2 --memory 128M --append "cpus=2 passes=5")
# The RAM checker must be able to fail: a bit flipped behind its back.
kvmrun_guest_test(guest.dirtymem.corrupt dirtymem.elf --status 35
  --out "^FAIL: page 5 \\(0x[0-9a-f]+\\) word 3 expected" --no-out "^pass 3 verified"
  ARGS --memory 128M --append "passes=5 corrupt_at=3")
set(SNAP ${CMAKE_CURRENT_SOURCE_DIR}/integration/snapshot.py ${KVMRUN} ${G})
add_test(NAME snapshot.cycles.1 COMMAND ${SNAP} cycles 1)
add_test(NAME snapshot.cycles.2 COMMAND ${SNAP} cycles 2)
add_test(NAME snapshot.guest-port.1 COMMAND ${SNAP} guest-port 1)
add_test(NAME snapshot.guest-port.2 COMMAND ${SNAP} guest-port 2)
add_test(NAME snapshot.guest-port.no-pit COMMAND ${SNAP} guest-port 1 no-pit)
add_test(NAME snapshot.guest-port.split COMMAND ${SNAP} guest-port 2 split)
add_test(NAME snapshot.migrate.split COMMAND ${SNAP} migrate unix split)
add_test(NAME snapshot.migrate.split-mismatch COMMAND ${SNAP} migrate unix split-mismatch)
add_test(NAME snapshot.refuse COMMAND ${SNAP} refuse)
add_test(NAME snapshot.migrate.unix COMMAND ${SNAP} migrate unix)
add_test(NAME snapshot.migrate.tcp COMMAND ${SNAP} migrate tcp)
add_test(NAME snapshot.migrate.dest-dies COMMAND ${SNAP} migrate-fail)
set(snap_tests snapshot.cycles.1 snapshot.cycles.2 snapshot.guest-port.1 snapshot.guest-port.2
  snapshot.guest-port.no-pit snapshot.guest-port.split snapshot.migrate.split
  snapshot.migrate.split-mismatch
  snapshot.refuse snapshot.migrate.unix snapshot.migrate.tcp snapshot.migrate.dest-dies)
foreach(t pci mmio)
  add_test(NAME snapshot.devices.${t} COMMAND ${SNAP} devices ${t})
  add_test(NAME snapshot.net.${t} COMMAND ${SNAP} net ${t})
  add_test(NAME snapshot.vhost-user-blk.${t} COMMAND ${SNAP} devices ${t} vhost-user)
  list(APPEND snap_tests snapshot.devices.${t} snapshot.net.${t} snapshot.vhost-user-blk.${t})
endforeach()
set_tests_properties(${snap_tests} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS snapshot)
# Linux snapshotted, and live-migrated, while KUnit runs; one boot each, alone.
foreach(mode snapshot migrate)
  add_test(NAME linux.${mode} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/linux_snapshot.sh
    ${RUN} ${KVMRUN} ${mode})
  set_tests_properties(linux.${mode} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "linux;snapshot"
    RUN_SERIAL TRUE)
endforeach()
# The control socket (QMP) against a running guest: commands, events, hostile clients,
# kvmrun ctl, the ACPI power button, socket file rules (tests/integration/control.py).
add_test(NAME control.qmp COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/control.py
  ${KVMRUN} ${G}/powerbtn.elf)
set_tests_properties(control.qmp PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS control)

# The QEMU-compatible front (src/qemu_args.c; its option table is tests/unit/test_qemu_args.c):
# one line for what it refuses, and test guests booted with QEMU's options, through
# 'kvmrun qemu' and through a qemu-system-x86_64 symlink.
set(QEMU_LINK ${CMAKE_CURRENT_BINARY_DIR}/qemu-bin/qemu-system-x86_64)
set(QEMU_DEBUG_EXIT -nodefaults -nographic -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -no-reboot)
string(REPLACE ";" " " QEMU_DEBUG_EXIT_SH "${QEMU_DEBUG_EXIT}")  # inside sh -c
kvmrun_cmd_test(cli.qemu_bogus ${ONE_ERROR}
  --err "^kvmrun: -bogus: unsupported option in kvmrun's QEMU-compatible mode" CMD ${KVMRUN} qemu -bogus)
kvmrun_cmd_test(cli.qemu_bad_device ${ONE_ERROR} --err "^kvmrun: -device e1000: unsupported device$"
  CMD ${KVMRUN} qemu -kernel x -device e1000)
# kvm-unit-tests' device line, through the front: pc-testdev, pci-testdev and fw_cfg as the guest reads them.
kvmrun_cmd_test(qemu.testdevs --needs-kvm ${PASS}
  --out "^fw_cfg: QEMU, 2 CPUs, 268435456 bytes$" --out "^pc-testdev: scratch ports$"
  --out "^pc-testdev: irq line 10$"
  CMD ${KVMRUN} qemu -kernel ${G}/pcdevs.elf ${QEMU_DEBUG_EXIT} -device pc-testdev -device pci-testdev
  -machine accel=kvm -smp 2 -m 256 -append "expect_cpus=2 expect_mem=268435456 testdev=1")
kvmrun_cmd_test(cli.qemu_version --status 0 --err-lines 0
  --out "^QEMU emulator version [0-9]+\\.[0-9]+\\.[0-9]+ \\(kvmrun [0-9.]+, QEMU-compatible mode\\)$"
  CMD sh -c "mkdir -p ${CMAKE_CURRENT_BINARY_DIR}/qemu-bin && ln -sf ${KVMRUN} ${QEMU_LINK} && exec ${QEMU_LINK} --version")
# kvm-unit-tests' intel_iommu line, less kernel-irqchip=split: edu and VT-d through the front.
kvmrun_cmd_test(qemu.vtd_edu --needs-kvm ${PASS}
  --out "^vtd: DMA through second-level tables both ways, 4 KiB and 2 MiB pages$"
  CMD ${KVMRUN} qemu -kernel ${G}/vtd_edu.elf ${QEMU_DEBUG_EXIT} -M q35
  -device intel-iommu,intremap=off,eim=off -device edu -smp 2 -m 64 -append vtd=1)
kvmrun_cmd_test(qemu.vtd_edu.split --needs-kvm ${PASS}
  --out "^vtd: edu INTx through IOAPIC pin 1[6-9] remapped by IRTE 0xa5 to vector 0x63 on APIC 1$"
  CMD ${KVMRUN} qemu -kernel ${G}/vtd_edu.elf ${QEMU_DEBUG_EXIT} -M q35,kernel-irqchip=split
  -device intel-iommu,intremap=on,eim=off -device edu -smp 2 -m 64 -append "vtd=1 ir=1 ioapic=1")
kvmrun_cmd_test(cli.qemu_intel_iommu_intremap ${ONE_ERROR}
  --err "^kvmrun: -device intel-iommu,intremap=on: needs -machine kernel-irqchip=split"
  CMD ${KVMRUN} qemu -kernel x -M q35 -device intel-iommu,intremap=on,eim=off -device edu)
kvmrun_cmd_test(cli.qemu_intel_iommu_bad ${ONE_ERROR}
  --err "^kvmrun: -device intel-iommu: unsupported option 'pt'$"
  CMD ${KVMRUN} qemu -kernel x -device intel-iommu,pt=on)
# kvm-unit-tests' runner greps -device '?' for the test devices before it runs anything.
kvmrun_cmd_test(cli.qemu_device_help --status 0 --out "^name \"pc-testdev\", bus ISA$"
  --out "^name \"pci-testdev\", bus PCI" CMD ${KVMRUN} qemu -device ?)
kvmrun_cmd_test(cli.qemu_help --status 0 --out "^usage: qemu-system-x86_64" --out "isa-debug-exit"
  CMD ${KVMRUN} qemu -help)
kvmrun_cmd_test(qemu.hello --needs-kvm ${PASS} --err-lines 0
  --out "^Hello from a kvmrun test guest \\(booted via pvh\\)$"
  CMD ${KVMRUN} qemu -kernel ${G}/hello.elf ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.symlink.hello --needs-kvm ${PASS} --err-lines 0
  --out "^Hello from a kvmrun test guest \\(booted via multiboot\\)$"
  CMD sh -c "mkdir -p ${CMAKE_CURRENT_BINARY_DIR}/qemu-bin && ln -sf ${KVMRUN} ${QEMU_LINK} && exec ${QEMU_LINK} -kernel ${G}/hello.mb.elf ${QEMU_DEBUG_EXIT_SH}")
# -smp, -m and -append reach the guest; -bios is noted with -v and skipped.
kvmrun_cmd_test(qemu.bootinfo --needs-kvm ${PASS} --err "-bios qboot.rom skipped"
  --out "^cmdline: \\[expect_mem=805306368 one\\]$"
  CMD ${KVMRUN} qemu -kernel ${G}/bootinfo.elf -m 768 -append "expect_mem=805306368 one" -v
  -bios qboot.rom ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.smp --needs-kvm ${PASS} --out "all 3 CPUs online"
  CMD ${KVMRUN} qemu -kernel ${G}/smp.elf -smp 3,sockets=1,cores=3 -append expect_cpus=3 ${QEMU_DEBUG_EXIT})
# A reset ends the run with status 0 under -no-reboot; without it the guest boots again, as under QEMU.
# kvm-unit-tests' -global: KVM's PIT without reinjection still ticks through the PIC.
kvmrun_cmd_test(qemu.timer.pit-discard --needs-kvm ${PASS} --out "pit via pic: 10 interrupts"
  CMD ${KVMRUN} qemu -kernel ${G}/timer.elf -global kvm-pit.lost_tick_policy=discard ${QEMU_DEBUG_EXIT})
# kvm-unit-tests' vmexit_ipi: -machine pit=off leaves ports 0x40-0x43 unclaimed (the -global then has no PIT).
kvmrun_cmd_test(qemu.timer.pit-off --needs-kvm ${PASS} --out "^no pit: port 0x40 reads 0xffff"
  CMD ${KVMRUN} qemu -kernel ${G}/timer.elf -global kvm-pit.lost_tick_policy=discard -machine accel=kvm
  -machine pit=off -append nopit=1 ${QEMU_DEBUG_EXIT})
# -cpu MODEL,+F/-F (kvm-unit-tests' vmexit_tscdeadline): the leaf 1 bits and what KVM's LAPIC then
# allows (x2APIC mode through IA32_APIC_BASE, the LVT timer's TSC-deadline mode); the check fails
# when the flag and the expectation disagree.
kvmrun_cmd_test(qemu.cpu.x2apic-on --needs-kvm ${PASS} --out "^tsc-deadline: on$"
  --out "^x2apic: on, id 0 through MSR 0x802$"
  CMD ${KVMRUN} qemu -kernel ${G}/cpuid.elf -cpu qemu64,+x2apic,+tsc-deadline -append "x2apic=1 tscdl=1"
  ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.cpu.x2apic-off --needs-kvm ${PASS} --out "^tsc-deadline: off$"
  --out "^x2apic: off, enabling it faults$"
  CMD ${KVMRUN} qemu -kernel ${G}/cpuid.elf -cpu qemu64,-x2apic,tsc_deadline=off
  -append "x2apic=0 tscdl=0" ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.cpu.check-fails --needs-kvm --status 35
  --out "^FAIL: leaf 1 ECX x2apic bit is 1, expected 0$"
  CMD ${KVMRUN} qemu -kernel ${G}/cpuid.elf -cpu max,+x2apic -append x2apic=0 ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(cli.qemu_cpu_vmx ${ONE_ERROR}
  --err "^kvmrun: -cpu: feature '\\+vmx' is not supported: kvmrun offers no nested virtualization$"
  CMD ${KVMRUN} qemu -kernel x -cpu max,+vmx)
kvmrun_cmd_test(cli.qemu_cpu_unknown ${ONE_ERROR}
  --err "^kvmrun: -cpu: feature 'vendor=GenuineIntel' is not supported \\(see"
  CMD ${KVMRUN} qemu -kernel x -cpu qemu64,+x2apic,vendor=GenuineIntel)
kvmrun_cmd_test(qemu.reset.no-reboot --needs-kvm --status 0 --out-min "^resetting via kbd" 1
  --no-out FAIL CMD ${KVMRUN} qemu -kernel ${G}/reset.elf -append mode=kbd ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.reset.reboot --needs-kvm --status 124 --out-min "^resetting via kbd" 3
  CMD timeout 3 ${KVMRUN} qemu -kernel ${G}/reset.elf -append mode=kbd -nographic)
kvmrun_cmd_test(qemu.poweroff --needs-kvm --status 0 --out "power off through PM1a_CNT"
  CMD ${KVMRUN} qemu -kernel ${G}/acpi.elf ${QEMU_DEBUG_EXIT})
# The machine type picks the transport: microvm's virtio-mmio, q35's virtio-pci.
kvmrun_cmd_test(qemu.microvm.rng --needs-kvm ${PASS} --out "^virtio-rng: device on virtio-mmio "
  CMD ${KVMRUN} qemu -M microvm,accel=kvm -kernel ${G}/virtio_rng.elf -device virtio-rng-device
  ${QEMU_DEBUG_EXIT})
kvmrun_cmd_test(qemu.q35.rng --needs-kvm ${PASS} --out "^virtio-rng: device on virtio-pci "
  CMD ${KVMRUN} qemu -M q35 -accel kvm -cpu host -kernel ${G}/virtio_rng.elf -device virtio-rng-pci
  ${QEMU_DEBUG_EXIT})
add_test(NAME qemu.pidfile COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/qemu_pidfile.sh ${KVMRUN} ${G})
set_tests_properties(qemu.pidfile PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
set_tests_properties(qemu.timer.pit-discard qemu.timer.pit-off qemu.cpu.x2apic-on qemu.cpu.x2apic-off
  qemu.cpu.check-fails qemu.pidfile qemu.hello qemu.symlink.hello qemu.bootinfo qemu.smp qemu.reset.no-reboot
  qemu.reset.reboot qemu.poweroff qemu.microvm.rng qemu.q35.rng PROPERTIES LABELS "guest;qemu")

# Linux's kunit.py drives kvmrun through the front on the Linux guest's KUnit kernel.
add_test(NAME linux.kunit-py COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/kunit_py.sh ${KVMRUN})
set_tests_properties(linux.kunit-py PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "linux;slow"
  RUN_SERIAL TRUE)

# VFIO (issue 14): one-line errors on a host without an IOMMU, passthrough where
# KVMRUN_VFIO_DEVICE names a device bound to vfio-pci (else guest.vfio skips).
kvmrun_cmd_test(cli.vfio_bad_address --status 1 --err-lines 1 --err "expected a PCI address"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --vfio 1:2:3)
kvmrun_cmd_test(cli.vfio_bad_option --status 1 --err-lines 1 --err "unknown option 'rom=yes' .known: rom=on"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --vfio 01:00.1,rom=yes)
kvmrun_cmd_test(cli.vfio_no_device --needs-kvm --status 1 --err-lines 1 --err "no such PCI device"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --timeout 10 --vfio 0000:7f:1f.7)
kvmrun_cmd_test(cli.vfio_mmio --status 1 --err-lines 1 --err "needs --transport pci"
  CMD ${KVMRUN} run --kernel ${G}/hello.elf --transport mmio --vfio 00:01.0)
add_test(NAME cli.vfio_errors COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/vfio_errors.sh
  ${RUN} ${KVMRUN} ${G}/hello.elf)
set_tests_properties(cli.vfio_errors PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS cli)
add_test(NAME guest.vfio COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/vfio.sh
  ${RUN} ${KVMRUN} ${G}/vfio.elf)
set_tests_properties(guest.vfio PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS guest)
