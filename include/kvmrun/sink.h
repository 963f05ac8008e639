/*
 * Guest output to a host fd (the UART's and the virtio console's stdout or
 * file) that can never block a vCPU, a device lock or a stop.  Writers
 * append to a bounded ring buffer and return at once; a writer thread drains
 * it into the fd, waiting for room with poll() so that it notices a stop.
 * When the buffer is full (the fd's reader stalled), new bytes are dropped
 * and counted; the count is reported once when the sink ends.  Host memory:
 * the buffer's capacity, fixed at init.
 */
#ifndef KVMRUN_SINK_H
#define KVMRUN_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SINK_CAPACITY		(1u << 20)	/* bytes buffered per sink */
#define SINK_FLUSH_MS		250		/* at the end: give up after this long without progress */

struct out_sink {
	const char *name;		/* "serial", "virtio-console": for the report */
	int fd;				/* -1: output discarded */
	pthread_mutex_t lock;
	uint8_t *buf;
	size_t cap, head, len;		/* ring: len bytes from head */
	uint64_t dropped, written;
	bool broken;			/* a write failed: everything after is dropped */
	int wake_efd;			/* data queued, or the end */
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
 * Flushes what is queued (giving up after SINK_FLUSH_MS without progress),
 * ends the thread, reports dropped bytes in one line, frees the buffer.
 */
void out_sink_destroy(struct out_sink *s);

#endif
