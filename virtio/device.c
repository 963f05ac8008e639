/*
 * The transport-agnostic half of a virtio device: feature negotiation, the
 * status state machine, queue enabling, and the worker thread that serves
 * queue notifications (eventfds, signalled by KVM ioeventfds) so that vCPU
 * threads never do device work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/virtio.h"

int virtio_device_init(struct virtio_device *d, const char *name, uint32_t device_id,
		       unsigned nr_queues, uint64_t host_features,
		       const struct virtio_device_ops *ops, void *priv,
		       const struct guest_mem *mem)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->device_id = device_id;
	d->nr_queues = nr_queues;
	d->queue_max = VIRTQ_MAX_SIZE;
	d->host_features = host_features | (1ULL << VIRTIO_F_VERSION_1);
	d->ops = ops;
	d->priv = priv;
	d->mem = mem;
	d->epfd = d->stop_fd = d->transport_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->notify_fd[q] = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->resumed, NULL);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->stop_fd < 0)
		goto fail;
	ev.data.fd = d->stop_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stop_fd, &ev) < 0)
		goto fail;
	for (unsigned q = 0; q < nr_queues; q++) {
		d->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ev.data.fd = d->notify_fd[q];
		if (d->notify_fd[q] < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->notify_fd[q], &ev) < 0)
			goto fail;
	}
	return 0;
fail:
	/* The caller frees priv itself on failure: release only what was opened here. */
	r = -errno;
	d->ops = NULL;
	virtio_device_destroy(d);
	return r;
}

int virtio_watch_fd(struct virtio_device *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int virtio_unwatch_fd(struct virtio_device *d, int fd)
{
	return epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int virtio_unwatch_queues(struct virtio_device *d)
{
	for (unsigned q = 0; q < d->nr_queues; q++) {
		int r = virtio_unwatch_fd(d, d->notify_fd[q]);

		if (r)
			return r;
	}
	return 0;
}

void virtio_interrupts_changed(struct virtio_device *d)
{
	if (d->ops && d->ops->interrupts_changed)
		d->ops->interrupts_changed(d);
}

int virtio_watch_transport_fd(struct virtio_device *d, int fd)
{
	int r = virtio_watch_fd(d, fd);

	if (!r)
		d->transport_fd = fd;
	return r;
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/*
 * After the device consumed buffers, watch the ring for a short while with
 * notifications still off: a driver that submits its next request within
 * the window saves a notification (on PVM one costs about 50 us of exit).
 * The window adapts per queue, as QEMU's poll-max-ns does: it doubles
 * (from 4 us, up to VIRTIO_POLL_NS) when the next notification came soon
 * after the last wait began, and halves when polling found nothing, so an
 * idle or starved queue stops burning CPU.
 */
static bool poll_avail(struct virtio_device *d, unsigned q)
{
	struct virtq *vq = &d->vq[q];
	uint64_t start = clock_now_ns(), now = start, end = start + d->poll_ns[q];

	while (now < end) {
		if (virtq_has_avail(vq))
			return true;
		__builtin_ia32_pause();
		now = clock_now_ns();
	}
	d->poll_ns[q] /= 2;
	d->wait_start[q] = now;
	return false;
}

/* A notification for q arrived: was the wait short enough that polling would have caught it? */
static void poll_adapt(struct virtio_device *d, unsigned q)
{
	uint64_t waited = clock_now_ns() - d->wait_start[q];

	if (d->wait_start[q] && waited < VIRTIO_POLL_NS)
		d->poll_ns[q] = d->poll_ns[q] ? d->poll_ns[q] * 2 : 4000;
	if (d->poll_ns[q] > VIRTIO_POLL_NS)
		d->poll_ns[q] = VIRTIO_POLL_NS;
	d->wait_start[q] = 0;
}

static uint16_t load_avail_idx(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

/*
 * Serves queue q until it is empty (and stays empty for VIRTIO_POLL_NS),
 * then asks the driver for the next notification and looks once more: a
 * buffer added in between would otherwise wait for a notification the
 * driver thinks it need not send.  Each round pops at most a ring's worth
 * (chains and bytes), and a queue still busy after VIRTIO_SERVE_ROUNDS or
 * VIRTIO_PASS_NS is left for the next pass of the worker (see virtio.h).
 */
static void serve(struct virtio_device *d, unsigned q, bool replied)
{
	struct virtq *vq = &d->vq[q];
	uint64_t start = clock_now_ns();

	if (!d->ops->queue_notify)
		return;
	for (unsigned round = 0;; round++) {
		if (!(d->status & VIRTIO_CONFIG_S_DRIVER_OK) || !vq->ready || vq->broken)
			return;
		if (round == VIRTIO_SERVE_ROUNDS || (round && clock_now_ns() - start >= VIRTIO_PASS_NS)) {
			virtio_notify_queue(d, q);
			return;
		}
		uint16_t before = vq->last_avail;
		/* Nothing there at all (not: buffers the device leaves, such as a receive queue's). */
		bool was_empty = load_avail_idx(vq) == before;

		d->serve_budget = vq->num;
		d->serve_bytes = VIRTIO_ROUND_BYTES;
		vq->budget = &d->serve_budget;
		vq->budget_bytes = &d->serve_bytes;
		d->ops->queue_notify(d, q);
		vq->budget = NULL;
		vq->budget_bytes = NULL;
		if (!vq->ready || vq->broken)
			return;
		/* The device comes back to the queue by itself (a completion): no need to watch or ask. */
		if (d->ops->revisits && d->ops->revisits(d, q))
			return;
		/* Only a queue the device just consumed from, or answered, is worth watching. */
		if ((vq->last_avail != before || (replied && round == 0)) && !d->no_poll &&
		    poll_avail(d, q))
			continue;
		virtq_set_notification(vq, true);
		/*
		 * Look once more: the driver may have added a buffer before it saw
		 * the request for notifications.  But a device waiting for host
		 * data (receive queues) or tokens leaves buffers posted: no spin.
		 */
		if ((vq->last_avail == before && !was_empty) || !virtq_has_avail(vq))
			return;
	}
}

void virtio_serve_queue(struct virtio_device *d, unsigned q)
{
	serve(d, q, false);
}

void virtio_serve_queue_replied(struct virtio_device *d, unsigned q)
{
	serve(d, q, true);
}

static void *worker(void *arg)
{
	struct virtio_device *d = arg;
	struct epoll_event ev[8];

	if (sandbox_enter(SANDBOX_DEVICE, d->name)) {
		/* Running unfiltered is not an option: nothing gets served, the guest sees a dead device. */
		log_err("%s: its worker stops", d->name);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (d->paused && !d->stopping)
			pthread_cond_wait(&d->resumed, &d->lock);
		pthread_mutex_unlock(&d->lock);

		int n = epoll_wait(d->epfd, ev, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s: epoll_wait: %s", d->name, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			unsigned q;

			if (fd == d->stop_fd)
				return NULL;
			for (q = 0; q < d->nr_queues && d->notify_fd[q] != fd; q++)
				;
			pthread_mutex_lock(&d->lock);
			if (d->paused) {
				/* Level-triggered: the fd is seen again once the device resumes. */
			} else if (q < d->nr_queues) {
				drain(fd);
				poll_adapt(d, q);
				virtio_serve_queue(d, q);
			} else if (fd == d->transport_fd) {
				drain(fd);
				d->transport->fd_ready(d);
			} else if (d->ops->fd_ready) {
				d->ops->fd_ready(d, fd);
			}
			pthread_mutex_unlock(&d->lock);
		}
	}
}

int virtio_device_start(struct virtio_device *d)
{
	int r = d->ops && d->ops->start ? d->ops->start(d) : 0;

	if (r)
		return r;
	r = pthread_create(&d->thread, NULL, worker, d);
	if (r) {
		log_err("%s: cannot start its worker thread: %s", d->name, strerror(r));
		return -r;
	}
	d->thread_started = true;
	return 0;
}

void virtio_device_stop(struct virtio_device *d)
{
	uint64_t one = 1;

	if (d->ops && d->ops->stop)
		d->ops->stop(d);
	if (d->thread_started && write(d->stop_fd, &one, sizeof(one)) < 0)
		log_warn("%s: cannot stop its worker: %s", d->name, strerror(errno));
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->resumed);
	pthread_mutex_unlock(&d->lock);
}

void virtio_device_pause(struct virtio_device *d)
{
	pthread_mutex_lock(&d->lock);
	d->paused = true;
	if (d->ops && d->ops->drain)
		d->ops->drain(d);
	pthread_mutex_unlock(&d->lock);
}

void virtio_device_resume(struct virtio_device *d)
{
	pthread_mutex_lock(&d->lock);
	d->paused = false;
	if (d->ops && d->ops->resume)
		d->ops->resume(d);
	pthread_cond_broadcast(&d->resumed);
	pthread_mutex_unlock(&d->lock);
}

void virtio_device_destroy(struct virtio_device *d)
{
	uint64_t one = 1;

	if (d->thread_started) {
		if (write(d->stop_fd, &one, sizeof(one)) < 0)
			log_warn("%s: cannot stop its worker: %s", d->name, strerror(errno));
		pthread_mutex_lock(&d->lock);
		d->stopping = true;
		pthread_cond_broadcast(&d->resumed);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
		d->thread_started = false;
	}
	if (d->ops && d->ops->destroy)
		d->ops->destroy(d);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->notify_fd[q] >= 0)
			close(d->notify_fd[q]);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	pthread_cond_destroy(&d->resumed);
	pthread_mutex_destroy(&d->lock);
}

/*
 * Whether a device error may be logged: the first VIRTIO_LOG_BURST of them,
 * then at most one a second, each saying how many were left out.
 */
static bool may_log_error(struct virtio_device *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (d->broken_logged < VIRTIO_LOG_BURST || now.tv_sec > d->broken_last_log) {
		d->broken_logged++;
		d->broken_last_log = now.tv_sec;
		return true;
	}
	d->broken_suppressed++;
	return false;
}

void virtio_needs_reset(struct virtio_device *d, const char *why)
{
	if (!d->reported_broken && may_log_error(d)) {
		if (d->broken_suppressed)
			log_warn("%s: %s; the device needs a reset (%u more such reports left out)",
				 d->name, why, d->broken_suppressed);
		else
			log_warn("%s: %s; the device needs a reset", d->name, why);
		d->broken_suppressed = 0;
	}
	d->reported_broken = true;
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	d->config_generation++;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		d->transport->interrupt(d, 0, true);
}

static void device_reset(struct virtio_device *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtq_reset(&d->vq[q]);
	d->guest_features = 0;
	d->status = 0;
	d->reported_broken = false;
}

/* Called with d->lock held. */
void virtio_set_status(struct virtio_device *d, uint8_t status)
{
	uint8_t old = d->status;

	if (status == 0) {
		device_reset(d);
		return;
	}
	/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1. */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((d->guest_features & ~d->host_features) ||
	     !(d->guest_features & (1ULL << VIRTIO_F_VERSION_1))))
		status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	d->status = (uint8_t)(status | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if (!(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			virtio_needs_reset(d, "driver set DRIVER_OK without FEATURES_OK");
			return;
		}
		/* Catch up on anything queued before DRIVER_OK. */
		for (unsigned q = 0; q < d->nr_queues; q++) {
			uint64_t one = 1;

			if (d->vq[q].ready && write(d->notify_fd[q], &one, sizeof(one)) < 0)
				log_debug("%s: queue %u kick: %s", d->name, q, strerror(errno));
		}
		if (d->ops->driver_ok)
			d->ops->driver_ok(d);
	}
}

void virtio_notify_queue(struct virtio_device *d, unsigned q)
{
	uint64_t one = 1;

	if (q < d->nr_queues && write(d->notify_fd[q], &one, sizeof(one)) < 0)
		log_debug("%s: queue %u notify: %s", d->name, q, strerror(errno));
}

void virtio_enable_queue(struct virtio_device *d, struct virtq *vq)
{
	if (vq->ready)
		return;		/* live already: enabling it again would replay or unmap it */
	if (virtq_enable(vq, d->mem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			 virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC))) {
		virtio_needs_reset(d, "driver enabled a queue with impossible ring addresses or size");
		return;
	}
	vq->ready = true;
}

int virtio_device_save(struct virtio_device *d, struct state_writer *w)
{
	state_put_u64(w, d->host_features);
	state_put_u64(w, d->guest_features);
	state_put_u8(w, d->status);
	state_put_u32(w, d->config_generation);
	state_put_u32(w, d->nr_queues);
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtq_save(&d->vq[q], w);
	if (d->ops->save) {
		int r = d->ops->save(d, w);

		if (r)
			return r;
	}
	return w->err;
}

/* Status bits a driver can have set, as virtio_set_status leaves them. */
static bool status_possible(const struct virtio_device *d, uint8_t status)
{
	/*
	 * DRIVER_OK without FEATURES_OK is possible without NEEDS_RESET too: a
	 * driver may (against 2.1.2) clear FEATURES_OK after DRIVER_OK, and
	 * virtio_set_status lets it (found by fuzz_mmio's save/restore check).
	 */
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return true;
	/* FEATURES_OK sticks only for an offered subset with VERSION_1. */
	return !(d->guest_features & ~d->host_features) &&
	       (d->guest_features & (1ULL << VIRTIO_F_VERSION_1));
}

int virtio_device_restore(struct virtio_device *d, struct state_reader *r)
{
	if (state_get_u64(r) != d->host_features)
		state_reader_fail(r);	/* a device of another configuration */
	d->guest_features = state_get_u64(r);
	d->status = state_get_u8(r);
	d->config_generation = state_get_u32(r);
	if (state_get_u32(r) != d->nr_queues)
		state_reader_fail(r);
	if (!r->err && !status_possible(d, d->status))
		state_reader_fail(r);
	for (unsigned q = 0; q < d->nr_queues && !r->err; q++)
		virtq_restore(&d->vq[q], d->mem, r);
	if (!r->err && d->ops->restore && d->ops->restore(d, r) < 0)
		state_reader_fail(r);
	if (r->err) {
		device_reset(d);
		d->config_generation = 0;
		return -EINVAL;
	}
	/* The host flag follows the status: a broken device is not logged twice. */
	d->reported_broken = d->status & VIRTIO_CONFIG_S_NEEDS_RESET;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		for (unsigned q = 0; q < d->nr_queues; q++)
			if (d->vq[q].ready)
				virtio_notify_queue(d, q);
	return 0;
}

void virtio_signal_used(struct virtio_device *d, unsigned q, uint16_t old_used)
{
	if (d->vq[q].used_idx != old_used && virtq_should_interrupt(&d->vq[q], old_used))
		d->transport->interrupt(d, q, false);
}

void virtio_config_access(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	if (is_write) {
		if (d->ops->config_write)
			d->ops->config_write(d, off, data, len);
	} else if (d->ops->config_read) {
		d->ops->config_read(d, off, data, len);
	} else {
		memset(data, 0, len);
	}
}

void virtio_config_copy(const void *cfg, size_t cfg_len, uint32_t off, uint8_t *data,
			uint32_t len)
{
	memset(data, 0, len);
	if (off < cfg_len)
		memcpy(data, (const uint8_t *)cfg + off, len < cfg_len - off ? len : cfg_len - off);
}
