/*
 * --share HOSTDIR,tag=TAG[,readonly]: a virtiofsd of kvmrun's own for each
 * shared directory, started before the VM is built, listening on a socket
 * in a private temporary directory, and stopped when the VM is gone.
 * readonly: the daemon runs in a mount namespace of its own where HOSTDIR
 * is a read-only bind mount (Debian 12's virtiofsd has no such option),
 * so the guest's writes fail with EROFS whatever the daemon does.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/share.h"

#define SHARE_START_MS	5000	/* virtiofsd has this long to put its socket up */
#define SHARE_STOP_MS	500	/* and this long to leave once its connection is gone */

static const char *const virtiofsd_paths[] = {
	"/usr/lib/qemu/virtiofsd",	/* Debian 12: qemu-system-common */
	"/usr/libexec/virtiofsd",	/* the Rust virtiofsd package */
	"/usr/lib/virtiofsd",
};

static const char *find_virtiofsd(void)
{
	const char *env = getenv("KVMRUN_VIRTIOFSD");

	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(virtiofsd_paths) / sizeof(virtiofsd_paths[0]); i++)
		if (access(virtiofsd_paths[i], X_OK) == 0)
			return virtiofsd_paths[i];
	return NULL;
}

/* In the child: HOSTDIR read-only in a mount namespace of the daemon's own. */
static int readonly_view(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return -errno;
	return 0;
}

static void child(const struct fs_config *fc, const char *bin, const char *sock, int log_fd)
{
	char sockarg[160], source[4200];
	int r;

	/* Its messages go to a file kvmrun shows when it fails to start (it chats at exit). */
	if (log_fd >= 0 && (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0))
		_exit(127);
	/* The daemon must not outlive kvmrun, even one killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (fc->readonly && (r = readonly_view(fc->share_dir))) {
		fprintf(stderr, "kvmrun: --share %s,readonly: cannot make a read-only view of it: "
			"%s (this needs root)\n", fc->share_dir, strerror(-r));
		_exit(127);
	}
	snprintf(sockarg, sizeof(sockarg), "--socket-path=%s", sock);
	snprintf(source, sizeof(source), "source=%s", fc->share_dir);
	execl(bin, bin, sockarg, "-o", source, "-o", "sandbox=namespace", "-o", "log_level=warn",
	      (char *)NULL);
	fprintf(stderr, "kvmrun: cannot run %s: %s\n", bin, strerror(errno));
	_exit(127);
}

void share_init(struct share *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	s->log_fd = -1;
}

/* The daemon's last words, on kvmrun's stderr. */
static void show_log(struct share *s)
{
	char buf[2048];
	ssize_t n;

	if (s->log_fd < 0)
		return;
	n = pread(s->log_fd, buf, sizeof(buf), 0);
	if (n > 0)
		fprintf(stderr, "%.*s%s", (int)n, buf, buf[n - 1] == '\n' ? "" : "\n");
}

int share_start(const struct fs_config *fc, struct share *s)
{
	const char *bin = find_virtiofsd();
	const char *tmp = getenv("TMPDIR");
	char logname[sizeof(s->dir) + 32];
	struct stat st;
	uint64_t deadline;

	share_init(s);
	if (!bin) {
		log_err("--share: virtiofsd not found (install qemu-system-common, or set "
			"KVMRUN_VIRTIOFSD)");
		return -ENOENT;
	}
	if (stat(fc->share_dir, &st) < 0) {
		int e = errno;

		log_err("--share %s: %s", fc->share_dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("--share %s: not a directory", fc->share_dir);
		return -ENOTDIR;
	}
	snprintf(s->dir, sizeof(s->dir), "%s/kvmrun-share-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (strlen(s->dir) + sizeof("/fs.sock") > sizeof(s->socket) || !mkdtemp(s->dir)) {
		log_err("--share: cannot create a directory for the virtiofsd socket in %s: %s",
			tmp && *tmp ? tmp : "/tmp", strerror(errno ? errno : ENAMETOOLONG));
		s->dir[0] = 0;
		return -EIO;
	}
	snprintf(s->socket, sizeof(s->socket), "%s/fs.sock", s->dir);
	/* An unlinked file: nothing to clean up, readable while kvmrun holds it. */
	snprintf(logname, sizeof(logname), "%s/virtiofsd.log", s->dir);
	s->log_fd = open(logname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->log_fd >= 0)
		unlink(logname);
	s->pid = fork();
	if (s->pid < 0) {
		int e = errno;

		log_err("--share: fork: %s", strerror(e));
		share_stop(s);
		return -e;
	}
	if (s->pid == 0)
		child(fc, bin, s->socket, s->log_fd);

	/* Its socket file appears once it listens; connecting now would use up its one client. */
	deadline = clock_now_ns() + SHARE_START_MS * 1000000ULL;
	for (;;) {
		int status;

		if (stat(s->socket, &st) == 0 && S_ISSOCK(st.st_mode))
			break;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			log_err("--share %s: virtiofsd (%s) exited with status %d before it listened%s",
				fc->share_dir, bin, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				s->log_fd >= 0 ? "; it said:" : "");
			show_log(s);
			s->pid = -1;
			share_stop(s);
			return -EIO;
		}
		if (clock_now_ns() > deadline) {
			log_err("--share %s: virtiofsd did not listen within %d ms", fc->share_dir,
				SHARE_START_MS);
			show_log(s);
			share_stop(s);
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
	/* It binds, then listens: give it that instant. */
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	log_info("--share %s: virtiofsd %d at %s", fc->share_dir, (int)s->pid, s->socket);
	return 0;
}

void share_forget_socket(struct share *s)
{
	if (s->socket[0])
		unlink(s->socket);
	if (s->dir[0])
		rmdir(s->dir);
	s->socket[0] = s->dir[0] = 0;
}

void share_stop(struct share *s)
{
	uint64_t deadline = clock_now_ns() + SHARE_STOP_MS * 1000000ULL;

	if (s->pid > 0) {
		/* It leaves by itself once its connection closed; a hung one is killed. */
		while (waitpid(s->pid, NULL, WNOHANG) == 0) {
			if (clock_now_ns() > deadline) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, NULL, 0);
				break;
			}
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		}
	}
	s->pid = -1;
	if (s->log_fd >= 0)
		close(s->log_fd);
	s->log_fd = -1;
	share_forget_socket(s);
}
