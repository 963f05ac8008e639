/*
 * The frontend (VMM) side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst): a UNIX socket to a backend process that
 * gets guest RAM as memfd regions and the virtqueues with their kick and
 * call eventfds, and then serves the rings without the VMM.  This is the
 * message layer only; virtio/vhost_user_dev.c makes virtio devices of it.
 *
 * A backend is another process and may be hostile or dead: every reply is
 * checked (vhost_user_check_reply) before it is used, every wait is
 * bounded by a timeout and by the caller's stop fd, and a reply carrying
 * file descriptors is refused.
 */
#ifndef KVMRUN_VHOST_USER_H
#define KVMRUN_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/mem.h"

/* Requests (front-end to back-end), from the protocol's table. */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
};

#define VHOST_USER_VERSION		1	/* flags bits 0-1 */
#define VHOST_USER_FLAG_REPLY		(1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY	(1u << 3)
#define VHOST_USER_F_PROTOCOL_FEATURES	30	/* a virtio feature bit only vhost-user uses */
#define VHOST_USER_PROTOCOL_F_MQ	0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	3
#define VHOST_USER_PROTOCOL_F_CONFIG	9
#define VHOST_USER_VRING_NOFD		(1ULL << 8)	/* kick/call/err without an fd */
#define VHOST_USER_MAX_REGIONS		8
#define VHOST_USER_CONFIG_MAX		256
#define VHOST_USER_TIMEOUT_MS		5000	/* a backend that answers nothing in this is gone */

struct vhost_user_hdr {
	uint32_t request, flags, size;
} __attribute__((packed));

struct vhost_user_vring_state {
	uint32_t index, num;
};

struct vhost_user_vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

struct vhost_user_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vhost_user_mem_table {
	uint32_t nregions, padding;
	struct vhost_user_region region[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_config {
	uint32_t offset, size, flags;
	uint8_t data[VHOST_USER_CONFIG_MAX];
};

struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union {
		uint64_t u64;
		struct vhost_user_vring_state state;
		struct vhost_user_vring_addr addr;
		struct vhost_user_mem_table mem;
		struct vhost_user_config config;
	} p;
} __attribute__((packed));

/* One connection to a backend. */
struct vhost_user {
	int fd;				/* the socket, -1 when not connected */
	const char *name;		/* for messages: the device's name */
	int stop_fd;			/* waits end (-EINTR) once this is readable; -1: none */
	unsigned timeout_ms;		/* per reply (VHOST_USER_TIMEOUT_MS) */
	uint64_t features;		/* what GET_FEATURES offered */
	uint64_t protocol;		/* protocol features both sides have */
	unsigned max_queues;		/* GET_QUEUE_NUM with MQ, else 0 (unknown) */
	bool quiet;			/* connect failures are not logged (reconnect attempts) */
};

/* Protocol features kvmrun uses when the backend offers them. */
#define VHOST_USER_PROTOCOL_WANTED \
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIG))

/* Sets vu up unconnected (fd -1). */
void vhost_user_init(struct vhost_user *vu, const char *name, int stop_fd);
/*
 * Connects to the backend's socket at path and negotiates: GET_FEATURES,
 * the protocol features, SET_OWNER, GET_QUEUE_NUM.  0, or -errno after one
 * line that says what failed.
 */
int vhost_user_connect(struct vhost_user *vu, const char *path);
/* The same over a socket already connected (tests, fuzzing); takes fd over. */
int vhost_user_adopt(struct vhost_user *vu, int fd);
void vhost_user_close(struct vhost_user *vu);

static inline bool vhost_user_has(const struct vhost_user *vu, unsigned protocol_bit)
{
	return vu->protocol & (1ULL << protocol_bit);
}

/*
 * The requests; each returns 0 or -errno (-EPROTO: the backend broke the
 * protocol, -ETIMEDOUT, -EPIPE: it is gone, -EINTR: the stop fd fired).
 * Requests without a reply of their own ask for REPLY_ACK when negotiated.
 */
int vhost_user_set_features(struct vhost_user *vu, uint64_t features);
int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *mem, int memfd);
int vhost_user_set_vring_num(struct vhost_user *vu, unsigned q, unsigned num);
int vhost_user_set_vring_base(struct vhost_user *vu, unsigned q, unsigned base);
int vhost_user_set_vring_addr(struct vhost_user *vu, unsigned q, const void *desc,
			      const void *used, const void *avail);
/* fd < 0 sends VHOST_USER_VRING_NOFD. */
int vhost_user_set_vring_fd(struct vhost_user *vu, enum vhost_user_request req, unsigned q,
			    int fd);
int vhost_user_set_vring_enable(struct vhost_user *vu, unsigned q, bool enable);
/* Stops ring q; *base is the next available index the backend would have read. */
int vhost_user_get_vring_base(struct vhost_user *vu, unsigned q, uint16_t *base);
int vhost_user_get_config(struct vhost_user *vu, void *buf, uint32_t len);
int vhost_user_set_config(struct vhost_user *vu, uint32_t off, const void *data, uint32_t len);

/* What a request's error means, for a line in the log. */
const char *vhost_user_strerror(int r);

/*
 * Is reply (len bytes received: header and payload) a valid answer to req?
 * The right request code, version and REPLY flag, the payload size that
 * request's reply has, and for state and config replies the fields
 * echoed from the request.  0 or -EPROTO.  Pure: the fuzz target's entry.
 */
int vhost_user_check_reply(const struct vhost_user_msg *req, const struct vhost_user_msg *reply,
			   size_t len);

#endif
