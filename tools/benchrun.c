/*
 * benchrun: run a command several times and report its wall time and peak RSS.
 *
 *	benchrun [-n RUNS] [-q] [-f] [-c] [-s] [--] CMD ARGS...
 *	benchrun -t
 *
 * Each run is a fork + execvp of CMD.  The wall time of a run goes from just
 * before fork() to the return of wait4() (CLOCK_MONOTONIC); the peak resident
 * set size comes from wait4()'s rusage (ru_maxrss, KiB).  With -q the child's
 * stdout and stderr go to /dev/null.  One line is printed:
 *
 *	runs=N median_ms=X min_ms=Y max_ms=Z maxrss_kib=K status=S per_s=R
 * (per_s: runs per second of the whole back-to-back loop)
 *
 * With -c the line goes on with the CPU time of the command's process:
 *
 *	... user_ms=U sys_ms=S guest_ms=G
 *
 * medians over the runs: user and system time from wait4()'s rusage, and the
 * part of them a vCPU spent running its guest (guest_time of /proc/PID/stat,
 * read while the child is a zombie, so it covers every thread; clock-tick
 * resolution; left out when /proc cannot tell).  For a VMM, user + sys -
 * guest is what the VMM itself used.  -s (implies -c) also samples each
 * thread's CPU time (/proc/PID/task/TID/schedstat, every 10 ms while the
 * child runs; the sampling slows a VMM that keeps both CPUs busy by a few per
 * cent, so throughput runs should not use it) and adds
 *
 *	... threads=NAME:MS,NAME:MS,...
 *
 * the last sample of each thread summed by thread name without its digits
 * (spaces as '_': "vcpu0" and "vcpu1" are "vcpu", QEMU's "CPU 0/KVM" is
 * "CPU_/KVM"), mean per run: which threads of a VMM did the work.  A thread's
 * last 10 ms before it ends can be missed, and the end of the run is seen
 * up to 10 ms late (wall time).
 *
 * maxrss_kib is the largest ru_maxrss over all runs.  status is the exit
 * status of the last run (128 + signal number when the child was killed by
 * a signal, as the shell reports it).  If the runs do not all end with the
 * same status, status is the first one that differs from the first run's, a
 * note goes to stderr, and benchrun exits with 1.  Failing to start CMD at all
 * is reported on stderr with exit status 127.
 *
 * benchrun -t prints the host's TSC rate, 'tsc_khz=N', from rdtsc against
 * CLOCK_MONOTONIC_RAW over 200 ms: the rate a test guest's rdtsc counts at on
 * KVM without TSC scaling (tools/bench.sh passes it to the guests).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

static const char *prog = "benchrun";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-n RUNS] [-q] [-f] [-c] [-s] [--] CMD ARGS...\n"
		"  Runs CMD RUNS times (default 20) and prints\n"
		"  'runs=N median_ms=X min_ms=Y max_ms=Z maxrss_kib=K status=S per_s=R'\n"
		"  (per_s: runs per second, the RUNS back to back).\n"
		"  -q  send the command's stdout and stderr to /dev/null\n"
		"  -f  also time the first byte the command writes to stdout\n"
		"      (first_median_ms: for a VMM, the guest's first port write)\n"
		"  -c  also report CPU time: 'user_ms=U sys_ms=S guest_ms=G'\n"
		"      (medians; guest_ms: vCPUs running the guest)\n"
		"  -s  -c and each thread's CPU time: 'threads=NAME:MS,...'\n"
		"       %s -t\n"
		"  Prints the host's TSC rate as 'tsc_khz=N' (x86 only).\n",
		prog, prog);
}

static double raw_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int tsc_khz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	double t0, t1;
	unsigned long long c0, c1;
	struct timespec pause = { 0, 200 * 1000 * 1000 };

	t0 = raw_ms();
	c0 = __rdtsc();
	while (nanosleep(&pause, &pause) && errno == EINTR)
		;
	c1 = __rdtsc();
	t1 = raw_ms();
	printf("tsc_khz=%.0f\n", (double)(c1 - c0) / (t1 - t0));
	return 0;
#else
	fprintf(stderr, "%s: -t: no TSC on this architecture\n", prog);
	return 1;
#endif
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place. */
static double median_of(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

#define MAX_THREADS	256
#define NAME_BYTES	20

/* -c: CPU time in ms of one thread (by tid) or one thread name (by name). */
struct thread_ms {
	pid_t tid;
	char name[NAME_BYTES];
	double ms;
};

/* -c: one run's CPU time in ms. */
struct cpu_ms {
	double user, sys, guest;
	struct thread_ms th[MAX_THREADS];
	int nth;
};

/* Reads a small /proc file into buf; 0 or -1. */
static int read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The thread's name without digits and newline, spaces as '_'. */
static void thread_name(pid_t pid, pid_t tid, char *name)
{
	char path[96], comm[64], *c;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	if (read_small(path, comm, sizeof(comm)) < 0)
		strcpy(comm, "?");
	for (c = comm; *c && *c != '\n' && n < NAME_BYTES - 1; c++) {
		if (*c >= '0' && *c <= '9')
			continue;
		/* ',' and ':' separate the output's fields */
		name[n++] = (*c == ' ' || *c == ',' || *c == ':') ? '_' : *c;
	}
	name[n] = '\0';
}

/* One sample of every thread's run time (schedstat: ns on the CPU). */
static void sample_threads(pid_t pid, struct cpu_ms *cpu)
{
	char path[96], buf[128];
	unsigned long long ns;
	struct dirent *e;
	DIR *d;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat",
			 (int)pid, (int)tid);
		if (read_small(path, buf, sizeof(buf)) < 0 ||
		    sscanf(buf, "%llu", &ns) != 1)
			continue;
		for (i = 0; i < cpu->nth && cpu->th[i].tid != tid; i++)
			;
		if (i == cpu->nth) {
			if (cpu->nth == MAX_THREADS)
				continue;
			cpu->nth++;
			cpu->th[i].tid = tid;
		}
		/* Read every time: a new thread names itself after it started. */
		thread_name(pid, tid, cpu->th[i].name);
		cpu->th[i].ms = (double)ns * 1e-6;
	}
	closedir(d);
}

/* Adds one run's threads to the per-name sums in *sum (tids unused there). */
static void add_threads(struct cpu_ms *sum, const struct cpu_ms *run)
{
	int i, j;

	for (i = 0; i < run->nth; i++) {
		for (j = 0; j < sum->nth &&
		     strcmp(sum->th[j].name, run->th[i].name); j++)
			;
		if (j == sum->nth) {
			if (sum->nth == MAX_THREADS)
				continue;
			sum->nth++;
			strcpy(sum->th[j].name, run->th[i].name);
			sum->th[j].ms = 0;
		}
		sum->th[j].ms += run->th[i].ms;
	}
}

/*
 * guest_time (field 43 of /proc/PID/stat, clock ticks) of an exited but not
 * yet reaped child: the zombie's line sums all of its threads.  -1 if unknown.
 */
static double zombie_guest_ms(pid_t pid)
{
	char path[64], line[2048], *p;
	unsigned long long ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The command name may hold spaces and parentheses: count from the last ')'. */
	p = strrchr(line, ')');
	if (!p || hz <= 0)
		return -1;
	for (field = 2; field < 43 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -1;
	return (double)ticks * 1e3 / (double)hz;
}

static double tv_ms(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec * 1e-3;
}

/*
 * One run.  Returns 0 and fills *ms, *rss_kib, *code, or -1 after reporting
 * an error (including a CMD that could not be executed).
 */
static int run_once(char **cmd, int quiet, int devnull, double *ms,
		    long *rss_kib, int *code, double *first_ms,
		    struct cpu_ms *cpu, int sample)
{
	struct rusage ru;
	int pfd[2], ofd[2] = { -1, -1 }, st, err = 0;
	ssize_t got;
	double t0, t1;
	pid_t pid, w;

	/* -f: the child's stdout is a pipe; the first byte through it is timed. */
	if (first_ms && pipe2(ofd, O_CLOEXEC) < 0) {
		fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
		return -1;
	}

	/* The child reports a failed exec through this close-on-exec pipe. */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
		return -1;
	}

	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		if (quiet && (dup2(devnull, STDOUT_FILENO) < 0 ||
			      dup2(devnull, STDERR_FILENO) < 0))
			err = errno;
		if (!err && first_ms && dup2(ofd[1], STDOUT_FILENO) < 0)
			err = errno;
		if (!err) {
			execvp(cmd[0], cmd);
			err = errno;
		}
		if (write(pfd[1], &err, sizeof(err)) < 0) {
			/* nothing more to be done */
		}
		_exit(127);
	}
	close(pfd[1]);
	if (first_ms) {
		char buf[4096];
		ssize_t n;

		close(ofd[1]);
		*first_ms = -1;
		while ((n = read(ofd[0], buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			if (*first_ms < 0)
				*first_ms = now_ms() - t0;
		}
		close(ofd[0]);
	}
	do {
		got = read(pfd[0], &err, sizeof(err));
	} while (got < 0 && errno == EINTR);
	close(pfd[0]);

	if (cpu) {
		struct timespec tick = { 0, 10 * 1000 * 1000 };
		siginfo_t si;
		int r;

		/* Sample until the exit, but leave the zombie, whose /proc entry still counts. */
		cpu->nth = 0;
		for (;;) {
			si.si_pid = 0;
			/* Without -s, block: no wake-ups to steal CPU from the child. */
			r = waitid(P_PID, (id_t)pid, &si,
				   WEXITED | WNOWAIT | (sample ? WNOHANG : 0));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || si.si_pid == pid)
				break;
			if (sample)
				sample_threads(pid, cpu);
			nanosleep(&tick, NULL);
		}
		cpu->guest = r < 0 ? -1 : zombie_guest_ms(pid);
	}
	do {
		w = wait4(pid, &st, 0, &ru);
	} while (w < 0 && errno == EINTR);
	t1 = now_ms();
	if (w < 0) {
		fprintf(stderr, "%s: wait4: %s\n", prog, strerror(errno));
		return -1;
	}
	if (got == (ssize_t)sizeof(err)) {
		fprintf(stderr, "%s: cannot run '%s': %s\n", prog, cmd[0],
			strerror(err));
		return -1;
	}
	*ms = t1 - t0;
	*rss_kib = ru.ru_maxrss;
	*code = status_code(st);
	if (cpu) {
		cpu->user = tv_ms(ru.ru_utime);
		cpu->sys = tv_ms(ru.ru_stime);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long runs = 20, maxrss = 0;
	int quiet = 0, opt, devnull = -1, first_code = 0, bad_code = 0;
	int differ = 0, last_code = 0, want_first = 0, no_output = 0;
	int want_cpu = 0, no_guest = 0, want_threads = 0;
	double *t, *f, *cu, *cs, *cg, median, first_median = 0;
	static struct cpu_ms cpu, threads;	/* large: not on the stack */
	struct timespec loop0, loop1;
	char *end;
	long i;

	while ((opt = getopt(argc, argv, "+n:qfcsht")) != -1) {
		switch (opt) {
		case 't':
			return tsc_khz();
		case 'n':
			errno = 0;
			runs = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || runs < 1 ||
			    runs > 1000000) {
				fprintf(stderr, "%s: bad run count '%s'\n",
					prog, optarg);
				return 2;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		case 'f':
			want_first = 1;
			break;
		case 'c':
			want_cpu = 1;
			break;
		case 's':
			want_cpu = 1;
			want_threads = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\n", prog);
		usage(stderr);
		return 2;
	}

	if (quiet) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (devnull < 0) {
			fprintf(stderr, "%s: /dev/null: %s\n", prog,
				strerror(errno));
			return 2;
		}
	}
	t = calloc((size_t)runs, sizeof(*t));
	f = calloc((size_t)runs, sizeof(*f));
	cu = calloc((size_t)runs, sizeof(*cu));
	cs = calloc((size_t)runs, sizeof(*cs));
	cg = calloc((size_t)runs, sizeof(*cg));
	if (!t || !f || !cu || !cs || !cg) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &loop0);
	for (i = 0; i < runs; i++) {
		long rss;
		int code;

		if (run_once(argv + optind, quiet, devnull, &t[i], &rss,
			     &code, want_first ? &f[i] : NULL,
			     want_cpu ? &cpu : NULL, want_threads) < 0) {
			free(t);
			free(f);
			free(cu);
			free(cs);
			free(cg);
			return 127;
		}
		if (want_cpu) {
			cu[i] = cpu.user;
			cs[i] = cpu.sys;
			cg[i] = cpu.guest;
			if (cpu.guest < 0)
				no_guest = 1;
			add_threads(&threads, &cpu);
		}
		if (want_first && f[i] < 0)
			no_output = 1;
		if (rss > maxrss)
			maxrss = rss;
		if (i == 0)
			first_code = code;
		else if (code != first_code && !differ) {
			differ = 1;
			bad_code = code;
			fprintf(stderr, "%s: run %ld ended with status %d, "
				"run 1 with %d\n", prog, i + 1, code,
				first_code);
		}
		last_code = code;
	}

	clock_gettime(CLOCK_MONOTONIC, &loop1);
	qsort(t, (size_t)runs, sizeof(*t), cmp_double);
	if (runs % 2)
		median = t[runs / 2];
	else
		median = (t[runs / 2 - 1] + t[runs / 2]) / 2;
	if (want_first && !no_output) {
		qsort(f, (size_t)runs, sizeof(*f), cmp_double);
		first_median = runs % 2 ? f[runs / 2] : (f[runs / 2 - 1] + f[runs / 2]) / 2;
	}
	printf("runs=%ld median_ms=%.3f min_ms=%.3f max_ms=%.3f "
	       "maxrss_kib=%ld status=%d per_s=%.1f", runs, median, t[0],
	       t[runs - 1], maxrss, differ ? bad_code : last_code,
	       (double)runs / ((double)(loop1.tv_sec - loop0.tv_sec) +
			       (double)(loop1.tv_nsec - loop0.tv_nsec) / 1e9));
	if (want_first && !no_output)
		printf(" first_median_ms=%.3f first_min_ms=%.3f", first_median, f[0]);
	if (want_cpu) {
		printf(" user_ms=%.1f sys_ms=%.1f", median_of(cu, runs),
		       median_of(cs, runs));
		if (!no_guest)
			printf(" guest_ms=%.0f", median_of(cg, runs));
		for (i = 0; i < threads.nth; i++)
			printf("%s%s:%.1f", i ? "," : " threads=",
			       threads.th[i].name, threads.th[i].ms / (double)runs);
	}
	printf("\n");
	if (want_first && no_output) {
		fprintf(stderr, "%s: a run wrote nothing to stdout\n", prog);
		differ = 1;
	}
	free(t);
	free(f);
	free(cu);
	free(cs);
	free(cg);
	if (devnull >= 0)
		close(devnull);
	return differ ? 1 : 0;
}
