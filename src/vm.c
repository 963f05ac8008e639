/* VM lifecycle: create, wire up devices and vCPUs, run the main loop, tear down. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvmrun/acpi.h"
#include "kvmrun/boot.h"
#include "kvmrun/console.h"
#include "kvmrun/cpuid.h"
#include "kvmrun/devices.h"
#include "kvmrun/ioapic.h"
#include "kvmrun/pci.h"
#include "kvmrun/log.h"
#include "kvmrun/reaper.h"
#include "kvmrun/migrate.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/vcpu_state.h"
#include "kvmrun/virtio_devices.h"
#include "kvmrun/vm.h"

static int vm_ioctl(struct vm *vm, unsigned long req, unsigned long arg, const char *what)
{
	if (ioctl(vm->fd, req, arg) < 0) {
		int e = errno;

		log_err("%s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

/* Wakes the main loop when the guest drained the UART's receive FIFO. */
void vm_console_rx_space(void *opaque)
{
	int *efd = opaque;
	uint64_t one = 1;

	if (write(*efd, &one, sizeof(one)) < 0) {
		/* Counter saturation only delays a wake-up that is already pending. */
	}
}

/*
 * The dirty ring, before any vCPU exists (KVM refuses it later).  Pages are
 * pushed only for slots that log dirty pages, which only a migration turns
 * on, so until then the ring costs its memory and nothing else.  Where it
 * cannot be enabled, migration uses the dirty bitmap.
 */
static void dirty_ring_enable(struct vm *vm)
{
	unsigned n = vm->host->dirty_ring_entries;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL };

	if (!n)
		return;
	/* The acquire/release variant where offered: the harvester orders its accesses either way. */
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) <= 0)
		cap.cap = KVM_CAP_DIRTY_LOG_RING;
	cap.args[0] = (uint64_t)n * sizeof(struct kvm_dirty_gfn);
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_warn("cannot enable KVM's dirty ring (%u entries per vCPU): %s; migration "
			 "will use the dirty bitmap", n, strerror(errno));
		return;
	}
	vm->dirty_ring_entries = n;
}

static void *pit_create_thread(void *arg)
{
	struct vm *vm = arg;
	struct kvm_pit_config pit = { .flags = 0 };

	vm->pit_err = vm_ioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
	if (!vm->pit_err && vm->cfg->pit_discard) {
		struct kvm_reinject_control rc = { .pit_reinject = 0 };

		vm->pit_err = vm_ioctl(vm, KVM_REINJECT_CONTROL, (unsigned long)&rc,
				       "KVM_REINJECT_CONTROL");
	}
	return NULL;
}

/*
 * KVM_CREATE_PIT2 starts a kernel thread and waits for it (about a
 * millisecond, more on a busy host): done on a thread of its own while the
 * kernel loads and the devices are built; vm_pit_wait joins it.
 */
static void pit_create_start(struct vm *vm)
{
	if (pthread_create(&vm->pit_thread, NULL, pit_create_thread, vm) == 0)
		vm->pit_pending = true;
	else
		pit_create_thread(vm);
}

int vm_pit_wait(struct vm *vm)
{
	if (vm->pit_pending) {
		pthread_join(vm->pit_thread, NULL);
		vm->pit_pending = false;
	}
	return vm->pit_err;
}

/*
 * --irqchip split: LAPICs in KVM, the IOAPIC in kvmrun (devices/ioapic.c),
 * no PIC and no PIT.  GSIs 0-23 are reserved for the IOAPIC's MSI routes,
 * which also tell KVM which vectors need KVM_EXIT_IOAPIC_EOI.
 */
static int split_irqchip_enable(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { IOAPIC_NR_PINS } };

	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) <= 0) {
		log_err("--irqchip split: this host's KVM offers no split irqchip "
			"(KVM_CAP_SPLIT_IRQCHIP); use --irqchip kernel");
		return -EOPNOTSUPP;
	}
	return vm_ioctl(vm, KVM_ENABLE_CAP, (unsigned long)&cap, "KVM_ENABLE_CAP (split irqchip)");
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct kvm_host *host)
{
	bool split = cfg->irqchip == IRQCHIP_SPLIT;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->cfg = cfg;
	vm->host = host;
	vm->mem.memfd = -1;
	vm->mem.backing_fd = -1;
	vm->rx_efd = -1;
	vm->snap_efd = -1;
	vm->sleep_efd = vm->rtc_efd = vm->rtc_tfd = -1;
	vm->sfd = -1;
	vm->reaper.sock = -1;
	device_list_init(&vm->devices);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->park_lock, NULL);
	pthread_cond_init(&vm->park_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	r = vm_stop_init(&vm->stop);
	if (!r)
		r = vm_migrate_create(vm);
	if (r)
		return r;
	vm->pvm = cfg->pvm == TRI_ON || (cfg->pvm == TRI_AUTO && host->backend == BACKEND_PVM);
	if (cfg->cpus > (unsigned)host->max_vcpus) {
		log_err("--cpus %u: this host allows at most %d vCPUs", cfg->cpus, host->max_vcpus);
		return -EINVAL;
	}

	do
		vm->fd = ioctl(host->fd, KVM_CREATE_VM, 0);
	while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0) {
		r = -errno;
		log_err("KVM_CREATE_VM: %s", strerror(-r));
		return r;
	}
	/* Before guest RAM exists: the fork copies little. */
	vm_reaper_start(&vm->reaper, vm->fd);
	dirty_ring_enable(vm);
	r = cfg->mem_file ? guest_mem_init_file(&vm->mem, cfg->mem_size, cfg->mem_shared,
						cfg->hugepages, cfg->mem_file) :
			    guest_mem_init(&vm->mem, cfg->mem_size, cfg->mem_shared, cfg->hugepages);
	if (r)
		return r;
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.region[i].host,
		};

		r = vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot,
			     "KVM_SET_USER_MEMORY_REGION");
		if (r)
			return r;
	}

	r = vm_ioctl(vm, KVM_SET_TSS_ADDR, KVM_TSS_ADDR, "KVM_SET_TSS_ADDR");
	if (!r) {
		uint64_t addr = KVM_IDENTITY_MAP_ADDR;

		r = vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&addr,
			     "KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (!r)
		r = split ? split_irqchip_enable(vm) :
			    vm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	/* --no-pit: ports 0x40-0x43 and 0x61 then reach kvmrun, where nothing claims them. */
	if (!r && !cfg->no_pit && !split)
		pit_create_start(vm);
	if (!r)
		r = split ? kvm_irq_init_split(&vm->kvm_irq, vm->fd) :
			    kvm_irq_init(&vm->kvm_irq, vm->fd);
	if (r)
		return r;
	vm->irq = kvm_irq_ops_for(&vm->kvm_irq);
	kvm_memslots_init(&vm->memslots, vm->fd, vm->mem.nr_regions);
	vm->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->snap_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->sleep_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rtc_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rtc_tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->rx_efd < 0 || vm->snap_efd < 0 || vm->sleep_efd < 0 || vm->rtc_efd < 0 ||
	    vm->rtc_tfd < 0) {
		r = -errno;
		log_err("eventfd: %s", strerror(-r));
		return r;
	}

	vm->cpuid = cpuid_model_create(host->fd, vm->pvm, cfg->cpu_on, cfg->cpu_off);
	if (!vm->cpuid)
		return -ENOMEM;
	vm->msr_list = vcpu_state_msr_list(host->fd);
	return vm->msr_list ? 0 : -EINVAL;
}

/*
 * LINT0 delivers the legacy PIC (ExtINT), LINT1 NMIs, as firmware leaves
 * them; without a PIC (split irqchip) LINT0 stays masked.
 */
#define APIC_LVT0	0x350
#define APIC_LVT1	0x360
#define APIC_MODE_NMI		0x400
#define APIC_MODE_EXTINT	0x700

static int set_lint(struct vcpu *vcpu, bool pic)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&v, &lapic.regs[APIC_LVT0], 4);
	v = pic ? (v & ~0x700u & ~0x10000u) | APIC_MODE_EXTINT : v | 0x10000u;
	memcpy(&lapic.regs[APIC_LVT0], &v, 4);
	memcpy(&v, &lapic.regs[APIC_LVT1], 4);
	v = (v & ~0x700u & ~0x10000u) | APIC_MODE_NMI;
	memcpy(&lapic.regs[APIC_LVT1], &v, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned id)
{
	size_t cpuid_size = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *cpuid;
	struct kvm_fpu fpu;
	void *run;
	int r;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		r = -errno;
		log_err("KVM_CREATE_VCPU %u: %s", id, strerror(-r));
		return r;
	}
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (run == MAP_FAILED) {
		r = -errno;
		log_err("vcpu%u: mmap of kvm_run: %s", id, strerror(-r));
		return r;
	}
	vcpu->run = run;
	if (vm->dirty_ring_entries) {
		size_t len = (size_t)vm->dirty_ring_entries * sizeof(struct kvm_dirty_gfn);
		void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
				  KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));

		if (ring == MAP_FAILED) {
			r = -errno;
			log_err("vcpu%u: mmap of the dirty ring: %s", id, strerror(-r));
			return r;
		}
		vcpu->ring = ring;
	}

	cpuid = malloc(cpuid_size);
	if (!cpuid)
		return -ENOMEM;
	memcpy(cpuid, vm->cpuid, cpuid_size);
	cpuid_set_topology(cpuid, id, vm->nr_vcpus);
	r = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	vcpu->cpuid = cpuid;
	if (r) {
		log_err("vcpu%u: KVM_SET_CPUID2: %s", id, strerror(-r));
		return r;
	}
	r = set_lint(vcpu, vm->cfg->irqchip != IRQCHIP_SPLIT);
	if (r) {
		log_err("vcpu%u: LAPIC set-up: %s", id, strerror(-r));
		return r;
	}
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;	/* x87 state after FNINIT */
	fpu.mxcsr = 0x1f80;	/* all SSE exceptions masked */
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
		r = -errno;
		log_err("vcpu%u: KVM_SET_FPU: %s", id, strerror(-r));
		return r;
	}
	return 0;
}

int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry)
{
	int mmap_size, r;

	/* The machine is whole before any vCPU exists (and a snapshot's PIT state has its PIT). */
	r = vm_pit_wait(vm);
	if (r)
		return r;
	mmap_size = ioctl(vm->host->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EINVAL;
	}
	vm->run_size = (size_t)mmap_size;
	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	vm->nr_vcpus = vm->cfg->cpus;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_create(vm, &vm->vcpus[i], i);
		if (r)
			return r;
	}
	/* A restore sets every register itself (vcpu_state.h). */
	if (!entry)
		return 0;
	/* The others wait in the in-kernel LAPIC for INIT/SIPI from the guest. */
	r = vcpu_setup_boot_regs(&vm->vcpus[0], entry);
	if (r)
		log_err("vcpu0: boot register set-up: %s", strerror(-r));
	return r;
}

void vm_outputs_destroy(struct vm *vm)
{
	/* What the devices wrote is flushed, for a bounded time (sink.h). */
	for (unsigned i = 0; i < VM_NR_OUTS; i++) {
		if (!vm->out[i].used)
			continue;
		out_sink_destroy(&vm->out[i].sink);
		if (vm->out[i].fd > STDERR_FILENO)
			close(vm->out[i].fd);
		vm->out[i].used = false;
	}
}

void vm_destroy(struct vm *vm)
{
	vm_pit_wait(vm);
	vm_migrate_destroy(vm);
	for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->ring)
			munmap(v->ring, (size_t)vm->dirty_ring_entries * sizeof(*v->ring));
		if (v->fd >= 0)
			close(v->fd);
		free(v->cpuid);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	/* Device workers stop before the memory and the VM they use go away. */
	device_list_destroy(&vm->devices);
	vm_outputs_destroy(vm);
	vm->serial = NULL;
	vm->vconsole = NULL;
	vm->pci = NULL;
	if (vm->rx_efd >= 0)
		close(vm->rx_efd);
	vm->rx_efd = -1;
	if (vm->snap_efd >= 0)
		close(vm->snap_efd);
	vm->snap_efd = -1;
	if (vm->sleep_efd >= 0)
		close(vm->sleep_efd);
	if (vm->rtc_efd >= 0)
		close(vm->rtc_efd);
	if (vm->rtc_tfd >= 0)
		close(vm->rtc_tfd);
	vm->sleep_efd = vm->rtc_efd = vm->rtc_tfd = -1;
	vm->snapshot_port = NULL;
	free(vm->cpuid);
	free(vm->msr_list);
	vm->msr_list = NULL;
	kvm_irq_destroy(&vm->kvm_irq);
	guest_mem_destroy(&vm->mem);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	vm_reaper_release(&vm->reaper);
	/* Teardown is over: the watchdog no longer needs to cut it short. */
	stop_watchdog_finish(&vm->watchdog);
	if (vm->sfd >= 0)
		close(vm->sfd);
	vm->sfd = -1;
	vm_stop_destroy(&vm->stop);
	pthread_cond_destroy(&vm->park_cond);
	pthread_mutex_destroy(&vm->park_lock);
	pthread_mutex_destroy(&vm->pause_lock);
}

static void emit(struct vm *vm, const char *event, const char *data)
{
	if (vm->events.emit)
		vm->events.emit(vm->events.opaque, event, data);
}

/* Parks the vCPUs and quiesces the devices; pause_lock held. */
static int pause_locked(struct vm *vm)
{
	struct timespec ts;

	atomic_store(&vm->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run)
			vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->park_lock);
	while (vm->parked < vm->running && !vm_stop_requested(&vm->stop)) {
		/* A stop does not signal park_cond: look again every few milliseconds. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->park_cond, &vm->park_lock, &ts);
	}
	pthread_mutex_unlock(&vm->park_lock);
	if (vm_stop_requested(&vm->stop))
		return -ESHUTDOWN;
	device_list_pause(&vm->devices);
	for (unsigned i = 0; i < VM_NR_OUTS; i++)
		if (vm->out[i].used)
			out_sink_drain(&vm->out[i].sink, SINK_FLUSH_MS);
	atomic_store(&vm->paused, true);
	return 0;
}

/* vm_pause, and with hold vm_pause_hold. */
static int pause_vm(struct vm *vm, bool hold)
{
	int r = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (!atomic_load(&vm->paused)) {
		r = vm_stop_requested(&vm->stop) ? -ESHUTDOWN : pause_locked(vm);
		if (!r)
			emit(vm, "STOP", NULL);
	}
	if (!r && hold)
		vm->holds++;
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

int vm_pause(struct vm *vm)
{
	return pause_vm(vm, false);
}

int vm_pause_hold(struct vm *vm)
{
	return pause_vm(vm, true);
}

static int resume_locked(struct vm *vm);

void vm_release(struct vm *vm, bool resume)
{
	bool resumed = false;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->holds)
		vm->holds--;
	if (resume && !vm->holds && atomic_load(&vm->paused) && !vm_stop_requested(&vm->stop))
		resumed = !resume_locked(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	if (resumed)
		emit(vm, "RESUME", NULL);
}

int vm_resume(struct vm *vm)
{
	int r;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm_stop_requested(&vm->stop))
		r = -ESHUTDOWN;
	else if (vm->holds || atomic_load(&vm->asleep))
		r = -EBUSY;	/* a sleeping guest wakes by its RTC alarm, at its waking vector */
	else if (!atomic_load(&vm->paused))
		r = 0;
	else if (!(r = resume_locked(vm)))
		r = 1;
	pthread_mutex_unlock(&vm->pause_lock);
	if (r == 1)
		emit(vm, "RESUME", NULL);
	return r < 0 ? r : 0;
}

/* Devices, then vCPUs, go again; pause_lock held.  0. */
static int resume_locked(struct vm *vm)
{
	uint64_t one = 1;

	device_list_resume(&vm->devices);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->park_lock);
	atomic_store(&vm->pause_req, false);
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->park_cond);
	pthread_mutex_unlock(&vm->park_lock);
	/* Console input held back while paused goes in now. */
	if (vm->rx_efd >= 0 && write(vm->rx_efd, &one, sizeof(one)) < 0) {
		/* Saturated: a wake-up is pending anyway. */
	}
	return 0;
}

bool vm_is_paused(struct vm *vm)
{
	return atomic_load(&vm->paused);
}

/* QMP's SHUTDOWN / RESET reasons. */
static void emit_end(struct vm *vm)
{
	static const char *const reason[] = {
		[STOP_NONE] = "none", [STOP_POWEROFF] = "guest-shutdown",
		[STOP_RESET] = "guest-reset", [STOP_DEBUG_EXIT] = "guest-shutdown",
		[STOP_TIMEOUT] = "host-error", [STOP_SIGNAL] = "host-signal",
		[STOP_USER] = "host-qmp-quit", [STOP_ERROR] = "host-error",
		[STOP_MIGRATED] = "host-qmp-quit",
	};
	enum stop_reason r = vm->stop.reason;
	bool guest = r == STOP_POWEROFF || r == STOP_RESET || r == STOP_DEBUG_EXIT;
	char data[96];

	snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": \"%s\"}",
		 guest ? "true" : "false", reason[r]);
	emit(vm, r == STOP_RESET ? "RESET" : "SHUTDOWN", data);
}

static void noop_handler(int sig)
{
	(void)sig;
}

static int exit_status(const struct vm_stop *s)
{
	switch (s->reason) {
	case STOP_POWEROFF:
	case STOP_RESET:
	case STOP_USER:
	case STOP_MIGRATED:
		return EXIT_GUEST_OFF;
	case STOP_DEBUG_EXIT:
	case STOP_SIGNAL:
		return s->status;
	case STOP_TIMEOUT:
		return EXIT_TIMEOUT;
	case STOP_NONE:
	case STOP_ERROR:
		break;
	}
	return EXIT_VMM_ERROR;
}

/* The --timeout deadline is absolute, so that it spans every boot under --reboot restart. */
static int arm_timeout(const struct timespec *deadline)
{
	struct itimerspec its = { .it_value = *deadline };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

struct input {
	uint8_t buf[256];
	size_t off, len;
	bool eof;
};

/* Feeds buffered console input to the console device as far as it takes it. */
static void input_flush(struct vm *vm, struct input *in)
{
	/* A paused machine holds still: the input waits for vm_resume's wake-up. */
	if (vm_is_paused(vm))
		return;
	if (vm->vconsole)
		in->off += virtio_console_input(vm->vconsole, in->buf + in->off, in->len - in->off);
	else
		in->off += serial8250_rx_push(vm->serial, in->buf + in->off, in->len - in->off);
	if (in->off == in->len)
		in->off = in->len = 0;
}

static void input_read(struct vm *vm, struct console *con, struct input *in)
{
	uint8_t raw[sizeof(in->buf)];
	bool quit = false;
	ssize_t n = read(con->fd, raw, sizeof(raw));

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			in->eof = true;
		return;
	}
	if (con->raw) {
		in->len = console_filter(con, raw, (size_t)n, in->buf, &quit);
	} else {
		memcpy(in->buf, raw, (size_t)n);
		in->len = (size_t)n;
	}
	in->off = 0;
	if (quit)
		vm_stop_request(&vm->stop, STOP_USER, EXIT_GUEST_OFF);
	input_flush(vm, in);
}

void vm_snapshot_requested(void *opaque)
{
	struct vm *vm = opaque;
	uint64_t one = 1;

	/* Every vCPU, the writer included, parks once KVM completed its exit. */
	atomic_store(&vm->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (write(vm->snap_efd, &one, sizeof(one)) < 0) {
		/* Saturated: a request is pending anyway. */
	}
}

/* The guest's snapshot request, on the main thread. */
static void guest_snapshot(struct vm *vm)
{
	char err[512];
	uint64_t v;
	int r;

	if (read(vm->snap_efd, &v, sizeof(v)) < 0)
		return;
	bool was_paused = vm_is_paused(vm);

	/* Paused until the answer is in the port: the guest's next read must see it. */
	r = vm_snapshot_save(vm, vm->cfg->snapshot_dir, true, err, sizeof(err));
	if (r)
		log_err("guest-requested snapshot: %s", err);
	else
		log_info("guest-requested snapshot written to %s", vm->cfg->snapshot_dir);
	snapshot_port_done(vm->snapshot_port, r == 0);
	if (!was_paused)
		vm_resume(vm);
}

enum {
	PFD_STOP, PFD_SIGNAL, PFD_TIMER, PFD_RXSPACE, PFD_STDIN, PFD_SNAPSHOT, PFD_SLEEP,
	PFD_RTC_MOVED, PFD_RTC_TIMER, PFD_NR
};

static void main_loop(struct vm *vm, int sfd, int tfd, int rx_efd, struct console *con)
{
	/* Console input goes to the virtio console when there is one, else to COM1 on stdio. */
	struct input in = { .eof = !vm->vconsole && vm->cfg->serial != SERIAL_STDIO };
	struct pollfd pfd[PFD_NR];

	while (!vm_stop_requested(&vm->stop)) {
		uint64_t v;

		pfd[PFD_STOP] = (struct pollfd){ vm->stop.efd, POLLIN, 0 };
		pfd[PFD_SIGNAL] = (struct pollfd){ sfd, POLLIN, 0 };
		pfd[PFD_TIMER] = (struct pollfd){ tfd, POLLIN, 0 };
		pfd[PFD_RXSPACE] = (struct pollfd){ in.len ? rx_efd : -1, POLLIN, 0 };
		pfd[PFD_STDIN] = (struct pollfd){ (in.len || in.eof) ? -1 : con->fd, POLLIN, 0 };
		pfd[PFD_SNAPSHOT] = (struct pollfd){ vm->snap_efd, POLLIN, 0 };
		pfd[PFD_SLEEP] = (struct pollfd){ vm->sleep_efd, POLLIN, 0 };
		pfd[PFD_RTC_MOVED] = (struct pollfd){ vm->rtc_efd, POLLIN, 0 };
		pfd[PFD_RTC_TIMER] = (struct pollfd){ vm->rtc_tfd, POLLIN, 0 };
		if (poll(pfd, PFD_NR, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			vm_stop_request(&vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
			break;
		}
		if (pfd[PFD_SIGNAL].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("stopping on signal %u", si.ssi_signo);
				vm_stop_request(&vm->stop, STOP_SIGNAL, 128 + (int)si.ssi_signo);
			}
		}
		if (pfd[PFD_TIMER].revents & POLLIN) {
			log_warn("timeout: the guest ran for %g s; stopped", vm->cfg->timeout);
			vm_stop_request(&vm->stop, STOP_TIMEOUT, EXIT_TIMEOUT);
		}
		if (pfd[PFD_RXSPACE].revents & POLLIN) {
			if (read(rx_efd, &v, sizeof(v)) < 0) {
				/* Spurious wake-up: the flush below is harmless. */
			}
			input_flush(vm, &in);
		}
		if (pfd[PFD_STDIN].revents & (POLLIN | POLLHUP | POLLERR))
			input_read(vm, con, &in);
		if (pfd[PFD_SNAPSHOT].revents & POLLIN)
			guest_snapshot(vm);
		if (pfd[PFD_SLEEP].revents & POLLIN)
			vm_sleep_enter(vm);
		if (pfd[PFD_RTC_MOVED].revents & POLLIN)
			vm_rtc_event(vm, false);
		if (pfd[PFD_RTC_TIMER].revents & POLLIN)
			vm_rtc_event(vm, true);
	}
}

void vm_block_signals(void)
{
	struct sigaction sa = { .sa_handler = noop_handler };
	sigset_t block;

	/* Signals go to the main loop through a signalfd; SIGUSR1 only kicks vCPUs. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * A background job (timeout(1) runs its command in a process group of
	 * its own) that reads its terminal gets SIGTTIN and stops; a stopped
	 * kvmrun would never see the signal meant to end it.  Ignored, the read
	 * fails with EIO (console input ends) and output goes on.
	 */
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
}

int vm_run(struct vm *vm)
{
	sigset_t block;
	int tfd = -1, r;
	int status = EXIT_VMM_ERROR;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	vm->sfd = signalfd(-1, &block, SFD_CLOEXEC);
	if (vm->sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto out;
	}
	console_init(&vm->con, STDIN_FILENO);
	if (vm->cfg->serial != SERIAL_STDIO && !vm->vconsole)
		console_restore(&vm->con);
	r = stop_watchdog_start(&vm->watchdog, &vm->stop, vm->sfd, &vm->con, exit_status);
	if (r) {
		log_err("cannot start the stop watchdog: %s", strerror(-r));
		goto out;
	}
	if (vm->deadline.tv_sec || vm->deadline.tv_nsec) {
		tfd = arm_timeout(&vm->deadline);
		if (tfd < 0) {
			log_err("timerfd: %s", strerror(-tfd));
			goto out;
		}
	}
	for (unsigned i = 0; i < VM_NR_OUTS; i++) {
		r = vm->out[i].used ? out_sink_start(&vm->out[i].sink) : 0;
		if (r) {
			log_err("cannot start the %s writer: %s", vm->out[i].sink.name, strerror(-r));
			goto out;
		}
	}
	r = device_list_start(&vm->devices);
	if (r) {
		log_err("starting the devices: %s", strerror(-r));
		goto out;
	}
	if (vm->start_paused) {
		pthread_mutex_lock(&vm->pause_lock);
		r = pause_locked(vm);
		pthread_mutex_unlock(&vm->pause_lock);
		if (r)
			goto out;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		pthread_mutex_lock(&vm->park_lock);
		vm->running++;
		pthread_mutex_unlock(&vm->park_lock);
		r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r) {
			log_err("cannot start vcpu%u thread: %s", i, strerror(r));
			pthread_mutex_lock(&vm->park_lock);
			vm->running--;
			pthread_mutex_unlock(&vm->park_lock);
			vm_stop_request(&vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
			break;
		}
		vm->vcpus[i].thread_started = true;
	}
	/* Its thread is created now, while the main thread may still create threads. */
	r = vm_migrate_thread_start(vm);
	if (r)
		log_warn("no live migration for this VM: cannot start its thread: %s", strerror(-r));
	/*
	 * Every thread is up: the main thread's own filter.  Under --reboot
	 * restart it must build the next VM, so it stays unfiltered there (and
	 * in sanitizer builds, see sandbox.h).
	 */
	if (SANDBOX_MAIN_FILTERED && !vm->cfg->reboot_restart && sandbox_enter(SANDBOX_MAIN, "main"))
		vm_stop_request(&vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
	/* A restored RTC may have an alarm set: its timer starts now. */
	vm_rtc_event(vm, false);
	main_loop(vm, vm->sfd, tfd, vm->rx_efd, &vm->con);
	/* A migration under way notices the stop, resumes nothing, and its thread ends. */
	vm_migrate_stop(vm);
	emit_end(vm);
	/* Long device work is abandoned first: a vCPU may be waiting for a device's lock. */
	device_list_stop(&vm->devices);
	pthread_mutex_lock(&vm->park_lock);
	pthread_cond_broadcast(&vm->park_cond);	/* parked vCPUs see the stop */
	pthread_mutex_unlock(&vm->park_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	console_restore(&vm->con);
	status = exit_status(&vm->stop);
	log_info("%s: exit status %d", stop_reason_name(vm->stop.reason), status);
out:
	if (tfd >= 0)
		close(tfd);
	return status;
}
