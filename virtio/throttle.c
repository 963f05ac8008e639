/* Rate limits in a device's worker (virtio.h: struct virtio_throttle). */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"

int virtio_throttle_init(struct virtio_device *d, struct virtio_throttle *t,
			 const struct rate_limit_params *p)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->params = *p;
	rate_limiter_init(&t->rl, p, clock_now_ns());
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->timer_fd < 0)
		return -errno;
	r = virtio_watch_fd(d, t->timer_fd);
	if (r) {
		close(t->timer_fd);
		t->timer_fd = -1;
	}
	return r;
}

void virtio_throttle_destroy(struct virtio_throttle *t)
{
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	t->timer_fd = -1;
}

bool virtio_throttle_admit(struct virtio_device *d, struct virtio_throttle *t, unsigned q)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	uint64_t wait;

	if (!rate_limit_params_set(&t->params))
		return true;
	wait = rate_limiter_wait_ns(&t->rl, clock_now_ns());
	if (!wait)
		return true;
	t->waiting |= 1u << q;
	if (t->armed)
		return false;	/* the bucket's next token is the same for every queue */
	its.it_value.tv_sec = (time_t)(wait / 1000000000ULL);
	its.it_value.tv_nsec = (long)(wait % 1000000000ULL);
	if (timerfd_settime(t->timer_fd, 0, &its, NULL) < 0) {
		/* No timer, no wait: taking the request beats leaving the queue stuck. */
		log_warn("%s: rate limit timer: %s", d->name, strerror(errno));
		return true;
	}
	t->armed = true;
	return false;
}

void virtio_throttle_take(struct virtio_throttle *t, uint64_t ops, uint64_t bytes)
{
	if (rate_limit_params_set(&t->params))
		rate_limiter_consume(&t->rl, ops, bytes, clock_now_ns());
}

static void wake_waiting(struct virtio_device *d, struct virtio_throttle *t)
{
	uint32_t w = t->waiting;

	t->waiting = 0;
	for (unsigned q = 0; q < d->nr_queues; q++)
		if (w & (1u << q))
			virtio_notify_queue(d, q);
}

bool virtio_throttle_fd_ready(struct virtio_device *d, struct virtio_throttle *t, int fd)
{
	uint64_t n;

	if (fd != t->timer_fd)
		return false;
	while (read(fd, &n, sizeof(n)) > 0)
		;
	t->armed = false;
	wake_waiting(d, t);
	return true;
}

void virtio_throttle_set(struct virtio_device *d, struct virtio_throttle *t,
			 const struct rate_limit_params *p)
{
	t->params = *p;
	rate_limiter_set(&t->rl, p, clock_now_ns());
	/* An armed timer may be far off under the old limit: look again now. */
	wake_waiting(d, t);
}
