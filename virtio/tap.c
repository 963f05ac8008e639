/*
 * Tap devices for virtio-net: TUNSETIFF with IFF_VNET_HDR, the header size
 * (TUNSETVNETHDRSZ), non-blocking I/O and the offloads (TUNSETOFFLOAD).  A
 * frame read is truncated to the buffers given, as the tap does it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/tap.h"

/* One line that says what failed and what to do. */
static int tap_error(const char *name, bool setiff, int err)
{
	if (!setiff && (err == ENOENT || err == ENODEV || err == ENXIO))
		log_err("--net: /dev/net/tun is missing - load the tun module (modprobe tun)");
	else if (!setiff && (err == EACCES || err == EPERM))
		log_err("--net: /dev/net/tun: permission denied - run as root, or give your user "
			"read/write access to /dev/net/tun");
	else if (!setiff)
		log_err("--net: /dev/net/tun: %s", strerror(err));
	else if (err == EPERM)
		log_err("--net tap=%s: not allowed to attach - create the tap for your user first "
			"(ip tuntap add dev %s mode tap user $USER) or run as root", name, name);
	else if (err == EBUSY)
		log_err("--net tap=%s: the tap is in use by another program", name);
	else if (err == EINVAL)
		log_err("--net tap=%s: not a single-queue tap device (a TUN, multi-queue tap or "
			"other interface has that name) - pick another name", name);
	else
		log_err("--net tap=%s: cannot attach (TUNSETIFF): %s", name, strerror(err));
	return -err;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

void tap_set_offload(struct tap *t, unsigned flags)
{
	if (t->offload == flags)
		return;
	if (ioctl(t->fd, TUNSETOFFLOAD, flags) < 0) {
		/* Harmless: the guest then only gets complete, checksummed packets. */
		log_debug("virtio-net: TUNSETOFFLOAD 0x%x: %s", flags, strerror(errno));
		return;
	}
	t->offload = flags;
}

int tap_open(struct tap *t, const char *name, int hdr_len)
{
	struct ifreq ifr;
	int r;

	memset(t, 0, sizeof(*t));
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return tap_error(name, false, errno);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		r = tap_error(name, true, errno);
		goto fail;
	}
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = 0;
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		r = -errno;
		log_err("--net tap=%s: the kernel refuses %d-byte virtio-net headers "
			"(TUNSETVNETHDRSZ: %s) - kvmrun needs Linux 2.6.35 or newer", name, hdr_len,
			strerror(-r));
		goto fail;
	}
	r = set_nonblock(t->fd);
	if (r) {
		log_err("--net tap=%s: cannot make the tap non-blocking: %s", name, strerror(-r));
		goto fail;
	}
	/* Offloads are offered only if the tap can pass them on; off until a driver takes them. */
	t->offloads = ioctl(t->fd, TUNSETOFFLOAD, TAP_OFFLOADS) == 0;
	t->offload = t->offloads ? TAP_OFFLOADS : 0;
	tap_set_offload(t, 0);
	return 0;
fail:
	tap_close(t);
	return r;
}

int tap_adopt_fd(struct tap *t, int fd, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	snprintf(t->ifname, sizeof(t->ifname), "%s", name);
	return set_nonblock(fd);
}

void tap_close(struct tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

ssize_t tap_read(struct tap *t, const struct iovec *iov, unsigned n)
{
	ssize_t r;

	do
		r = readv(t->fd, iov, (int)n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t tap_write(struct tap *t, const struct iovec *iov, unsigned n)
{
	ssize_t r;

	do
		r = writev(t->fd, iov, (int)n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}
