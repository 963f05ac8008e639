#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kvmrun/boot.h"
#include "kvmrun/clock.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/builder.h"
#include "kvmrun/config.h"
#include "kvmrun/control.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/share.h"
#include "kvmrun/migrate.h"
#include "kvmrun/qemu_args.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/vfio.h"
#include "kvmrun/vm.h"

static int cmd_info(void)
{
	struct kvm_host host;

	if (kvm_host_open(&host))
		return EXIT_VMM_ERROR;
	printf("kvmrun %s\n", KVMRUN_VERSION);
	printf("KVM API version: %d\n", host.api_version);
	printf("backend: %s\n", kvm_backend_name(host.backend));
	if (host.backend == BACKEND_PVM)
		printf("  guest user mode (CPL3) runs natively; guest kernel code is emulated and\n"
		       "  PVM workarounds are on (CPUID model, int3/fwait fix-ups); a guest that\n"
		       "  is not PVM-aware cannot run user space here\n"
		       "pvm linux args: %s\n", PVM_LINUX_ARGS);
	printf("vCPUs: %d recommended, %d max (kvmrun: %d max)\n", host.nr_vcpus,
	       host.max_vcpus, CPUS_MAX);
	if (host.dirty_ring_entries)
		printf("migration dirty tracking: ring (%u entries per vCPU)\n",
		       host.dirty_ring_entries);
	else
		printf("migration dirty tracking: bitmap (%s)\n", host.dirty_ring_max ?
		       "PVM's dirty ring misses pages its emulator writes" : "no dirty ring on this host");
	printf("VFIO passthrough: %s\n", vfio_iface_name(vfio_host_probe("/dev")));
	printf("split irqchip (--irqchip split): %s\n",
	       ioctl(host.fd, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) > 0 ? "available" :
	       "not offered (KVM_CAP_SPLIT_IRQCHIP)");
	printf("capabilities used:");
	for (unsigned i = 0; i < kvm_nr_required_caps; i++)
		printf("%s %s", i % 4 ? "" : "\n ", kvm_required_caps[i].name + strlen("KVM_CAP_"));
	printf("\nseccomp allow-lists (system calls, ioctl requests):\n");
	for (int r = 0; r < SANDBOX_NR_ROLES; r++) {
		const int *nrs;
		const unsigned long *reqs;
		size_t n = sandbox_syscalls(r, &nrs), m = sandbox_ioctls(r, &reqs);

		printf("  %-8s %zu, %zu%s\n", sandbox_role_name(r), n, m,
		       r == SANDBOX_MAIN && !SANDBOX_MAIN_FILTERED ?
		       " (not applied: sanitizer build)" : "");
	}
	kvm_host_close(&host);
	return 0;
}

/* Runs a built VM with the control socket (if any) attached to it; the exit status. */
static int run_attached(struct vm *vm, const struct timespec *deadline, bool start_paused,
			struct control_server *ctl)
{
	int status;

	vm->deadline = *deadline;
	vm->start_paused = start_paused;
	if (ctl)
		control_attach(ctl, vm);
	status = vm_run(vm);
	if (ctl)
		control_detach(ctl);
	return status;
}

/*
 * --share: starts a virtiofsd per shared directory and points a copy of the
 * configuration (*run, to free) at their sockets.  0, or -errno (said).
 */
static int shares_start(const struct vm_config *cfg, struct share *shares,
			struct vm_config **run)
{
	*run = malloc(sizeof(**run));
	if (!*run)
		return -ENOMEM;
	**run = *cfg;
	for (unsigned i = 0; i < cfg->nr_fs; i++) {
		struct fs_config *fc = &(*run)->fs[i];

		if (!fc->share_dir[0])
			continue;
		int r = share_start(fc, &shares[i]);

		if (r)
			return r;
		snprintf(fc->socket, sizeof(fc->socket), "%s", shares[i].socket);
	}
	return 0;
}

static void shares_stop(struct share *shares, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		share_stop(&shares[i]);
}

/* One boot of the guest: returns its exit status; *reset tells whether it ended in a reset. */
static int boot_once(const struct vm_config *cfg, struct kvm_host *host,
		     const struct timespec *deadline, struct control_server *ctl, bool *reset)
{
	struct share shares[MAX_FS];
	struct vm_config *run = NULL;
	struct vm vm;
	int status = EXIT_VMM_ERROR;

	*reset = false;
	for (unsigned i = 0; i < MAX_FS; i++)
		share_init(&shares[i]);
	/* Before the VM: the daemons' forks then copy no guest RAM and no KVM fds. */
	if (shares_start(cfg, shares, &run)) {
		shares_stop(shares, MAX_FS);
		free(run);
		return EXIT_VMM_ERROR;
	}
	if (vm_create(&vm, run, host))
		goto out;
	log_info("backend: %s%s", kvm_backend_name(host->backend),
		 vm.pvm ? "; PVM workarounds on" : "");
	if (builder_build(&vm))
		goto out;
	for (unsigned i = 0; i < MAX_FS; i++)
		share_forget_socket(&shares[i]);
	/* Only another boot would need /dev/kvm itself again: drop it. */
	if (!cfg->reboot_restart)
		kvm_host_close(host);
	status = run_attached(&vm, deadline, cfg->start_paused, ctl);
	*reset = vm.stop.reason == STOP_RESET;
out:
	vm_destroy(&vm);
	shares_stop(shares, MAX_FS);
	free(run);
	return status;
}

static struct timespec deadline_of(const struct vm_config *cfg)
{
	struct timespec deadline = { 0, 0 };

	if (cfg->timeout > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += (time_t)cfg->timeout;
		deadline.tv_nsec += (long)((cfg->timeout - (double)(time_t)cfg->timeout) * 1e9);
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	return deadline;
}

/* --api: the control socket, which outlives each boot's VM.  0, or -errno after one line. */
static int control_open_start(const char *path, struct control_server **ctl)
{
	char err[512];
	int r;

	*ctl = NULL;
	if (!path)
		return 0;
	r = control_open(ctl, path, err, sizeof(err));
	if (!r && (r = control_start(*ctl)))
		snprintf(err, sizeof(err), "control socket thread: %s", strerror(-r));
	if (r) {
		log_err("%s", err);
		control_close(*ctl);
		*ctl = NULL;
	}
	return r;
}

/*
 * What every way of running a guest does first, before any thread exists
 * (so that all inherit no_new_privs and the signal mask): the sandbox,
 * the signals, /dev/kvm, the control socket.  0, or -1 after one line.
 */
static int host_setup(const struct vm_config *cfg, const char *api_path, struct kvm_host *host,
		      struct control_server **ctl)
{
	*ctl = NULL;
	if (sandbox_setup(cfg->seccomp))
		return -1;
	vm_block_signals();
	if (kvm_host_open(host))
		return -1;
	if (control_open_start(api_path, ctl)) {
		kvm_host_close(host);
		return -1;
	}
	return 0;
}

/* kvmrun restore DIR: the snapshot's machine, its state, then the guest goes on. */
static int cmd_restore(const struct vm_config *cli)
{
	struct timespec deadline = deadline_of(cli);
	struct control_server *ctl = NULL;
	struct snapshot snap;
	struct vm_config cfg;
	struct kvm_host host;
	struct vm vm;
	char err[768];
	int status = EXIT_VMM_ERROR;
	uint64_t t0 = clock_now_ns();

	if (snapshot_open(&snap, cli->restore_dir, err, sizeof(err))) {
		log_err("%s", err);
		return EXIT_VMM_ERROR;
	}
	if (snapshot_config(&snap, cli, &cfg, err, sizeof(err))) {
		log_err("%s", err);
		snapshot_close(&snap);
		return EXIT_VMM_ERROR;
	}
	if (host_setup(&cfg, cli->api_path, &host, &ctl)) {
		snapshot_close(&snap);
		return EXIT_VMM_ERROR;
	}
	if (vm_create(&vm, &cfg, &host))
		goto out;
	if (snapshot_restore(&vm, &snap, err, sizeof(err))) {
		log_err("restore %s: %s", cli->restore_dir, err);
		goto out;
	}
	kvm_host_close(&host);
	log_info("restored %s: %u vCPU(s), %llu MiB, %.2f ms", cli->restore_dir, cfg.cpus,
		 (unsigned long long)(cfg.mem_size >> 20), (double)(clock_now_ns() - t0) / 1e6);
	status = run_attached(&vm, &deadline, cfg.start_paused, ctl);
out:
	vm_destroy(&vm);
	control_close(ctl);
	kvm_host_close(&host);
	snapshot_close(&snap);
	return status;
}

/* Milliseconds left before deadline (-1: none; 0: past). */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	int64_t ms;

	if (!deadline->tv_sec && !deadline->tv_nsec)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/*
 * kvmrun run --incoming URI: the machine of the command line, waiting for
 * a migration; once the source's RAM and state are in, the guest goes on.
 */
static int cmd_incoming(const struct vm_config *cfg)
{
	struct timespec deadline = deadline_of(cfg);
	struct control_server *ctl = NULL;
	struct kvm_host host;
	struct vm vm;
	sigset_t set;
	char err[768];
	int lfd, fd, sigfd, status = EXIT_VMM_ERROR;
	uint64_t t0;

	/* The control socket before the guest arrives: once the source hands it over, nothing may fail. */
	if (host_setup(cfg, cfg->api_path, &host, &ctl))
		return EXIT_VMM_ERROR;
	lfd = migrate_listen(cfg->incoming, err, sizeof(err));
	if (lfd < 0) {
		log_err("%s", err);
		control_close(ctl);
		kvm_host_close(&host);
		return EXIT_VMM_ERROR;
	}
	log_info("waiting for a migration on %s", cfg->incoming);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	fd = migrate_accept(lfd, sigfd, ms_left(&deadline), err, sizeof(err));
	if (sigfd >= 0)
		close(sigfd);
	migrate_unlisten(cfg->incoming, lfd);
	if (fd < 0) {
		log_err("%s", err);
		control_close(ctl);
		kvm_host_close(&host);
		return fd == -ETIMEDOUT ? EXIT_TIMEOUT : EXIT_VMM_ERROR;
	}
	t0 = clock_now_ns();
	if (vm_create(&vm, cfg, &host)) {
		/* The source learns it from the closed connection and resumes. */
		close(fd);
		goto out;
	}
	if (migrate_receive(&vm, fd, err, sizeof(err))) {
		log_err("incoming migration: %s", err);
		close(fd);
		goto out;
	}
	close(fd);
	kvm_host_close(&host);
	log_info("incoming migration received: %u vCPU(s), %llu MiB, restored in %.1f ms", cfg->cpus,
		 (unsigned long long)(cfg->mem_size >> 20), (double)(clock_now_ns() - t0) / 1e6);
	status = run_attached(&vm, &deadline, cfg->start_paused, ctl);
out:
	vm_destroy(&vm);
	control_close(ctl);
	kvm_host_close(&host);
	return status;
}

static int cmd_run(const struct vm_config *cfg)
{
	struct timespec deadline = deadline_of(cfg);
	struct control_server *ctl;
	struct kvm_host host;
	bool reset;
	int status;

	if (host_setup(cfg, cfg->api_path, &host, &ctl))
		return EXIT_VMM_ERROR;
	/* --reboot restart: a reset builds the machine anew, as a power cycle would. */
	do
		status = boot_once(cfg, &host, &deadline, ctl, &reset);
	while (reset && cfg->reboot_restart && (log_info("guest reset: booting again"), true));
	control_close(ctl);
	kvm_host_close(&host);
	return status;
}

/*
 * A closed fd 0, 1 or 2 would be the next fd kvmrun opens (its signalfd, an
 * image), which the console code or a stray message would then take for
 * stdin or stdout: /dev/null stands in for each missing one.
 */
static int std_fds_valid(void)
{
	for (int fd = 0; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);

		if (n < 0)
			return -errno;
		if (n != fd) {		/* open() takes the lowest free fd, so this cannot happen */
			close(n);
			return -EBADF;
		}
	}
	return 0;
}

static void set_verbosity(int verbosity)
{
	if (verbosity < 0)
		log_threshold = LOG_ERROR;
	else if (verbosity == 1)
		log_threshold = LOG_INFO;
	else if (verbosity > 1)
		log_threshold = LOG_DEBUG;
}

/* -pidfile: the pid, written before the guest starts.  0, or -1 after one line. */
static int pidfile_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0) {
		log_err("-pidfile %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The QEMU-compatible front (src/qemu_args.c): qemu-system-x86_64 ARGS or
 * kvmrun qemu ARGS, run as 'kvmrun run' runs; the exit status.
 */
static int qemu_main(int argc, char **argv, int first)
{
	struct qemu_args *qa = malloc(sizeof(*qa));
	char err[512];
	int status;

	if (!qa)
		return EXIT_VMM_ERROR;
	if (qemu_args_parse(qa, argc, argv, first, err, sizeof(err))) {
		fprintf(stderr, "kvmrun: %s\n", err);
		free(qa);
		return EXIT_USAGE;
	}
	set_verbosity(qa->cfg.verbosity);
	if (qa->cfg.cmd == CMD_HELP || qa->cfg.cmd == CMD_VERSION) {
		if (qa->device_help)
			fputs(qemu_args_device_list, stdout);
		else if (qa->cfg.cmd == CMD_HELP)
			fputs(qemu_args_usage_text, stdout);
		else
			printf("QEMU emulator version %s (kvmrun %s, QEMU-compatible mode)\n",
			       QEMU_ARGS_COMPAT_VERSION, KVMRUN_VERSION);
		free(qa);
		return 0;
	}
	for (unsigned i = 0; i < qa->nr_notes; i++)
		log_info("%s", qa->notes[i]);
	if (qa->pidfile && pidfile_write(qa->pidfile)) {
		free(qa);
		return EXIT_VMM_ERROR;
	}
	status = qa->cfg.incoming ? cmd_incoming(&qa->cfg) : cmd_run(&qa->cfg);
	if (qa->pidfile)
		unlink(qa->pidfile);
	free(qa);
	return status;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	char err[512];

	if (std_fds_valid())
		return EXIT_VMM_ERROR;
	if (qemu_args_invoked_as(argv[0]))
		return qemu_main(argc, argv, 1);
	if (argc > 1 && !strcmp(argv[1], "qemu"))
		return qemu_main(argc, argv, 2);

	if (config_parse(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "kvmrun: %s\n", err);
		return EXIT_USAGE;
	}
	set_verbosity(cfg.verbosity);

	switch (cfg.cmd) {
	case CMD_HELP:
		fputs(config_usage_text, stdout);
		return 0;
	case CMD_VERSION:
		printf("kvmrun %s\n", KVMRUN_VERSION);
		return 0;
	case CMD_INFO:
		return cmd_info();
	case CMD_RUN:
		return cfg.incoming ? cmd_incoming(&cfg) : cmd_run(&cfg);
	case CMD_RESTORE:
		return cmd_restore(&cfg);
	case CMD_CTL:
		return ctl_main(cfg.ctl_argc, cfg.ctl_argv);
	}
	return EXIT_VMM_ERROR;
}
