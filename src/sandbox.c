/*
 * seccomp-BPF allow-lists per thread role (see sandbox.h).  Each filter
 * checks the architecture, lets ioctl through only for its request numbers,
 * allows its syscalls and traps everything else (SECCOMP_RET_TRAP), so that
 * the SIGSYS handler can say which thread made which call before the
 * process dies.  Filters are per thread: a thread installs its own when its
 * set-up is done and never loosens it.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static bool active;
static __thread const char *thread_name;

/* Every thread: memory, locks, logging, signals, ending. */
#define COMMON_SYSCALLS \
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_futex, SYS_exit, SYS_exit_group, \
	SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_madvise, SYS_mmap, SYS_munmap, SYS_mprotect, \
	SYS_mremap, SYS_brk, SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep, \
	SYS_sched_yield, SYS_getpid, SYS_gettid, SYS_tgkill, SYS_restart_syscall, \
	SYS_newfstatat, SYS_fstat

/*
 * Sanitizer builds: what the ASan/UBSan runtimes call (reports read
 * /proc/self/maps, symbolizing may start a process).  Never in a normal
 * build.  The main thread stays unfiltered there (SANDBOX_MAIN_FILTERED):
 * LeakSanitizer's exit-time check runs on it and stops the world from a
 * cloned tracer task that would inherit the filter and die silently.
 */
#ifdef KVMRUN_SANITIZE
#define SANITIZER_SYSCALLS \
	SYS_sigaltstack, SYS_prctl, SYS_openat, SYS_readlink, SYS_readlinkat, SYS_getdents64, \
	SYS_clone, SYS_clone3, SYS_ptrace, SYS_wait4, SYS_waitid, SYS_sched_getaffinity, \
	SYS_pipe2, SYS_close, SYS_lseek, SYS_rt_sigaction, SYS_prlimit64, SYS_getppid, SYS_uname
#else
#define SANITIZER_SYSCALLS
#endif

/*
 * A vhost-user backend's socket (virtio/vhost_user.c): requests and replies
 * from whichever thread drives the device (a vCPU at DRIVER_OK or reset, the
 * worker, a pause), and dropping a backend.  Only the device's worker
 * connects again (socket, connect: device role).
 */
#define VHOST_USER_SYSCALLS \
	SYS_sendmsg, SYS_recvmsg, SYS_recvfrom, SYS_poll, SYS_ppoll, SYS_close

/*
 * A disk's io_uring (block/uring.c): submitting and waiting from whichever
 * thread drives the device (worker; vCPU at a reset; a pause).  The ring
 * only takes reads, writes and fsync on its registered disk.
 */
#define URING_SYSCALLS SYS_io_uring_enter

/*
 * A passed-through device (devices/vfio_pci.c): a vCPU's config and BAR
 * accesses read and write VFIO regions, enable interrupts, move BAR memory
 * slots; teardown and resets disable and unmap.  IOMMU_IOAS_UNMAP, from
 * iommufd.h, is missing from older UAPI headers.
 */
#define VFIO_IOCTLS \
	VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET, KVM_IRQFD, KVM_SET_USER_MEMORY_REGION
#define VFIO_TEARDOWN_IOCTLS \
	VFIO_IOMMU_UNMAP_DMA, _IO(';', 0x86) /* IOMMU_IOAS_UNMAP */

static const int vcpu_syscalls[] = {
	COMMON_SYSCALLS,
	SYS_ioctl,
	SYS_epoll_ctl,		/* virtio-net starts and stops watching its tap */
	SYS_pread64, SYS_pwrite64,	/* VFIO regions */
	VHOST_USER_SYSCALLS,
	URING_SYSCALLS,
	SANITIZER_SYSCALLS
};
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_TRANSLATE,
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_IRQ_LINE,		/* UART, i8042 and mmio lines */
	KVM_SET_GSI_ROUTING,	/* MSI-X vectors programmed */
	KVM_IOEVENTFD,		/* a BAR moved */
	TUNSETOFFLOAD,		/* virtio-net features accepted */
	VFIO_IOCTLS,
};

static const int device_syscalls[] = {
	COMMON_SYSCALLS,
	SYS_ioctl, SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl,
	SYS_preadv, SYS_pwritev, SYS_preadv2, SYS_pwritev2, SYS_pread64, SYS_pwrite64,
	SYS_fdatasync, SYS_fsync, SYS_fallocate, SYS_lseek,
	SYS_getrandom,		/* virtio-rng */
	SYS_timerfd_settime,	/* rate limits wait for tokens */
	VHOST_USER_SYSCALLS,
	URING_SYSCALLS,
	SYS_socket, SYS_connect,	/* a vhost-user backend that came back */
	SANITIZER_SYSCALLS
};
static const unsigned long device_ioctls[] = { KVM_IRQ_LINE, TUNSETOFFLOAD };

/* Writing a snapshot (snapshot.c): its directory and files, /proc/self/pagemap, an id. */
#define SNAPSHOT_SYSCALLS \
	SYS_mkdir, SYS_mkdirat, SYS_open, SYS_openat, SYS_close, SYS_pread64, SYS_pwrite64, \
	SYS_lseek, SYS_ftruncate, SYS_fsync, SYS_fdatasync, SYS_rename, SYS_renameat, \
	SYS_renameat2, SYS_unlink, SYS_unlinkat, SYS_getrandom

/* ...and reading what KVM holds for the VM and its vCPUs (vcpu_state.c). */
#define SNAPSHOT_IOCTLS \
	KVM_CHECK_EXTENSION, KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_SREGS2, KVM_GET_FPU, \
	KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_GET_XCRS, KVM_GET_LAPIC, KVM_GET_MSRS, \
	KVM_GET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_GET_DEBUGREGS, KVM_GET_TSC_KHZ, \
	KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK

static const int main_syscalls[] = {
	COMMON_SYSCALLS,
	SNAPSHOT_SYSCALLS,	/* the guest's snapshot requests are served here */
	SYS_ioctl, SYS_poll, SYS_ppoll, SYS_timerfd_settime, SYS_timerfd_gettime,
	SYS_epoll_ctl,
	SYS_rt_sigaction,	/* restoring signal dispositions */
	SYS_close, SYS_fsync, SYS_fdatasync,	/* teardown */
	VHOST_USER_SYSCALLS,	/* devices pause for a snapshot */
	URING_SYSCALLS,
	SYS_kill, SYS_wait4,	/* --share: virtiofsd stopped and reaped at exit */
	SANITIZER_SYSCALLS
};
static const unsigned long main_ioctls[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ,	/* the console */
	KVM_IRQ_LINE,			/* console input to the UART */
	KVM_IRQFD, KVM_IOEVENTFD,	/* teardown */
	VFIO_IOCTLS, VFIO_TEARDOWN_IOCTLS,
	SNAPSHOT_IOCTLS,
	KVM_SET_SREGS, KVM_SET_REGS, KVM_SET_MP_STATE,	/* S3 wake: vCPUs at the waking vector */
};

/* Waits for the stop, then for teardown; may restore the terminal and end the process. */
static const int watchdog_syscalls[] = {
	COMMON_SYSCALLS,
	SYS_ioctl, SYS_poll, SYS_ppoll,
	SANITIZER_SYSCALLS
};
static const unsigned long watchdog_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF };

/* A guest-output writer (sink.h): waits for room, writes. */
static const int sink_syscalls[] = {
	COMMON_SYSCALLS,
	SYS_poll, SYS_ppoll,
	SANITIZER_SYSCALLS
};

/*
 * The control socket's thread: its clients, the commands it runs (vm_pause
 * kicks vCPUs with tgkill; system_powerdown raises the SCI), snapshot-save
 * writing a directory, and the connection a migration starts from.
 */
static const int control_syscalls[] = {
	COMMON_SYSCALLS,
	SYS_ioctl, SYS_poll, SYS_ppoll, SYS_accept4, SYS_recvfrom, SYS_sendto, SYS_close,
	SYS_socket, SYS_connect,
	SYS_getrandom,		/* json-c seeds its hash tables */
	SNAPSHOT_SYSCALLS,	/* snapshot-save runs here */
	VHOST_USER_SYSCALLS,	/* stop and cont pause and resume devices */
	URING_SYSCALLS,
	SANITIZER_SYSCALLS
};
static const unsigned long control_ioctls[] = { KVM_IRQ_LINE, SNAPSHOT_IOCTLS };

/*
 * The migration thread (migrate.c): connects, reads KVM's dirty ring or log and
 * /proc/self/pagemap, pauses the VM, saves its state as a snapshot does.
 */
static const int migrate_syscalls[] = {
	COMMON_SYSCALLS,
	SNAPSHOT_SYSCALLS,
	SYS_ioctl, SYS_poll, SYS_ppoll, SYS_socket, SYS_connect, SYS_sendto, SYS_sendmsg,
	SYS_recvfrom, SYS_recvmsg, SYS_setsockopt, SYS_getsockopt, SYS_shutdown, SYS_fcntl,
	SYS_epoll_ctl,		/* devices pause and resume */
	VHOST_USER_SYSCALLS,
	URING_SYSCALLS,
	SANITIZER_SYSCALLS
};
static const unsigned long migrate_ioctls[] = {
	KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, KVM_SET_USER_MEMORY_REGION, KVM_ENABLE_CAP,
	KVM_RESET_DIRTY_RINGS,	/* the dirty ring's harvest */
	KVM_IRQ_LINE,		/* devices pause and resume */
	SNAPSHOT_IOCTLS,
};

static const struct role {
	const char *name;
	const int *syscalls;
	size_t nr_syscalls;
	const unsigned long *ioctls;
	size_t nr_ioctls;
} roles[SANDBOX_NR_ROLES] = {
	[SANDBOX_VCPU] = { "vcpu", vcpu_syscalls, ARRAY_SIZE(vcpu_syscalls),
			   vcpu_ioctls, ARRAY_SIZE(vcpu_ioctls) },
	[SANDBOX_DEVICE] = { "device", device_syscalls, ARRAY_SIZE(device_syscalls),
			     device_ioctls, ARRAY_SIZE(device_ioctls) },
	[SANDBOX_MAIN] = { "main", main_syscalls, ARRAY_SIZE(main_syscalls),
			   main_ioctls, ARRAY_SIZE(main_ioctls) },
	[SANDBOX_SINK] = { "sink", sink_syscalls, ARRAY_SIZE(sink_syscalls), NULL, 0 },
	[SANDBOX_WATCHDOG] = { "watchdog", watchdog_syscalls, ARRAY_SIZE(watchdog_syscalls),
			       watchdog_ioctls, ARRAY_SIZE(watchdog_ioctls) },
	[SANDBOX_CONTROL] = { "control", control_syscalls, ARRAY_SIZE(control_syscalls),
			      control_ioctls, ARRAY_SIZE(control_ioctls) },
	[SANDBOX_MIGRATE] = { "migrate", migrate_syscalls, ARRAY_SIZE(migrate_syscalls),
			      migrate_ioctls, ARRAY_SIZE(migrate_ioctls) },
};

const char *sandbox_role_name(enum sandbox_role role)
{
	return roles[role].name;
}

size_t sandbox_syscalls(enum sandbox_role role, const int **nrs)
{
	*nrs = roles[role].syscalls;
	return roles[role].nr_syscalls;
}

size_t sandbox_ioctls(enum sandbox_role role, const unsigned long **reqs)
{
	*reqs = roles[role].ioctls;
	return roles[role].nr_ioctls;
}

bool sandbox_on(void)
{
	return active;
}

/* ---- the SIGSYS report (async-signal-safe: no stdio, no malloc) ---- */

static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		b[at++] = *s++;
	return at;
}

static size_t put_num(char *b, size_t at, size_t cap, unsigned long v)
{
	char d[24];
	size_t n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(d));
	while (n && at + 1 < cap)
		b[at++] = d[--n];
	return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	size_t n = 0;

	(void)uc;
	n = put_str(msg, n, sizeof(msg), "kvmrun: fatal: seccomp: ");
	n = put_str(msg, n, sizeof(msg), thread_name ? thread_name : "a thread");
	n = put_str(msg, n, sizeof(msg), " made forbidden system call ");
	n = put_num(msg, n, sizeof(msg), (unsigned long)si->si_syscall);
	n = put_str(msg, n, sizeof(msg), " (see `ausyscall ");
	n = put_num(msg, n, sizeof(msg), (unsigned long)si->si_syscall);
	n = put_str(msg, n, sizeof(msg), "`); killed\n");
	if (write(STDERR_FILENO, msg, n) < 0)
		msg[0] = 0;
	/* SA_RESETHAND restored the default action and SA_NODEFER lets it through now. */
	raise(sig);
}

int sandbox_setup(bool on)
{
	struct sigaction sa;

	active = on;
	if (!on)
		return 0;
	/*
	 * Lazy file reads of glibc that would come after the filters: time zone
	 * data (gmtime_r's first call) and /proc/sys/vm/overcommit_memory (when a
	 * thread's own malloc arena shrinks: one arena means no such heaps).
	 */
	tzset();
	mallopt(M_ARENA_MAX, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;

		log_err("seccomp sandbox set-up: %s (--seccomp off runs without it)", strerror(e));
		return -e;
	}
	return 0;
}

/* ---- filters ---- */

#define MAX_INSNS	256

static void emit(struct sock_filter *p, unsigned *n, struct sock_filter ins)
{
	if (*n < MAX_INSNS)
		p[*n] = ins;
	(*n)++;
}

int sandbox_enter(enum sandbox_role role, const char *name)
{
	const struct role *r = &roles[role];
	struct sock_filter p[MAX_INSNS];
	struct sock_fprog prog;
	unsigned n = 0;

	if (!active)
		return 0;
	thread_name = name;
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, arch)));
	emit(p, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, nr)));
	/* ioctl: only the listed requests (the low 32 bits of argument 1). */
	emit(p, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0,
						 (uint8_t)(2 + 2 * r->nr_ioctls)));
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, args[1])));
	for (size_t i = 0; i < r->nr_ioctls; i++) {
		emit(p, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (uint32_t)r->ioctls[i], 0, 1));
		emit(p, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	}
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
	for (size_t i = 0; i < r->nr_syscalls; i++) {
		if (r->syscalls[i] == SYS_ioctl)
			continue;
		emit(p, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (uint32_t)r->syscalls[i], 0, 1));
		emit(p, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	}
	emit(p, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
	if (n > MAX_INSNS) {
		log_err("seccomp filter for %s does not fit", name);
		return -E2BIG;
	}
	prog.len = (unsigned short)n;
	prog.filter = p;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		int e = errno;

		log_err("%s: cannot enter the seccomp sandbox: %s (--seccomp off runs without it)",
			name, strerror(e));
		return -e;
	}
	log_debug("%s: seccomp filter on (%zu system calls, %zu ioctls)", name, r->nr_syscalls,
		  r->nr_ioctls);
	/*
	 * Test hook: KVMRUN_SECCOMP_SELFTEST=ROLE makes the first thread of that
	 * role try socket(2) (control, migrate, device: socketpair(2)), which it may not call:
	 * the process must die.
	 */
	const char *t = getenv("KVMRUN_SECCOMP_SELFTEST");

	if (t && !strcmp(t, r->name)) {
		/* These threads may open sockets: socketpair(2) there. */
		bool may_socket = role == SANDBOX_CONTROL || role == SANDBOX_MIGRATE ||
				  role == SANDBOX_DEVICE;
		const char *call = may_socket ? "socketpair" : "socket";
		int sv[2];

		log_warn("%s: KVMRUN_SECCOMP_SELFTEST: calling %s(2)", name, call);
		if (may_socket)
			syscall(SYS_socketpair, 1, 1, 0, sv);
		else
			syscall(SYS_socket, 2, 1, 0);
		log_err("%s: %s(2) returned under the sandbox", name, call);
	}
	return 0;
}
