/*
 * Guest output to a host fd (stdout, or a --serial file) that can never
 * block a vCPU, a device lock or a stop.  The VM owns one per fd and every
 * device writing there shares it, so that their output keeps its order.  Writers
 * append to a bounded ring buffer and return at once; a writer thread drains
 * it into the fd, waiting for room with poll() so that it notices a stop.
 * When the buffer is full (the fd's reader stalled), new bytes are dropped
 * and counted; the count is reported once when the sink ends.  A writer
 * that can wait (virtio-console: the guest's buffers stay queued) asks for
 * room first (out_sink_reserve) and is called back when there is, so that
 * it loses nothing.  Host memory: the buffer's capacity, fixed at init.
 */
#ifndef KVMRUN_SINK_H
#define KVMRUN_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SINK_CAPACITY		(2u << 20)	/* bytes buffered per output */
#define SINK_FLUSH_MS		250		/* at the end: give up after this long without progress */
#define SINK_BATCH_MS		2		/* in a burst, output gathered after a wake-up */
#define SINK_BURST_MS		10		/* wake-ups closer than this are a burst */

struct out_sink {
	const char *name;		/* "serial", "virtio-console": for the report */
	int fd;				/* -1: output discarded */
	pthread_mutex_t lock;
	uint8_t *buf;
	size_t cap, head, len;		/* ring: len bytes from head */
	uint64_t dropped, written;
	bool broken;			/* a write failed: everything after is dropped */
	int wake_efd;			/* data queued, or the end */
	/* out_sink_reserve: who waits for room, and how much. */
	void (*room)(void *opaque);
	void *room_opaque;
	size_t room_wanted;		/* 0: nobody waits */
	bool ending;
	pthread_t thread;
	bool started;
};

/* fd may be -1 (nothing is written).  0 or -errno.  The caller keeps owning fd. */
int out_sink_init(struct out_sink *s, int fd, size_t cap, const char *name);
/* Starts the writer thread (none for fd -1).  0 or -errno. */
int out_sink_start(struct out_sink *s);
/* Queues n bytes; what does not fit is dropped and counted.  Never blocks on I/O. */
void out_sink_write(struct out_sink *s, const void *p, size_t n);
/*
 * Who out_sink_reserve calls back: from the writer thread with the sink's
 * lock held, so it must take no lock itself (kicking a queue's eventfd is
 * what it is for).  NULL: nobody; after the call no old callback runs.
 */
void out_sink_on_room(struct out_sink *s, void (*room)(void *opaque), void *opaque);
/*
 * Is there room for n more bytes (n at most the capacity)?  If not, the
 * room callback runs once there is.  A sink that discards (fd -1) or whose
 * fd failed always has room.
 */
bool out_sink_reserve(struct out_sink *s, size_t n);
/*
 * Waits until what is queued now has been written (or the output failed),
 * at most timeout_ms: a paused VM's output is out before anyone looks.
 * true when it was.
 */
bool out_sink_drain(struct out_sink *s, int timeout_ms);
/*
 * Flushes what is queued (giving up after SINK_FLUSH_MS without progress),
 * ends the thread, reports dropped bytes in one line, frees the buffer.
 */
void out_sink_destroy(struct out_sink *s);

#endif
