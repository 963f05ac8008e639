/*
 * vhost-user messages over a UNIX stream socket (vhost_user.h): framing,
 * file descriptors in SCM_RIGHTS, REPLY_ACK, and the checks every reply
 * passes before its payload is believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/vhost_user.h"

#define HDR_SIZE sizeof(struct vhost_user_hdr)

void vhost_user_init(struct vhost_user *vu, const char *name, int stop_fd)
{
	memset(vu, 0, sizeof(*vu));
	vu->fd = -1;
	vu->name = name;
	vu->stop_fd = stop_fd;
	vu->timeout_ms = VHOST_USER_TIMEOUT_MS;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (vu->fd >= 0)
		close(vu->fd);
	vu->fd = -1;
}

static bool has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
		return true;
	default:
		return false;
	}
}

int vhost_user_check_reply(const struct vhost_user_msg *req, const struct vhost_user_msg *reply,
			   size_t len)
{
	const struct vhost_user_hdr *h = &reply->hdr;
	uint32_t want;

	if (len < HDR_SIZE || len > sizeof(*reply) || len != HDR_SIZE + (size_t)h->size)
		return -EPROTO;
	if (h->request != req->hdr.request || (h->flags & 3) != VHOST_USER_VERSION ||
	    !(h->flags & VHOST_USER_FLAG_REPLY))
		return -EPROTO;
	switch (req->hdr.request) {
	case VHOST_USER_GET_VRING_BASE:
		if (h->size != sizeof(struct vhost_user_vring_state) ||
		    reply->p.state.index != req->p.state.index)
			return -EPROTO;
		return 0;
	case VHOST_USER_GET_CONFIG:
		want = req->p.config.size;
		if (want > VHOST_USER_CONFIG_MAX || h->size != 12 + want ||
		    reply->p.config.offset != req->p.config.offset ||
		    reply->p.config.size != want)
			return -EPROTO;
		return 0;
	default:
		/* Feature words, the queue count and REPLY_ACK's status are one u64. */
		return h->size == sizeof(uint64_t) ? 0 : -EPROTO;
	}
}

/* Waits until fd is ready for events, the deadline passes or the stop fd fires. */
static int wait_ready(struct vhost_user *vu, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = { { vu->fd, events, 0 }, { vu->stop_fd, POLLIN, 0 } };
		uint64_t now = clock_now_ns();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(p, vu->stop_fd >= 0 ? 2 : 1, (int)((deadline - now + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p[1].revents & POLLIN))
			return -EINTR;
		if (n > 0 && p[0].revents)
			return 0;
	}
}

static int send_all(struct vhost_user *vu, const void *buf, size_t len, const int *fds,
		    unsigned nfds, uint64_t deadline)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	size_t done = 0;

	if (nfds > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (done == 0 && nfds) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(vu->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_ready(vu, POLLOUT, deadline);

			if (r)
				return r;
			continue;
		}
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Closes every descriptor a message carried: replies never carry any that kvmrun wants. */
static bool drop_fds(struct msghdr *mh)
{
	bool any = mh->msg_flags & MSG_CTRUNC;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fd;

		for (size_t i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
		any = true;
	}
	return any;
}

static int recv_all(struct vhost_user *vu, void *buf, size_t len, uint64_t deadline)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	size_t done = 0;

	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(vu->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_ready(vu, POLLIN, deadline);

			if (r)
				return r;
			continue;
		}
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		if (drop_fds(&mh))
			return -EPROTO;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/*
 * Sends msg (its payload size in msg->hdr.size) with fds and, when the
 * request has a reply or asks for an ack, receives and checks it into
 * *reply.  0 or -errno; a backend's non-zero ack is -EIO.
 */
static int transact(struct vhost_user *vu, struct vhost_user_msg *msg, const int *fds,
		   unsigned nfds, struct vhost_user_msg *reply)
{
	uint64_t deadline = clock_now_ns() + (uint64_t)vu->timeout_ms * 1000000;
	bool ack = !has_reply(msg->hdr.request) && vhost_user_has(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_msg local;
	int r;

	if (vu->fd < 0)
		return -EPIPE;
	if (!reply)
		reply = &local;
	msg->hdr.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0);
	r = send_all(vu, msg, HDR_SIZE + msg->hdr.size, fds, nfds, deadline);
	if (r || (!ack && !has_reply(msg->hdr.request)))
		return r;
	memset(reply, 0, sizeof(*reply));
	r = recv_all(vu, &reply->hdr, HDR_SIZE, deadline);
	if (r)
		return r;
	if (reply->hdr.size > sizeof(reply->p))
		return -EPROTO;		/* do not read what cannot be a reply */
	r = recv_all(vu, &reply->p, reply->hdr.size, deadline);
	if (!r)
		r = vhost_user_check_reply(msg, reply, HDR_SIZE + reply->hdr.size);
	if (!r && ack && reply->p.u64 != 0)
		r = -EIO;
	return r;
}

static void msg_init(struct vhost_user_msg *m, uint32_t request, uint32_t size)
{
	memset(m, 0, HDR_SIZE + size);
	m->hdr.request = request;
	m->hdr.size = size;
}

static int get_u64(struct vhost_user *vu, uint32_t request, uint64_t *out)
{
	struct vhost_user_msg m, reply;
	int r;

	msg_init(&m, request, 0);
	r = transact(vu, &m, NULL, 0, &reply);
	if (!r)
		*out = reply.p.u64;
	return r;
}

static int set_u64(struct vhost_user *vu, uint32_t request, uint64_t v)
{
	struct vhost_user_msg m;

	msg_init(&m, request, sizeof(uint64_t));
	m.p.u64 = v;
	return transact(vu, &m, NULL, 0, NULL);
}

static int set_state(struct vhost_user *vu, uint32_t request, unsigned q, unsigned num)
{
	struct vhost_user_msg m;

	msg_init(&m, request, sizeof(struct vhost_user_vring_state));
	m.p.state.index = q;
	m.p.state.num = num;
	return transact(vu, &m, NULL, 0, NULL);
}

const char *vhost_user_strerror(int r)
{
	switch (r) {
	case -EPROTO:	return "it broke the protocol";
	case -ETIMEDOUT: return "it did not answer";
	case -EPIPE:	return "it closed the connection";
	case -EIO:	return "it refused the request";
	default:	return strerror(-r);
	}
}

static int negotiate(struct vhost_user *vu)
{
	uint64_t proto = 0, queues = 0;
	int r;

	r = get_u64(vu, VHOST_USER_GET_FEATURES, &vu->features);
	if (!r && (vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))) {
		r = get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
		if (!r)
			r = set_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES,
				    proto & VHOST_USER_PROTOCOL_WANTED);
		/* REPLY_ACK applies to the messages after the negotiation. */
		if (!r)
			vu->protocol = proto & VHOST_USER_PROTOCOL_WANTED;
	}
	if (!r) {
		struct vhost_user_msg m;

		msg_init(&m, VHOST_USER_SET_OWNER, 0);
		r = transact(vu, &m, NULL, 0, NULL);
	}
	if (!r && vhost_user_has(vu, VHOST_USER_PROTOCOL_F_MQ)) {
		r = get_u64(vu, VHOST_USER_GET_QUEUE_NUM, &queues);
		if (!r && (queues == 0 || queues > 0xffff))
			r = -EPROTO;
		vu->max_queues = (unsigned)queues;
	}
	return r;
}

int vhost_user_adopt(struct vhost_user *vu, int fd)
{
	int r;

	vu->fd = fd;
	vu->protocol = 0;
	vu->max_queues = 0;
	r = negotiate(vu);
	if (r) {
		if (!vu->quiet)
			log_err("%s: vhost-user backend: the negotiation failed: %s", vu->name,
				vhost_user_strerror(r));
		vhost_user_close(vu);
	}
	return r;
}

int vhost_user_connect(struct vhost_user *vu, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (!vu->quiet)
			log_err("%s: vhost-user socket path too long: %s", vu->name, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (!vu->quiet)
			log_err("%s: socket: %s", vu->name, strerror(errno));
		return r;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (!vu->quiet)
			log_err("%s: cannot connect to the vhost-user backend at %s: %s%s", vu->name, path,
			strerror(errno),
			r == -ENOENT || r == -ECONNREFUSED ? " (is the backend running?)" : "");
		close(fd);
		return r;
	}
	return vhost_user_adopt(vu, fd);
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features)
{
	return set_u64(vu, VHOST_USER_SET_FEATURES, features);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *mem, int memfd)
{
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_REGIONS];
	unsigned n = mem->nr_regions;

	if (memfd < 0 || n == 0 || n > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + n * sizeof(struct vhost_user_region));
	m.p.mem.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		const struct mem_region *r = &mem->region[i];

		m.p.mem.region[i] = (struct vhost_user_region){
			.gpa = r->gpa, .size = r->size, .uaddr = (uint64_t)(uintptr_t)r->host,
			.mmap_offset = (uint64_t)(r->host - mem->map),
		};
		fds[i] = memfd;
	}
	return transact(vu, &m, fds, n, NULL);
}

int vhost_user_set_vring_num(struct vhost_user *vu, unsigned q, unsigned num)
{
	return set_state(vu, VHOST_USER_SET_VRING_NUM, q, num);
}

int vhost_user_set_vring_base(struct vhost_user *vu, unsigned q, unsigned base)
{
	return set_state(vu, VHOST_USER_SET_VRING_BASE, q, base);
}

int vhost_user_set_vring_enable(struct vhost_user *vu, unsigned q, bool enable)
{
	return set_state(vu, VHOST_USER_SET_VRING_ENABLE, q, enable);
}

int vhost_user_set_vring_addr(struct vhost_user *vu, unsigned q, const void *desc,
			      const void *used, const void *avail)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(struct vhost_user_vring_addr));
	m.p.addr.index = q;
	m.p.addr.desc = (uint64_t)(uintptr_t)desc;
	m.p.addr.used = (uint64_t)(uintptr_t)used;
	m.p.addr.avail = (uint64_t)(uintptr_t)avail;
	return transact(vu, &m, NULL, 0, NULL);
}

int vhost_user_set_vring_fd(struct vhost_user *vu, enum vhost_user_request req, unsigned q,
			    int fd)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(uint64_t));
	m.p.u64 = (q & 0xff) | (fd < 0 ? VHOST_USER_VRING_NOFD : 0);
	return transact(vu, &m, fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1, NULL);
}

int vhost_user_get_vring_base(struct vhost_user *vu, unsigned q, uint16_t *base)
{
	struct vhost_user_msg m, reply;
	int r;

	msg_init(&m, VHOST_USER_GET_VRING_BASE, sizeof(struct vhost_user_vring_state));
	m.p.state.index = q;
	r = transact(vu, &m, NULL, 0, &reply);
	if (!r && reply.p.state.num > 0xffff)
		r = -EPROTO;
	if (!r)
		*base = (uint16_t)reply.p.state.num;
	return r;
}

int vhost_user_get_config(struct vhost_user *vu, void *buf, uint32_t len)
{
	struct vhost_user_msg m, reply;
	int r;

	if (len > VHOST_USER_CONFIG_MAX)
		return -EINVAL;
	msg_init(&m, VHOST_USER_GET_CONFIG, 12 + len);
	m.p.config.size = len;
	r = transact(vu, &m, NULL, 0, &reply);
	if (!r)
		memcpy(buf, reply.p.config.data, len);
	return r;
}

int vhost_user_set_config(struct vhost_user *vu, uint32_t off, const void *data, uint32_t len)
{
	struct vhost_user_msg m;

	if (len > VHOST_USER_CONFIG_MAX)
		return -EINVAL;
	msg_init(&m, VHOST_USER_SET_CONFIG, 12 + len);
	m.p.config.offset = off;
	m.p.config.size = len;
	memcpy(m.p.config.data, data, len);
	return transact(vu, &m, NULL, 0, NULL);
}
