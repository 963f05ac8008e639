/* Non-blocking guest output to a host fd (see sink.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/sink.h"

int out_sink_init(struct out_sink *s, int fd, size_t cap, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->fd = fd;
	s->wake_efd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (fd < 0)
		return 0;
	s->buf = malloc(cap);
	s->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->buf || s->wake_efd < 0) {
		int e = s->buf ? -errno : -ENOMEM;

		free(s->buf);
		s->buf = NULL;
		if (s->wake_efd >= 0)
			close(s->wake_efd);
		s->wake_efd = -1;
		return e;
	}
	s->cap = cap;
	return 0;
}

static void wake(struct out_sink *s)
{
	uint64_t one = 1;

	if (write(s->wake_efd, &one, sizeof(one)) < 0) {
		/* Saturated: a wake-up is pending anyway. */
	}
}

void out_sink_write(struct out_sink *s, const void *p, size_t n)
{
	const uint8_t *src = p;
	size_t room, take;
	bool was_empty;

	if (s->fd < 0 || !n)
		return;
	pthread_mutex_lock(&s->lock);
	room = s->broken ? 0 : s->cap - s->len;
	take = n < room ? n : room;
	was_empty = !s->len;
	for (size_t done = 0; done < take;) {
		size_t tail = (s->head + s->len) % s->cap;
		size_t chunk = s->cap - tail < take - done ? s->cap - tail : take - done;

		memcpy(s->buf + tail, src + done, chunk);
		s->len += chunk;
		done += chunk;
	}
	s->dropped += n - take;
	pthread_mutex_unlock(&s->lock);
	if (take && was_empty)
		wake(s);
}

void out_sink_on_room(struct out_sink *s, void (*room)(void *opaque), void *opaque)
{
	/* Under the lock: once this returns, an old callback neither runs nor will. */
	pthread_mutex_lock(&s->lock);
	s->room = room;
	s->room_opaque = opaque;
	s->room_wanted = 0;
	pthread_mutex_unlock(&s->lock);
}

bool out_sink_reserve(struct out_sink *s, size_t n)
{
	bool ok;

	if (s->fd < 0)
		return true;
	pthread_mutex_lock(&s->lock);
	ok = s->broken || s->cap - s->len >= n;
	if (!ok)
		s->room_wanted = n;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Writes at most PIPE_BUF bytes once poll() said there is room: that never blocks on a pipe. */
static void write_some(struct out_sink *s)
{
	size_t n;
	ssize_t w;

	pthread_mutex_lock(&s->lock);
	n = s->cap - s->head < s->len ? s->cap - s->head : s->len;
	pthread_mutex_unlock(&s->lock);
	if (n > PIPE_BUF)
		n = PIPE_BUF;
	/* Only this thread removes bytes, so [head, head + n) stays put without the lock. */
	w = write(s->fd, s->buf + s->head, n);
	if (w < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	pthread_mutex_lock(&s->lock);
	if (w <= 0) {
		if (!s->broken)
			log_warn("%s: output failed (%s); further guest output is dropped", s->name,
				 w < 0 ? strerror(errno) : "nothing written");
		s->broken = true;
		s->dropped += s->len;
		s->len = 0;
	} else {
		s->head = (s->head + (size_t)w) % s->cap;
		s->len -= (size_t)w;
		s->written += (uint64_t)w;
	}
	/* The callback runs under the lock (it must take no other lock: it only kicks a queue). */
	if (s->room_wanted && (s->broken || s->cap - s->len >= s->room_wanted)) {
		s->room_wanted = 0;
		if (s->room)
			s->room(s->room_opaque);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *sink_thread(void *arg)
{
	struct out_sink *s = arg;
	int64_t last_progress = clock_now_ms(), last_wake = 0;

	pthread_setname_np(pthread_self(), "sink");
	if (sandbox_enter(SANDBOX_SINK, s->name))
		return NULL;
	for (;;) {
		struct pollfd pfd[2] = { { s->wake_efd, POLLIN, 0 }, { s->fd, POLLOUT, 0 } };
		size_t len;
		bool ending;
		uint64_t v;
		int timeout = -1;

		pthread_mutex_lock(&s->lock);
		len = s->len;
		ending = s->ending;
		pthread_mutex_unlock(&s->lock);
		if (ending && !len)
			return NULL;
		if (ending) {
			int64_t left = last_progress + SINK_FLUSH_MS - clock_now_ms();

			if (left <= 0)
				return NULL;
			timeout = (int)left;
		}
		if (poll(pfd, len ? 2 : 1, timeout) < 0 && errno != EINTR)
			return NULL;
		if (pfd[0].revents & POLLIN) {
			if (read(s->wake_efd, &v, sizeof(v)) < 0) {
				/* Raced with another read: nothing to do. */
			}
			/*
			 * Woken again soon after the last wake-up: a burst (a guest
			 * printing a byte per exit).  Let it gather, so that it costs
			 * a wake-up per SINK_BATCH_MS, not per byte; the first byte
			 * after a quiet spell goes out at once.
			 */
			int64_t now = clock_now_ms();

			if (!ending && !len && now - last_wake < SINK_BURST_MS)
				nanosleep(&(struct timespec){ 0, SINK_BATCH_MS * 1000000L }, NULL);
			last_wake = now;
		}
		if (!ending)
			last_progress = clock_now_ms();
		if (len && (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			write_some(s);
			last_progress = clock_now_ms();
		}
	}
}

int out_sink_start(struct out_sink *s)
{
	int r;

	if (s->fd < 0)
		return 0;
	r = pthread_create(&s->thread, NULL, sink_thread, s);
	if (r)
		return -r;
	s->started = true;
	return 0;
}

bool out_sink_drain(struct out_sink *s, int timeout_ms)
{
	int64_t end = clock_now_ms() + timeout_ms;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool empty = !s->started || s->broken || !s->len;
		pthread_mutex_unlock(&s->lock);
		if (empty)
			return true;
		if (clock_now_ms() >= end)
			return false;
		nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
	}
}

void out_sink_destroy(struct out_sink *s)
{
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->ending = true;
		pthread_mutex_unlock(&s->lock);
		wake(s);
		pthread_join(s->thread, NULL);
		s->started = false;
	}
	s->dropped += s->len;
	s->len = 0;
	if (s->dropped)
		log_warn("%s: %llu bytes of guest output dropped: the output did not drain",
			 s->name, (unsigned long long)s->dropped);
	free(s->buf);
	s->buf = NULL;
	if (s->wake_efd >= 0)
		close(s->wake_efd);
	s->wake_efd = -1;
	pthread_mutex_destroy(&s->lock);
}
