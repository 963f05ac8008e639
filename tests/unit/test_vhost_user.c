/*
 * The vhost-user message layer (virtio/vhost_user.c) against a scripted
 * backend thread on a socketpair: the negotiation, what the requests carry
 * (the memory table and its fds, ring addresses, kick and call fds), and
 * how a backend that misbehaves on one request is answered: silence
 * (timeout), a stop request while waiting, a closed socket, a reply with a
 * descriptor, the wrong reply, a refusal.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/vhost_user.h"
#include "testlib.h"

enum misbehave { NONE, SILENT, CLOSE, WITH_FD, WRONG_CODE, NACK, HUGE_SIZE };

#define FEATURES ((1ULL << 32) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | (1ULL << 6))

static struct backend {
	int fd;
	pthread_t thread;
	bool running;
	uint32_t fail_on;		/* the request that gets the misbehaviour */
	enum misbehave how;
	/* What it saw. */
	unsigned requests;
	uint64_t protocol_set, features_set;
	struct vhost_user_mem_table mem;
	ino_t mem_ino[VHOST_USER_MAX_REGIONS];
	unsigned mem_fds;
	struct vhost_user_vring_addr addr;
	uint64_t kick_word;
	bool kick_fd_is_eventfd;
	uint8_t config_set[8];
} be;

static struct vhost_user vu;
static int memfd;

static int recv_request(struct vhost_user_msg *m, int *fds, unsigned *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	struct iovec iov = { &m->hdr, sizeof(m->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(be.fd, &mh, MSG_WAITALL);

	*nfds = 0;
	if (n != sizeof(m->hdr))
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		*nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
	}
	if (m->hdr.size && recv(be.fd, &m->p, m->hdr.size, MSG_WAITALL) != (ssize_t)m->hdr.size)
		return -1;
	return 0;
}

static void send_reply(struct vhost_user_msg *r, const struct vhost_user_msg *req, uint32_t size,
		       enum misbehave how)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { r, sizeof(r->hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	r->hdr.request = how == WRONG_CODE ? req->hdr.request + 1 : req->hdr.request;
	r->hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	r->hdr.size = how == HUGE_SIZE ? 1u << 30 : size;
	if (how == WITH_FD) {
		int extra = eventfd(0, EFD_CLOEXEC);
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &extra, sizeof(int));
		sendmsg(be.fd, &mh, MSG_NOSIGNAL);
		close(extra);
		return;
	}
	sendmsg(be.fd, &mh, MSG_NOSIGNAL);
}

static void *backend_main(void *arg)
{
	struct vhost_user_msg m, r;
	int fds[VHOST_USER_MAX_REGIONS];
	unsigned nfds;
	struct stat st;

	(void)arg;
	while (recv_request(&m, fds, &nfds) == 0) {
		enum misbehave how = m.hdr.request == be.fail_on ? be.how : NONE;
		bool need = m.hdr.flags & VHOST_USER_FLAG_NEED_REPLY;
		uint32_t size = sizeof(uint64_t);

		be.requests++;
		memset(&r, 0, sizeof(r));
		switch (m.hdr.request) {
		case VHOST_USER_GET_FEATURES:
			r.p.u64 = FEATURES;
			need = true;
			break;
		case VHOST_USER_GET_PROTOCOL_FEATURES:
			r.p.u64 = 0xffff;
			need = true;
			break;
		case VHOST_USER_SET_PROTOCOL_FEATURES:
			be.protocol_set = m.p.u64;
			break;
		case VHOST_USER_SET_FEATURES:
			be.features_set = m.p.u64;
			break;
		case VHOST_USER_GET_QUEUE_NUM:
			r.p.u64 = 4;
			need = true;
			break;
		case VHOST_USER_SET_MEM_TABLE:
			be.mem = m.p.mem;
			be.mem_fds = nfds;
			for (unsigned i = 0; i < nfds; i++)
				be.mem_ino[i] = fstat(fds[i], &st) == 0 ? st.st_ino : 0;
			break;
		case VHOST_USER_SET_VRING_ADDR:
			be.addr = m.p.addr;
			break;
		case VHOST_USER_SET_VRING_KICK:
			be.kick_word = m.p.u64;
			be.kick_fd_is_eventfd = nfds == 1 && fstat(fds[0], &st) == 0;
			break;
		case VHOST_USER_GET_VRING_BASE:
			r.p.state = (struct vhost_user_vring_state){ m.p.state.index, 42 };
			size = sizeof(r.p.state);
			need = true;
			break;
		case VHOST_USER_GET_CONFIG:
			r.p.config = m.p.config;
			for (uint32_t i = 0; i < m.p.config.size && i < VHOST_USER_CONFIG_MAX; i++)
				r.p.config.data[i] = (uint8_t)(i + 1);
			size = 12 + m.p.config.size;
			need = true;
			break;
		case VHOST_USER_SET_CONFIG:
			memcpy(be.config_set, m.p.config.data, sizeof(be.config_set));
			break;
		}
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (how == NACK)
			r.p.u64 = 1;
		if (how == SILENT)
			continue;
		if (how == CLOSE)
			break;
		if (need)
			send_reply(&r, &m, size, how);
	}
	shutdown(be.fd, SHUT_RDWR);
	return NULL;
}

static void start_backend(uint32_t fail_on, enum misbehave how)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&be, 0, sizeof(be));
	be.fd = sv[1];
	be.fail_on = fail_on;
	be.how = how;
	ck_assert_int_eq(pthread_create(&be.thread, NULL, backend_main, NULL), 0);
	be.running = true;
	vhost_user_init(&vu, "test", -1);
	vu.timeout_ms = 300;
	vu.fd = sv[0];
}

static void setup(void)
{
	memfd = memfd_create("test-ram", MFD_CLOEXEC);
	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, 1 << 20), 0);
}

static void stop_backend(void)
{
	vhost_user_close(&vu);
	if (be.running)
		pthread_join(be.thread, NULL);
	if (be.running)
		close(be.fd);
	be.running = false;
}

static void teardown(void)
{
	stop_backend();
	close(memfd);
}

/* Negotiates on the socket start_backend made. */
static int adopt(void)
{
	int fd = vu.fd;

	vu.fd = -1;
	return vhost_user_adopt(&vu, fd);
}

START_TEST(negotiation)
{
	start_backend(0, NONE);
	ck_assert_int_eq(adopt(), 0);
	ck_assert_uint_eq(vu.features, FEATURES);
	/* Only the protocol features kvmrun uses are acknowledged. */
	ck_assert_uint_eq(be.protocol_set, VHOST_USER_PROTOCOL_WANTED);
	ck_assert_uint_eq(vu.protocol, VHOST_USER_PROTOCOL_WANTED);
	ck_assert_uint_eq(vu.max_queues, 4);
	/* GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_OWNER, GET_QUEUE_NUM */
	ck_assert_uint_eq(be.requests, 5);
}
END_TEST

START_TEST(requests_carry_what_the_backend_needs)
{
	static uint8_t ring[8192];
	struct guest_mem mem = { 0 };
	uint8_t cfg[60];
	uint16_t base = 0;
	struct stat st;
	int kick = eventfd(0, EFD_CLOEXEC);

	start_backend(0, NONE);
	ck_assert_int_eq(adopt(), 0);
	mem.map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(mem.map, MAP_FAILED);
	mem.region[0] = (struct mem_region){ 0, 512 << 10, mem.map };
	mem.region[1] = (struct mem_region){ 1ULL << 32, 512 << 10, mem.map + (512 << 10) };
	mem.nr_regions = 2;
	ck_assert_int_eq(vhost_user_set_mem_table(&vu, &mem, memfd), 0);
	ck_assert_uint_eq(be.mem.nregions, 2);
	ck_assert_uint_eq(be.mem_fds, 2);
	ck_assert_int_eq(fstat(memfd, &st), 0);
	ck_assert_uint_eq(be.mem_ino[0], st.st_ino);
	ck_assert_uint_eq(be.mem.region[1].gpa, 1ULL << 32);
	ck_assert_uint_eq(be.mem.region[1].mmap_offset, 512 << 10);
	ck_assert_uint_eq(be.mem.region[1].uaddr, (uint64_t)(uintptr_t)(mem.map + (512 << 10)));

	ck_assert_int_eq(vhost_user_set_vring_addr(&vu, 3, ring, ring + 4096, ring + 2048), 0);
	ck_assert_uint_eq(be.addr.index, 3);
	ck_assert_uint_eq(be.addr.desc, (uint64_t)(uintptr_t)ring);
	ck_assert_uint_eq(be.addr.used, (uint64_t)(uintptr_t)(ring + 4096));
	ck_assert_uint_eq(be.addr.avail, (uint64_t)(uintptr_t)(ring + 2048));
	ck_assert_int_eq(vhost_user_set_vring_fd(&vu, VHOST_USER_SET_VRING_KICK, 2, kick), 0);
	ck_assert_uint_eq(be.kick_word, 2);
	ck_assert(be.kick_fd_is_eventfd);
	ck_assert_int_eq(vhost_user_set_vring_fd(&vu, VHOST_USER_SET_VRING_KICK, 1, -1), 0);
	ck_assert_uint_eq(be.kick_word, 1 | VHOST_USER_VRING_NOFD);

	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 1, &base), 0);
	ck_assert_uint_eq(base, 42);
	ck_assert_int_eq(vhost_user_get_config(&vu, cfg, sizeof(cfg)), 0);
	ck_assert_uint_eq(cfg[0], 1);
	ck_assert_uint_eq(cfg[59], 60);
	ck_assert_int_eq(vhost_user_set_config(&vu, 32, "\x01", 1), 0);
	ck_assert_uint_eq(be.config_set[0], 1);
	ck_assert_int_eq(vhost_user_set_features(&vu, 1ULL << 32), 0);
	ck_assert_uint_eq(be.features_set, 1ULL << 32);
	munmap(mem.map, 1 << 20);
	close(kick);
}
END_TEST

/* The misbehaviour on GET_VRING_BASE, after a good negotiation: what the caller gets. */
static int misbehaving(enum misbehave how)
{
	uint16_t base = 7;
	int r;

	start_backend(VHOST_USER_GET_VRING_BASE, how);
	ck_assert_int_eq(adopt(), 0);
	r = vhost_user_get_vring_base(&vu, 0, &base);
	ck_assert_uint_eq(base, 7);	/* untouched on failure */
	return r;
}

START_TEST(silence_times_out)
{
	uint64_t t0 = clock_now_ns();

	ck_assert_int_eq(misbehaving(SILENT), -ETIMEDOUT);
	ck_assert_uint_ge(clock_now_ns() - t0, 250000000ULL);
	ck_assert_uint_lt(clock_now_ns() - t0, 2000000000ULL);
	vhost_user_close(&vu);	/* lets the backend thread see the end */
}
END_TEST

START_TEST(stop_fd_ends_the_wait)
{
	int stop = eventfd(1, EFD_CLOEXEC);
	uint16_t base;
	uint64_t t0;

	start_backend(VHOST_USER_GET_VRING_BASE, SILENT);
	ck_assert_int_eq(adopt(), 0);
	vu.timeout_ms = 10000;
	vu.stop_fd = stop;
	t0 = clock_now_ns();
	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 0, &base), -EINTR);
	ck_assert_uint_lt(clock_now_ns() - t0, 1000000000ULL);
	vhost_user_close(&vu);
	close(stop);
}
END_TEST

START_TEST(closed_socket_is_epipe)
{
	ck_assert_int_eq(misbehaving(CLOSE), -EPIPE);
}
END_TEST

START_TEST(reply_with_fd_is_refused_and_closed)
{
	int before = dup(0), after;

	close(before);
	ck_assert_int_eq(misbehaving(WITH_FD), -EPROTO);
	stop_backend();
	after = dup(0);
	close(after);
	/* The descriptor that came with the reply was closed again. */
	ck_assert_int_eq(after, before);
}
END_TEST

START_TEST(wrong_reply_is_eproto)
{
	ck_assert_int_eq(misbehaving(WRONG_CODE), -EPROTO);
}
END_TEST

START_TEST(huge_size_is_eproto)
{
	ck_assert_int_eq(misbehaving(HUGE_SIZE), -EPROTO);
}
END_TEST

START_TEST(refusal_is_eio)
{
	start_backend(VHOST_USER_SET_VRING_NUM, NACK);
	ck_assert_int_eq(adopt(), 0);
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 0, 256), -EIO);
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 0, 128), -EIO);
	ck_assert_int_eq(vhost_user_set_vring_base(&vu, 0, 0), 0);
}
END_TEST

START_TEST(failed_negotiation_closes)
{
	start_backend(VHOST_USER_GET_PROTOCOL_FEATURES, WRONG_CODE);
	ck_assert_int_ne(adopt(), 0);
	ck_assert_int_eq(vu.fd, -1);
}
END_TEST

START_TEST(check_reply_rules)
{
	struct vhost_user_msg req = { .hdr = { VHOST_USER_GET_CONFIG, 1, 12 + 8 } }, rep;

	req.p.config.size = 8;
	memset(&rep, 0, sizeof(rep));
	rep.hdr = (struct vhost_user_hdr){ VHOST_USER_GET_CONFIG, 1 | VHOST_USER_FLAG_REPLY, 20 };
	rep.p.config.size = 8;
	ck_assert_int_eq(vhost_user_check_reply(&req, &rep, 12 + 20), 0);
	ck_assert_int_eq(vhost_user_check_reply(&req, &rep, 12 + 19), -EPROTO);	/* short */
	rep.p.config.offset = 4;
	ck_assert_int_eq(vhost_user_check_reply(&req, &rep, 12 + 20), -EPROTO);	/* not echoed */
	rep.p.config.offset = 0;
	rep.hdr.flags = 1;
	ck_assert_int_eq(vhost_user_check_reply(&req, &rep, 12 + 20), -EPROTO);	/* no REPLY flag */
	rep.hdr.flags = 2 | VHOST_USER_FLAG_REPLY;
	ck_assert_int_eq(vhost_user_check_reply(&req, &rep, 12 + 20), -EPROTO);	/* version */
}
END_TEST

int main(void)
{
	Suite *su = suite_create("vhost_user");
	TCase *tc = tcase_create("messages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, negotiation);
	tcase_add_test(tc, requests_carry_what_the_backend_needs);
	tcase_add_test(tc, silence_times_out);
	tcase_add_test(tc, stop_fd_ends_the_wait);
	tcase_add_test(tc, closed_socket_is_epipe);
	tcase_add_test(tc, reply_with_fd_is_refused_and_closed);
	tcase_add_test(tc, wrong_reply_is_eproto);
	tcase_add_test(tc, huge_size_is_eproto);
	tcase_add_test(tc, refusal_is_eio);
	tcase_add_test(tc, failed_negotiation_closes);
	tcase_add_test(tc, check_reply_rules);
	suite_add_tcase(su, tc);
	return testlib_run(su);
}
