/*
 * virtio devices whose rings a vhost-user backend serves (virtio-fs with
 * virtiofsd, virtio-blk with qemu-storage-daemon): kvmrun keeps the
 * transport (registers, features, the status machine) and hands the
 * backend guest RAM, each ring, its kick eventfd (the one KVM's ioeventfd
 * signals) and a call eventfd: an MSI-X vector's irqfd when the transport
 * has one that can fire (the backend interrupts the guest with no help
 * from kvmrun), else an eventfd the device's worker turns into the
 * transport's interrupt (virtio-mmio's InterruptStatus needs kvmrun).
 *
 * The rings run from DRIVER_OK until a reset or a pause (GET_VRING_BASE
 * stops each and gives back its index, so that a snapshot sees still
 * rings).  A backend that closes its socket, breaks the protocol or stops
 * answering is dropped: the device reports DEVICE_NEEDS_RESET, one line
 * says why, and the rest of the VM runs on; the driver's next reset
 * connects again if the backend is back.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/vhost_user.h"
#include "kvmrun/virtio_devices.h"

/* virtio-fs configuration (virtio 1.2, 5.11.4). */
#define FS_TAG_LEN	36
#define FS_CONFIG_LEN	(FS_TAG_LEN + 4)
/* The virtio-blk configuration up to the secure-erase fields (virtio 1.2, 5.2.4). */
#define BLK_CONFIG_LEN	60

/* Virtio feature bits that mean nothing to the backend's ring code beyond what the transport does. */
#define PASSED_FEATURES \
	(0xffffffULL /* device-specific 0-23 */ | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))

struct vud {
	struct vhost_user vu;
	struct virtio_device *d;
	char socket[108];
	uint8_t config[VHOST_USER_CONFIG_MAX];
	uint32_t config_len;
	int call_fd[VIRTIO_MAX_QUEUES];		/* ours, watched by the worker */
	int err_fd[VIRTIO_MAX_QUEUES];		/* the backend says a ring went wrong (SET_VRING_ERR) */
	int given_call[VIRTIO_MAX_QUEUES];	/* what the backend writes for q (ours or an irqfd) */
	int reconnect_fd;	/* the worker connects again when this fires (only it may connect) */
	bool started;		/* rings handed over */
	bool lost;		/* backend dropped: NEEDS_RESET until a reset reconnects */
};

/* Drops the backend: one line, NEEDS_RESET, the VM runs on. */
static void lost(struct vud *v, const char *what, int r)
{
	char why[320];

	if (v->vu.fd >= 0) {
		virtio_unwatch_fd(v->d, v->vu.fd);
		vhost_user_close(&v->vu);
	}
	v->lost = true;
	v->started = false;
	if (r == -EINTR)
		return;		/* kvmrun is stopping: nothing to tell the guest or the user */
	if (what)
		snprintf(why, sizeof(why), "vhost-user backend at %s: %s: %s", v->socket, what,
			 vhost_user_strerror(r));
	else
		snprintf(why, sizeof(why), "vhost-user backend at %s: %s", v->socket,
			 vhost_user_strerror(r));
	virtio_needs_reset(v->d, why);
}

static int pick_call(struct vud *v, unsigned q)
{
	struct virtio_device *d = v->d;
	int fd = d->transport->call_fd ? d->transport->call_fd(d, q) : -1;

	return fd >= 0 ? fd : v->call_fd[q];
}

static int start_queue(struct vud *v, unsigned q)
{
	struct virtio_device *d = v->d;
	struct virtq *vq = &d->vq[q];
	int call = pick_call(v, q);
	int r;

	r = vhost_user_set_vring_num(&v->vu, q, vq->num);
	if (!r)
		r = vhost_user_set_vring_base(&v->vu, q, vq->last_avail);
	if (!r)
		r = vhost_user_set_vring_addr(&v->vu, q, vq->desc, vq->used, vq->avail);
	if (!r)
		r = vhost_user_set_vring_fd(&v->vu, VHOST_USER_SET_VRING_KICK, q, d->notify_fd[q]);
	if (!r)
		r = vhost_user_set_vring_fd(&v->vu, VHOST_USER_SET_VRING_CALL, q, call);
	if (!r)
		r = vhost_user_set_vring_fd(&v->vu, VHOST_USER_SET_VRING_ERR, q, v->err_fd[q]);
	if (!r && (v->vu.features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)))
		r = vhost_user_set_vring_enable(&v->vu, q, true);
	if (!r)
		v->given_call[q] = call;
	return r;
}

/* Hands the running rings to the backend (DRIVER_OK, a resume, a restore). */
static void start(struct vud *v)
{
	struct virtio_device *d = v->d;
	uint64_t features = d->guest_features;
	int r;

	if (v->started || !(d->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (d->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return;
	if (v->lost) {
		/* Still no backend after the driver's reset: said once already, when it went. */
		d->reported_broken = true;
		virtio_needs_reset(d, "no vhost-user backend");
		return;
	}
	if (v->vu.features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))
		features |= 1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
	r = vhost_user_set_features(&v->vu, features);
	if (r) {
		lost(v, "SET_FEATURES", r);
		return;
	}
	r = vhost_user_set_mem_table(&v->vu, d->mem, d->mem->memfd);
	if (r) {
		lost(v, "SET_MEM_TABLE", r);
		return;
	}
	for (unsigned q = 0; q < d->nr_queues; q++) {
		if (!d->vq[q].ready)
			continue;
		r = start_queue(v, q);
		if (r) {
			lost(v, "setting up a ring", r);
			return;
		}
	}
	v->started = true;
}

/* Takes the rings back: the backend stops them and says where it was. */
static void stop(struct vud *v)
{
	struct virtio_device *d = v->d;

	if (!v->started)
		return;
	for (unsigned q = 0; q < d->nr_queues; q++) {
		struct virtq *vq = &d->vq[q];
		uint16_t base;
		int r;

		if (!vq->ready)
			continue;
		r = vhost_user_get_vring_base(&v->vu, q, &base);
		if (r) {
			lost(v, "GET_VRING_BASE", r);
			return;
		}
		vq->last_avail = base;
		vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		v->given_call[q] = -1;
	}
	v->started = false;
}

static int watch_backend(struct vud *v)
{
	int r = virtio_watch_fd(v->d, v->vu.fd);

	if (r)
		vhost_user_close(&v->vu);
	return r;
}

/* After the driver reset a device whose backend was dropped: try again. */
static void reconnect(struct vud *v)
{
	struct virtio_device *d = v->d;
	uint64_t offered;
	int r;

	/* Quietly: a driver may reset in a loop while the backend is away. */
	v->vu.quiet = true;
	r = vhost_user_connect(&v->vu, v->socket);
	v->vu.quiet = false;
	if (r)
		return;
	offered = (v->vu.features & PASSED_FEATURES) | (1ULL << VIRTIO_F_VERSION_1);
	if (offered != d->host_features) {
		log_err("%s: the vhost-user backend at %s came back with other features: "
			"the device stays broken", d->name, v->socket);
		vhost_user_close(&v->vu);
		return;
	}
	if (watch_backend(v))
		return;
	v->lost = false;
	log_info("%s: reconnected to the vhost-user backend at %s", d->name, v->socket);
}

static void vud_reset(struct virtio_device *d)
{
	struct vud *v = d->priv;
	uint64_t one = 1;

	stop(v);
	/* A vCPU resets the device: the worker makes the new connection. */
	if (v->lost && write(v->reconnect_fd, &one, sizeof(one)) < 0)
		log_debug("%s: reconnect request: %s", d->name, strerror(errno));
}

static void vud_driver_ok(struct virtio_device *d)
{
	start(d->priv);
}

static void vud_drain(struct virtio_device *d)
{
	stop(d->priv);
}

static void vud_resume(struct virtio_device *d)
{
	start(d->priv);
}

static void vud_interrupts_changed(struct virtio_device *d)
{
	struct vud *v = d->priv;

	if (!v->started)
		return;
	for (unsigned q = 0; q < d->nr_queues; q++) {
		int fd = pick_call(v, q), r;

		if (!d->vq[q].ready || fd == v->given_call[q])
			continue;
		r = vhost_user_set_vring_fd(&v->vu, VHOST_USER_SET_VRING_CALL, q, fd);
		if (r) {
			lost(v, "SET_VRING_CALL", r);
			return;
		}
		v->given_call[q] = fd;
	}
}

static void vud_fd_ready(struct virtio_device *d, int fd)
{
	struct vud *v = d->priv;
	uint64_t n;
	uint8_t b;

	if (fd == v->reconnect_fd) {
		while (read(fd, &n, sizeof(n)) > 0)
			;
		if (v->lost)
			reconnect(v);
		return;
	}
	if (fd == v->vu.fd) {
		/* Between requests (they run under the lock) the backend has nothing to say. */
		ssize_t got = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (got == 0)
			lost(v, NULL, -EPIPE);
		else if (got > 0)
			lost(v, "a message kvmrun did not ask for", -EPROTO);
		else if (errno != EAGAIN && errno != EINTR)
			lost(v, NULL, -errno);
		return;
	}
	for (unsigned q = 0; q < d->nr_queues; q++) {
		if (fd == v->err_fd[q]) {
			char why[64];

			while (read(fd, &n, sizeof(n)) > 0)
				;
			/* A ring the guest broke, as the backend sees it: the guest resets. */
			snprintf(why, sizeof(why), "the vhost-user backend reported an error on queue %u", q);
			virtio_needs_reset(d, why);
			return;
		}
		if (fd != v->call_fd[q])
			continue;
		while (read(fd, &n, sizeof(n)) > 0)
			;
		d->transport->interrupt(d, q, false);
		return;
	}
}

static void vud_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vud *v = d->priv;

	virtio_config_copy(v->config, v->config_len, off, data, len);
}

static void vud_config_write(struct virtio_device *d, uint32_t off, const uint8_t *data,
			     uint32_t len)
{
	struct vud *v = d->priv;
	int r;

	/* Only virtio-blk has a writable field (writeback), and only its backend knows what it means. */
	if (d->device_id != VIRTIO_ID_BLOCK || v->lost || off >= v->config_len ||
	    len > v->config_len - off)
		return;
	r = vhost_user_set_config(&v->vu, off, data, len);
	if (r) {
		lost(v, "SET_CONFIG", r);
		return;
	}
	memcpy(v->config + off, data, len);
}

static int vud_save(struct virtio_device *d, struct state_writer *w)
{
	struct vud *v = d->priv;

	(void)w;
	if (d->device_id == VIRTIO_ID_FS) {
		/* The guest's open files and inode numbers live in virtiofsd. */
		log_err("%s: virtio-fs state lives in its vhost-user backend: a VM with --fs or "
			"--share cannot be saved", d->name);
		return -ENOTSUP;
	}
	if (v->started) {
		log_err("%s: its backend still runs the rings: pause the VM first", d->name);
		return -EBUSY;
	}
	return 0;
}

static int vud_restore(struct virtio_device *d, struct state_reader *r)
{
	struct vud *v = d->priv;

	(void)r;
	if (d->device_id == VIRTIO_ID_FS || v->lost)
		return -EINVAL;
	/* The rings go back to the backend at once unless the VM is paused (then: at resume). */
	if (!d->paused)
		start(v);
	return 0;
}

static void vud_destroy(struct virtio_device *d)
{
	struct vud *v = d->priv;

	if (!v)
		return;
	vhost_user_close(&v->vu);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (v->call_fd[q] >= 0)
			close(v->call_fd[q]);
		if (v->err_fd[q] >= 0)
			close(v->err_fd[q]);
	}
	if (v->reconnect_fd >= 0)
		close(v->reconnect_fd);
	free(v);
	d->priv = NULL;
}

static const struct virtio_device_ops vud_ops = {
	.config_read = vud_config_read,
	.config_write = vud_config_write,
	.fd_ready = vud_fd_ready,
	.reset = vud_reset,
	.drain = vud_drain,
	.resume = vud_resume,
	.driver_ok = vud_driver_ok,
	.interrupts_changed = vud_interrupts_changed,
	.save = vud_save,
	.restore = vud_restore,
	.destroy = vud_destroy,
};

/* The device type's configuration space and queue count, from the backend and the options. */
static int type_setup(struct vud *v, const struct vhost_user_dev_config *c, unsigned *nr_queues,
		      const char *name)
{
	unsigned n = c->num_queues ? c->num_queues : 1;
	uint32_t le;
	int r;

	if (c->device_id == VIRTIO_ID_FS) {
		if (strlen(c->tag) == 0 || strlen(c->tag) > FS_TAG_LEN) {
			log_err("%s: the tag must have 1 to %d bytes: '%s'", name, FS_TAG_LEN, c->tag);
			return -EINVAL;
		}
		memcpy(v->config, c->tag, strlen(c->tag));
		le = n;
		memcpy(v->config + FS_TAG_LEN, &le, 4);
		v->config_len = FS_CONFIG_LEN;
		*nr_queues = 1 + n;	/* hiprio, then the request queues */
	} else {
		if (!vhost_user_has(&v->vu, VHOST_USER_PROTOCOL_F_CONFIG)) {
			log_err("%s: the vhost-user-blk backend at %s offers no configuration space "
				"(VHOST_USER_PROTOCOL_F_CONFIG)", name, c->socket);
			return -ENOTSUP;
		}
		r = vhost_user_get_config(&v->vu, v->config, BLK_CONFIG_LEN);
		if (r) {
			log_err("%s: the vhost-user-blk backend at %s: GET_CONFIG: %s", name,
				c->socket, vhost_user_strerror(r));
			return r;
		}
		v->config_len = BLK_CONFIG_LEN;
		if (n > 1 && !(v->vu.features & (1ULL << VIRTIO_BLK_F_MQ))) {
			log_err("%s: the vhost-user-blk backend at %s has a single queue", name,
				c->socket);
			return -EINVAL;
		}
		uint16_t q16 = (uint16_t)n;

		memcpy(v->config + offsetof(struct virtio_blk_config, num_queues), &q16, 2);
		*nr_queues = n;
	}
	if (v->vu.max_queues && *nr_queues > v->vu.max_queues) {
		log_err("%s: the vhost-user backend at %s serves at most %u queues, %u asked for",
			name, c->socket, v->vu.max_queues, *nr_queues);
		return -EINVAL;
	}
	return 0;
}

int virtio_vhost_user_init(struct virtio_device *d, const struct vhost_user_dev_config *c,
			   const struct guest_mem *mem)
{
	const char *name = c->device_id == VIRTIO_ID_FS ? "vhost-user-fs" : "vhost-user-blk";
	unsigned nr_queues = 0, qsize = c->queue_size ? c->queue_size : VIRTQ_MAX_SIZE;
	struct vud *v;
	int r;

	if (c->device_id != VIRTIO_ID_FS && c->device_id != VIRTIO_ID_BLOCK)
		return -EINVAL;
	if (mem->memfd < 0) {
		log_err("%s: vhost-user needs guest RAM in shared memory (--mem-shared)", name);
		return -EINVAL;
	}
	if (qsize > VIRTQ_MAX_SIZE || (qsize & (qsize - 1))) {
		log_err("%s: queue-size must be a power of two up to %d", name, VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	if ((c->num_queues ? c->num_queues : 1) + (c->device_id == VIRTIO_ID_FS) > VIRTIO_MAX_QUEUES) {
		log_err("%s: at most %d queues", name, VIRTIO_MAX_QUEUES);
		return -EINVAL;
	}
	if (strlen(c->socket) >= sizeof(v->socket)) {
		log_err("%s: socket path too long: %s", name, c->socket);
		return -ENAMETOOLONG;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		v->call_fd[q] = v->err_fd[q] = v->given_call[q] = -1;
	v->reconnect_fd = -1;
	strcpy(v->socket, c->socket);
	vhost_user_init(&v->vu, name, -1);
	r = vhost_user_connect(&v->vu, c->socket);
	if (!r && !(v->vu.features & (1ULL << VIRTIO_F_VERSION_1))) {
		log_err("%s: the vhost-user backend at %s is not a virtio 1 device", name, c->socket);
		r = -ENOTSUP;
	}
	if (!r)
		r = type_setup(v, c, &nr_queues, name);
	if (!r)
		r = virtio_device_init(d, name, c->device_id, nr_queues,
				       v->vu.features & PASSED_FEATURES, &vud_ops, v, mem);
	if (r) {
		vhost_user_close(&v->vu);
		free(v);
		return r;
	}
	/* From here on virtio_device_destroy frees v (ops->destroy). */
	v->d = d;
	d->queue_max = (uint16_t)qsize;
	d->no_poll = true;
	d->live_blocker = "its vhost-user backend writes guest RAM where dirty tracking cannot see it";
	/* Waits for the backend end when the device stops. */
	v->vu.stop_fd = d->stop_fd;
	r = virtio_unwatch_queues(d);
	for (unsigned q = 0; q < nr_queues && !r; q++) {
		v->call_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = v->call_fd[q] < 0 ? -errno : virtio_watch_fd(d, v->call_fd[q]);
		if (!r) {
			v->err_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			r = v->err_fd[q] < 0 ? -errno : virtio_watch_fd(d, v->err_fd[q]);
		}
	}
	if (!r) {
		v->reconnect_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = v->reconnect_fd < 0 ? -errno : virtio_watch_fd(d, v->reconnect_fd);
	}
	if (!r)
		r = watch_backend(v);
	if (r) {
		log_err("%s: %s", name, strerror(-r));
		virtio_device_destroy(d);
	}
	return r;
}
