#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmrun/kvm.h"
#include "kvmrun/log.h"

#define CAP(c) { c, #c }
const struct kvm_cap_req kvm_required_caps[] = {
	CAP(KVM_CAP_USER_MEMORY),
	CAP(KVM_CAP_IRQCHIP),
	CAP(KVM_CAP_PIT2),
	CAP(KVM_CAP_SET_TSS_ADDR),
	CAP(KVM_CAP_SET_IDENTITY_MAP_ADDR),
	CAP(KVM_CAP_EXT_CPUID),
	CAP(KVM_CAP_IMMEDIATE_EXIT),
	CAP(KVM_CAP_VCPU_EVENTS),
	CAP(KVM_CAP_MP_STATE),
	CAP(KVM_CAP_NR_VCPUS),
	CAP(KVM_CAP_MAX_VCPUS),
};
const unsigned kvm_nr_required_caps = sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]);

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

enum kvm_backend kvm_detect_backend(void)
{
	if (path_exists("/sys/module/kvm_pvm"))
		return BACKEND_PVM;
	if (path_exists("/sys/module/kvm_intel"))
		return BACKEND_VMX;
	if (path_exists("/sys/module/kvm_amd"))
		return BACKEND_SVM;
	return BACKEND_UNKNOWN;
}

const char *kvm_backend_name(enum kvm_backend b)
{
	switch (b) {
	case BACKEND_VMX: return "hardware (Intel VT-x)";
	case BACKEND_SVM: return "hardware (AMD-V)";
	case BACKEND_PVM: return "PVM (no hardware virtualization: guest kernel code is emulated)";
	default:	  return "unknown";
	}
}

int kvm_host_open(struct kvm_host *host)
{
	const char *path = getenv("KVMRUN_DEV_KVM");
	int fd, r;

	memset(host, 0, sizeof(*host));
	host->fd = -1;
	if (!path || !*path)
		path = "/dev/kvm";
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			log_err("%s: no such device - load the kvm module (modprobe kvm_intel or kvm_amd) "
				"or enable virtualization in the firmware", path);
		else if (e == EACCES || e == EPERM)
			log_err("%s: permission denied - add your user to the kvm group "
				"(usermod -aG kvm $USER) or run as root", path);
		else
			log_err("%s: %s", path, strerror(e));
		return -e;
	}
	r = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		log_err("%s: KVM API version %d, kvmrun needs %d - is this really /dev/kvm?",
			path, r, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	host->api_version = r;
	for (unsigned i = 0; i < kvm_nr_required_caps; i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			log_err("%s: the kernel lacks %s, which kvmrun needs - use a newer host kernel",
				path, kvm_required_caps[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	host->nr_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	host->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (host->max_vcpus <= 0)
		host->max_vcpus = host->nr_vcpus;
	host->backend = kvm_detect_backend();
	r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	if (r <= 0)
		r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	/* r: the largest ring in bytes. */
	host->dirty_ring_max = r > 0 ? (unsigned)r / sizeof(struct kvm_dirty_gfn) : 0;
	host->dirty_ring_entries = host->dirty_ring_max < KVM_DIRTY_RING_ENTRIES ?
				   host->dirty_ring_max : KVM_DIRTY_RING_ENTRIES;
	/*
	 * PVM offers the ring, but pages its emulator writes for guest kernel
	 * code do not all reach it: a Linux guest migrated with the ring
	 * crashed on the destination in 3 of 10 runs (stale pages), never with
	 * the bitmap, while CPL3 writers (dirtymem) moved fine with either.
	 */
	if (host->backend == BACKEND_PVM)
		host->dirty_ring_entries = 0;
	host->fd = fd;
	return 0;
}

void kvm_host_close(struct kvm_host *host)
{
	if (host->fd >= 0)
		close(host->fd);
	host->fd = -1;
}
