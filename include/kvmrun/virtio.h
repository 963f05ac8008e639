/*
 * Virtio 1.2 devices (modern only): split virtqueues, a transport-agnostic
 * device model with one worker thread per device, and the transports that
 * bind a device to the guest (virtio/mmio.c).
 */
#ifndef KVMRUN_VIRTIO_H
#define KVMRUN_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvmrun/mem.h"
#include "kvmrun/ratelimit.h"
#include "kvmrun/state.h"

#define VIRTIO_MAX_QUEUES	16
#define VIRTQ_MAX_SIZE		256	/* queue size we offer */
#define VIRTQ_MAX_SEGS		256	/* segments in one chain, indirect ones included */
#define VIRTQ_MAX_INDIRECT	1024	/* entries in one indirect table */
#define VIRTIO_LOG_BURST	64	/* device errors logged before rate limiting (1/s) */
#define VIRTIO_POLL_NS		32000	/* a busy queue is watched this long before notifications */

/* ---- split virtqueue ---- */

struct virtq {
	/* Set by the driver through the transport. */
	uint16_t num;
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Device progress: plain state, saved and restored with the device. */
	uint16_t last_avail;
	uint16_t used_idx;
	bool event_idx;
	bool broken;		/* a bad chain was seen: no more processing until reset */
	/* Host views of the rings, checked against guest memory when enabled. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	/*
	 * Host side, not ring state: the worker's allowance for the round it
	 * is serving (virtio_serve_queue; the count lives in the device), NULL
	 * outside a round.  While set, virtq_pop() hands out at most *budget
	 * more chains, and once it is spent virtq_has_avail() says there are
	 * none, so that a device loop of the form "while has_avail: pop" ends
	 * too.  Never saved.
	 */
	uint16_t *budget;
	/*
	 * Bytes of buffers the round may still take (with budget, or NULL): a
	 * chain that spends them ends the round, as a spent budget does.
	 */
	uint64_t *budget_bytes;
	/* Where the rings are: writes to the used ring are marked for a migration. */
	const struct guest_mem *mem;
};

/* One chain popped from the available ring: readable segments, then writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	size_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/*
 * Checks the ring addresses and sizes against guest memory and maps them.
 * 0, or -EINVAL when the driver set up something impossible.
 */
int virtq_enable(struct virtq *vq, const struct guest_mem *mem, bool event_idx, bool indirect);
void virtq_reset(struct virtq *vq);

/*
 * The ring state (num, ready, ring addresses, last_avail, used_idx,
 * event_idx, indirect, broken), not the host views or the budget.
 * virtq_restore replaces vq with a record and, when it says ready, maps the
 * rings again through virtq_enable: 0, or -EINVAL (the record is corrupt or
 * its rings do not fit mem; vq is then reset).
 */
void virtq_save(const struct virtq *vq, struct state_writer *w);
int virtq_restore(struct virtq *vq, const struct guest_mem *mem, struct state_reader *r);

/*
 * Pops the next available chain.  1: *c filled; 0: nothing available;
 * -EINVAL: the chain is malformed (out of range, loop, too long, wrong
 * direction, nested indirect); the queue is then marked broken.
 */
int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c);

/* Returns a chain to the driver with len bytes written into it. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* After pushes: does the driver want an interrupt (flags or used_event)? old = used idx before. */
bool virtq_should_interrupt(struct virtq *vq, uint16_t old_used);

/* Are there chains the device has not popped yet (and may pop now: see budget)? */
bool virtq_has_avail(struct virtq *vq);

/* Asks the driver for (or spares it) notifications of new buffers. */
void virtq_set_notification(struct virtq *vq, bool enable);

/* Copies between a chain and a flat buffer (readable part / writable part). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

/* ---- device model ---- */

struct virtio_device;

struct virtio_device_ops {
	/* Device-specific configuration space (offsets from its start). */
	void (*config_read)(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_device *d, uint32_t off, const uint8_t *data,
			     uint32_t len);
	/* The driver notified queue q: runs on the device's worker thread, with d->lock held. */
	void (*queue_notify)(struct virtio_device *d, unsigned q);
	/* Another watched fd became readable (virtio_watch_fd), worker thread, lock held. */
	void (*fd_ready)(struct virtio_device *d, int fd);
	/* The driver reset the device (lock held). */
	void (*reset)(struct virtio_device *d);
	/*
	 * The VM is stopping: abandon long host operations now (optional).
	 * Called from another thread without the lock, maybe while the
	 * worker is inside queue_notify.
	 */
	void (*stop)(struct virtio_device *d);
	/*
	 * The VM pauses: complete every request in flight and flush what the
	 * device buffers on the host, so that nothing touches guest memory
	 * until the device resumes (lock held, the pausing thread; optional).
	 */
	void (*drain)(struct virtio_device *d);
	/* The pause is over: undo what drain did (lock held; optional). */
	void (*resume)(struct virtio_device *d);
	/* The driver set DRIVER_OK, after the status checks (lock held; optional). */
	void (*driver_ok)(struct virtio_device *d);
	/*
	 * The transport's interrupt set-up changed (an MSI-X vector masked,
	 * unmasked or reassigned): transport->call_fd may answer otherwise
	 * now (lock held; optional).
	 */
	void (*interrupts_changed)(struct virtio_device *d);
	/* Starts threads of the device type's own, before the worker (optional). */
	int (*start)(struct virtio_device *d);
	/* Frees the device's own state (after the worker stopped). */
	void (*destroy)(struct virtio_device *d);
	/*
	 * The device type's own guest-visible state (config fields the
	 * driver can change, requests it holds), after the common virtio
	 * state; optional when it has none.  Quiesced device, lock held.
	 */
	int (*save)(struct virtio_device *d, struct state_writer *w);
	int (*restore)(struct virtio_device *d, struct state_reader *r);
	/*
	 * Will the device look at queue q again by itself soon (a completion
	 * of its own is due, whose handling serves the queue)?  Then the
	 * driver is not asked for notifications: on PVM each is an exit of
	 * ~50 us.  Lock held; optional.
	 */
	bool (*revisits)(struct virtio_device *d, unsigned q);
	/* The device's rate limit, for the control socket (optional: none). */
	struct virtio_throttle *(*throttle)(struct virtio_device *d);
};

/*
 * A device's rate limit (virtio/throttle.c): the device asks before it
 * takes a request off queue q and, while the limit says wait, leaves the
 * rest on the ring; a timer the worker watches notifies the waiting queues
 * when tokens are back.  Worker thread, device lock held.
 */
struct virtio_throttle {
	struct rate_limiter rl;
	struct rate_limit_params params;
	int timer_fd;
	uint32_t waiting;	/* queues left with requests on the ring */
	bool armed;
};

/* Creates the timer and watches it (the limits can be set later); 0 or -errno. */
int virtio_throttle_init(struct virtio_device *d, struct virtio_throttle *t,
			 const struct rate_limit_params *p);
void virtio_throttle_destroy(struct virtio_throttle *t);
/* May queue q take a request now?  If not, the timer is armed for when it may. */
bool virtio_throttle_admit(struct virtio_device *d, struct virtio_throttle *t, unsigned q);
/* Queue q took a request of ops operations and bytes bytes (no clock read without a limit). */
void virtio_throttle_take(struct virtio_throttle *t, uint64_t ops, uint64_t bytes);
/* The worker's fd: true if it was the timer (the waiting queues are notified). */
bool virtio_throttle_fd_ready(struct virtio_device *d, struct virtio_throttle *t, int fd);
/* New limits at run time (lock held): waiting queues are looked at again. */
void virtio_throttle_set(struct virtio_device *d, struct virtio_throttle *t,
			 const struct rate_limit_params *p);

/* What a transport does for the device model. */
struct virtio_transport_ops {
	/* Raise the used-buffer (config = false) or config-change interrupt for queue q. */
	void (*interrupt)(struct virtio_device *d, unsigned q, bool config);
	/* d->transport_fd became readable (worker thread, lock held). */
	void (*fd_ready)(struct virtio_device *d);
	/*
	 * An eventfd that, written, delivers queue q's interrupt with no
	 * help from kvmrun (an MSI-X vector's irqfd), or -1 when the
	 * interrupt needs the transport (interrupt above).  For devices whose
	 * rings another process serves (vhost-user); optional, lock held.
	 */
	int (*call_fd)(struct virtio_device *d, unsigned q);
};

struct virtio_device {
	const char *name;
	uint32_t device_id;
	const struct virtio_device_ops *ops;
	void *priv;
	const struct guest_mem *mem;

	/* Plain state (saved and restored with the device). */
	uint64_t host_features;
	uint64_t guest_features;
	uint8_t status;
	uint32_t config_generation;
	unsigned nr_queues;
	uint16_t queue_max;
	struct virtq vq[VIRTIO_MAX_QUEUES];

	/* Host resources. */
	pthread_mutex_t lock;
	const struct virtio_transport_ops *transport;
	void *transport_priv;
	int notify_fd[VIRTIO_MAX_QUEUES];	/* eventfds, signalled by ioeventfd or the transport */
	int epfd, stop_fd;
	int transport_fd;	/* watched for the transport when >= 0 (virtio_watch_transport_fd) */
	pthread_t thread;
	bool thread_started;
	/* Paused (vm_pause): the worker serves nothing; stopping ends the wait. */
	bool paused, stopping;
	pthread_cond_t resumed;
	bool reported_broken;		/* since the last reset */
	/* Adaptive polling of busy queues (worker thread only). */
	uint64_t poll_ns[VIRTIO_MAX_QUEUES], wait_start[VIRTIO_MAX_QUEUES];
	uint16_t serve_budget;		/* the round's allowance, lent to the queue served (virtq.budget) */
	uint64_t serve_bytes;		/* and its bytes (virtq.budget_bytes) */
	bool no_poll;			/* the device's work is elsewhere (I/O threads): never spin */
	/* Why a live migration cannot carry this device (NULL: it can). */
	const char *live_blocker;
	/* Log budget for device errors across resets (a guest can break and reset in a loop). */
	unsigned broken_logged, broken_suppressed;
	int64_t broken_last_log;	/* CLOCK_MONOTONIC seconds */
};

int virtio_device_init(struct virtio_device *d, const char *name, uint32_t device_id,
		       unsigned nr_queues, uint64_t host_features,
		       const struct virtio_device_ops *ops, void *priv,
		       const struct guest_mem *mem);
/* Starts the worker thread; fds added with virtio_watch_fd() before are watched too. */
int virtio_device_start(struct virtio_device *d);
void virtio_device_destroy(struct virtio_device *d);
/*
 * A stop was requested: the device type abandons long operations (ops->stop)
 * and the worker leaves after its current pass.  Any thread, no lock.
 */
void virtio_device_stop(struct virtio_device *d);
/*
 * Pause: requests in flight completed (ops->drain), the worker serves no
 * notification and no watched fd until virtio_device_resume; paths on other
 * threads (console input) check d->paused under the lock.  Any thread but
 * the worker.
 */
void virtio_device_pause(struct virtio_device *d);
void virtio_device_resume(struct virtio_device *d);
int virtio_watch_fd(struct virtio_device *d, int fd);
int virtio_unwatch_fd(struct virtio_device *d, int fd);
/*
 * Another process serves the rings (vhost-user): the worker stops watching
 * the notify fds, which that process reads instead.  Before the start.
 */
int virtio_unwatch_queues(struct virtio_device *d);
/* The transport's interrupt set-up changed: tells the device type (lock held). */
void virtio_interrupts_changed(struct virtio_device *d);
/* Has the worker call d->transport->fd_ready when fd becomes readable. */
int virtio_watch_transport_fd(struct virtio_device *d, int fd);

/* Transport side: status register writes, queue notifications. */
void virtio_set_status(struct virtio_device *d, uint8_t status);
void virtio_notify_queue(struct virtio_device *d, unsigned q);
/*
 * The driver enabled vq (d->lock held): maps its rings with the negotiated
 * ring features; a live queue is left alone (enabling it again would replay
 * or unmap it); impossible addresses or size set DEVICE_NEEDS_RESET.
 */
void virtio_enable_queue(struct virtio_device *d, struct virtq *vq);

/*
 * The device model's state, for the transports' save/restore (d->lock held,
 * worker not inside a request).  Record order: host_features (a check: a
 * record from a device offering other features is refused), guest_features,
 * status, config_generation, nr_queues (a check), each queue (virtq_save),
 * then the device type's own record (ops->save) when it has one.
 *
 * In-flight requests: with the device quiesced none is inside the common
 * code; chains a device popped but has not pushed yet are its own business
 * and belong in its ops->save record.
 *
 * virtio_device_restore is for a freshly created device of the same
 * configuration: every value is checked (features, status bits against the
 * negotiation rules, queues mapped again); 0, or -EINVAL with the device
 * reset.  Ready queues are notified once afterwards, since a notification
 * may have been pending when the state was saved.
 */
int virtio_device_save(struct virtio_device *d, struct state_writer *w);
int virtio_device_restore(struct virtio_device *d, struct state_reader *r);

/*
 * What the worker does when queue q was notified (d->lock held): has the
 * device take what the driver made available, in rounds of at most a ring's
 * worth of chains and VIRTIO_ROUND_BYTES of buffers (a chain that reaches it
 * is the round's last), then re-arms notifications.  A queue still busy
 * after VIRTIO_SERVE_ROUNDS rounds or VIRTIO_PASS_NS is notified again and
 * left for the next pass, so that the worker sees its stop_fd, the lock is
 * released and the other queues get their turn: the device's own writes
 * into guest RAM may keep refilling a hostile ring forever.
 */
#define VIRTIO_SERVE_ROUNDS	16
#define VIRTIO_ROUND_BYTES	(16ULL << 20)
#define VIRTIO_PASS_NS		20000000ULL	/* 20 ms */
void virtio_serve_queue(struct virtio_device *d, unsigned q);
/*
 * The same, right after the device handed buffers of q back: the driver
 * usually answers a completion with its next request, so the ring is
 * watched (the adaptive window) even when nothing new is there yet.
 */
void virtio_serve_queue_replied(struct virtio_device *d, unsigned q);

/* Device side, worker thread: after pushing used buffers of queue q. */
void virtio_signal_used(struct virtio_device *d, unsigned q, uint16_t old_used);
/* Device side: something is wrong that only a reset fixes (the spec's DEVICE_NEEDS_RESET). */
void virtio_needs_reset(struct virtio_device *d, const char *why);

static inline bool virtio_has_feature(const struct virtio_device *d, unsigned bit)
{
	return d->guest_features & (1ULL << bit);
}

/* A transport's access to the device-specific configuration (d->lock held); reads 0 without ops. */
void virtio_config_access(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len,
			  bool is_write);

/* Reads a little-endian config field from a struct into data (offset/len from the guest). */
void virtio_config_copy(const void *cfg, size_t cfg_len, uint32_t off, uint8_t *data,
			uint32_t len);

#endif
