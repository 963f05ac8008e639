/*
 * A virtio driver in fake guest memory for device unit tests: queues laid
 * out in RAM, chains added as a driver adds them, and the worker's steps
 * (virtio_serve_queue, fd_ready) run on the test's thread, without KVM.
 */
#ifndef KVMRUN_TEST_FAKE_DRIVER_H
#define KVMRUN_TEST_FAKE_DRIVER_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kvmrun/mem.h"
#include "kvmrun/virtio.h"

#define FD_QUEUES	0x1000ULL	/* queue q: desc at +q*0x1000, avail +0x400, used +0x800 */
#define FD_QSIZE	64

struct fd_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct fake_driver {
	struct virtio_device *d;
	struct guest_mem *mem;
	uint16_t next_desc[VIRTIO_MAX_QUEUES];
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	unsigned interrupts;
};

static unsigned fd_interrupts;

static void fd_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	(void)d;
	(void)q;
	(void)config;
	fd_interrupts++;
}

static const struct virtio_transport_ops fd_transport = { .interrupt = fd_interrupt };

static inline uint64_t fd_desc(unsigned q) { return FD_QUEUES + q * 0x1000ULL; }
static inline uint64_t fd_avail(unsigned q) { return fd_desc(q) + 0x400; }
static inline uint64_t fd_used(unsigned q) { return fd_desc(q) + 0x800; }

/* Features (all offered but EVENT_IDX), FEATURES_OK, every queue, DRIVER_OK. */
static inline void fd_init(struct fake_driver *f, struct virtio_device *d, struct guest_mem *mem)
{
	memset(f, 0, sizeof(*f));
	f->d = d;
	f->mem = mem;
	d->transport = &fd_transport;
	d->guest_features = d->host_features & ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < d->nr_queues; q++) {
		struct virtq *vq = &d->vq[q];

		vq->num = FD_QSIZE;
		vq->desc_gpa = fd_desc(q);
		vq->avail_gpa = fd_avail(q);
		vq->used_gpa = fd_used(q);
		ck_assert_int_eq(virtq_enable(vq, mem, false,
					      virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC)), 0);
		vq->ready = true;
	}
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	/* DRIVER_OK's catch-up kicks. */
	for (unsigned q = 0; q < d->nr_queues; q++) {
		uint64_t v;

		while (read(d->notify_fd[q], &v, sizeof(v)) > 0)
			;
	}
}

static inline void *fd_ptr(struct fake_driver *f, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(f->mem, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Makes a chain of n segments available on queue q; returns its head. */
static inline uint16_t fd_add(struct fake_driver *f, unsigned q, const struct fd_seg *s,
			      unsigned n)
{
	struct vring_desc *desc = fd_ptr(f, fd_desc(q), 16ULL * FD_QSIZE);
	struct vring_avail *avail = fd_ptr(f, fd_avail(q), 6 + 2ULL * FD_QSIZE);
	uint16_t head = f->next_desc[q];

	for (unsigned i = 0; i < n; i++) {
		uint16_t at = (uint16_t)((head + i) % FD_QSIZE);

		desc[at] = (struct vring_desc){
			.addr = s[i].gpa, .len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((at + 1) % FD_QSIZE),
		};
	}
	f->next_desc[q] = (uint16_t)((head + n) % FD_QSIZE);
	avail->ring[f->avail_idx[q] % FD_QSIZE] = head;
	__atomic_store_n(&avail->idx, ++f->avail_idx[q], __ATOMIC_RELEASE);
	return head;
}

static inline uint16_t fd_used_idx(struct fake_driver *f, unsigned q)
{
	struct vring_used *used = fd_ptr(f, fd_used(q), 6 + 8ULL * FD_QSIZE);

	return __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
}

static inline struct vring_used_elem fd_used_elem(struct fake_driver *f, unsigned q, uint16_t i)
{
	struct vring_used *used = fd_ptr(f, fd_used(q), 6 + 8ULL * FD_QSIZE);

	return used->ring[i % FD_QSIZE];
}

/* The worker's step for a notified queue. */
static inline void fd_serve(struct fake_driver *f, unsigned q)
{
	pthread_mutex_lock(&f->d->lock);
	virtio_serve_queue(f->d, q);
	pthread_mutex_unlock(&f->d->lock);
}

/*
 * The rest of the worker's loop: whatever its epoll set reports (queues
 * kicked, I/O completions, a tap), until used index want on queue q or
 * timeout_ms without events.  Returns the used index then.
 */
static inline uint16_t fd_run(struct fake_driver *f, unsigned q, uint16_t want, int timeout_ms)
{
	struct virtio_device *d = f->d;

	while (fd_used_idx(f, q) != want) {
		struct epoll_event ev[8];
		int n = epoll_wait(d->epfd, ev, 8, timeout_ms);

		/* io_uring runs its completions as task work, which interrupts the wait. */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			unsigned k;
			uint64_t v;

			for (k = 0; k < d->nr_queues && d->notify_fd[k] != fd; k++)
				;
			if (k < d->nr_queues) {
				while (read(fd, &v, sizeof(v)) > 0)
					;
				fd_serve(f, k);
			} else if (fd != d->stop_fd && d->ops->fd_ready) {
				pthread_mutex_lock(&d->lock);
				d->ops->fd_ready(d, fd);
				pthread_mutex_unlock(&d->lock);
			}
		}
	}
	return fd_used_idx(f, q);
}

#endif
