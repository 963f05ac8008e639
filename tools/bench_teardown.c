/*
 * bench_teardown [RUNS]: what creating and closing a KVM VM costs with each
 * interrupt-controller arrangement, to show where a short guest's whole run
 * goes.  For each of: no irqchip, split irqchip (KVM_CAP_SPLIT_IRQCHIP, PIC
 * and IOAPIC left to userspace), in-kernel PIC+IOAPIC, and in-kernel
 * PIC+IOAPIC+PIT (kvmrun's machine), with one vCPU, it prints
 *	teardown config=NAME create_ms=X close_ms=Y close_cpu_ms=Z
 * (medians of RUNS, default 10): close_ms is the wall time of the last
 * close, close_cpu_ms the user+system CPU time it took; the difference is
 * time the kernel spent asleep (SRCU grace periods, kthread stops).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { CFG_NONE, CFG_SPLIT, CFG_IRQCHIP, CFG_IRQCHIP_PIT, NR_CFG };
static const char *const cfg_name[NR_CFG] = { "none", "split", "irqchip", "irqchip+pit" };

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One VM of configuration c: create and close times into *create, *close, *cpu; 0 or -1. */
static int once(int kvm, int c, double *create, double *close_wall, double *close_cpu)
{
	double t0 = now_ms(), t1, c1;
	int vm = ioctl(kvm, KVM_CREATE_VM, 0), vcpu;

	if (vm < 0) {
		fprintf(stderr, "bench_teardown: KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
	if (c == CFG_SPLIT) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

		if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0)
			goto fail;
	}
	if ((c == CFG_IRQCHIP || c == CFG_IRQCHIP_PIT) && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	if (c == CFG_IRQCHIP_PIT) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
			goto fail;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		goto fail;
	t1 = now_ms();
	*create = t1 - t0;
	close(vcpu);
	c1 = cpu_ms();
	close(vm);
	*close_wall = now_ms() - t1;
	*close_cpu = cpu_ms() - c1;
	return 0;
fail:
	fprintf(stderr, "bench_teardown: %s: %s\n", cfg_name[c], strerror(errno));
	close(vm);
	return -1;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 10;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	double *cr, *cl, *cp;

	if (argc > 2 || runs < 1 || runs > 10000) {
		fprintf(stderr, "usage: bench_teardown [RUNS]   (1..10000, default 10)\n");
		return 2;
	}
	if (kvm < 0) {
		fprintf(stderr, "bench_teardown: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	cr = calloc((size_t)runs, sizeof(double));
	cl = calloc((size_t)runs, sizeof(double));
	cp = calloc((size_t)runs, sizeof(double));
	if (!cr || !cl || !cp)
		return 1;
	for (int c = 0; c < NR_CFG; c++) {
		int i;

		for (i = 0; i < runs; i++)
			if (once(kvm, c, &cr[i], &cl[i], &cp[i]))
				break;
		if (i < runs)
			continue;	/* said why; the other configurations still run */
		printf("teardown config=%s create_ms=%.3f close_ms=%.3f close_cpu_ms=%.3f\n", cfg_name[c],
		       median(cr, runs), median(cl, runs), median(cp, runs));
	}
	free(cr);
	free(cl);
	free(cp);
	close(kvm);
	return 0;
}
