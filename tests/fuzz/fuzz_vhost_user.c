/*
 * The vhost-user frontend's message layer (virtio/vhost_user.c) against a
 * hostile backend: the input is everything the backend sends, replies to
 * the negotiation and to the requests a device makes at DRIVER_OK, at a
 * reset and on a config write.
 *
 * Input: u8 flags (1: the first bytes come with a file descriptor attached,
 * which the frontend must refuse and close), then the backend's bytes.
 *
 * Checks: every call returns 0 or a negative errno; a ring index from
 * GET_VRING_BASE fits 16 bits; a config read copies only what was asked
 * for; no descriptor the backend sent stays open (the lowest free fd number
 * is the same before and after).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/vhost_user.h"

static int memfd = -1, kickfd = -1;
static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ram = calloc(1, 1 << 16);
	FUZZ_CHECK(memfd >= 0 && kickfd >= 0 && ram, "set-up");
	return 0;
}

static int lowest_free_fd(void)
{
	int fd = dup(0);

	FUZZ_CHECK(fd >= 0, "dup");
	close(fd);
	return fd;
}

static void send_backend(int fd, const uint8_t *p, size_t n, bool with_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (with_fd && n) {
		struct cmsghdr *c;
		int extra = eventfd(0, EFD_CLOEXEC);

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &extra, sizeof(int));
		FUZZ_CHECK(sendmsg(fd, &mh, 0) == (ssize_t)n, "sendmsg");
		close(extra);
		return;
	}
	if (n)
		FUZZ_CHECK(write(fd, p, n) == (ssize_t)n, "write");
}

static void check(int r)
{
	FUZZ_CHECK(r == 0 || (r < 0 && r > -4096), "a return value that is not 0 or -errno");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	bool with_fd = in_u8(&in) & 1;
	struct guest_mem mem = { 0 };
	struct vhost_user vu;
	uint8_t cfg[80];
	uint16_t base = 0;
	int sv[2], before, r;

	/* What a socket buffer holds at once: the backend has said everything before we read. */
	if (in.n > 100000)
		return 0;
	before = lowest_free_fd();
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	send_backend(sv[1], in.p, in.n, with_fd);
	shutdown(sv[1], SHUT_WR);

	vhost_user_init(&vu, "fuzz", -1);
	vu.timeout_ms = 100;
	r = vhost_user_adopt(&vu, sv[0]);
	check(r);
	if (!r) {
		mem.map = ram;
		mem.map_size = 1 << 16;
		mem.region[0] = (struct mem_region){ 0, 1 << 16, ram };
		mem.nr_regions = 1;
		memset(cfg, 0xa5, sizeof(cfg));
		r = vhost_user_get_config(&vu, cfg, 60);
		check(r);
		for (size_t i = 60; i < sizeof(cfg); i++)
			FUZZ_CHECK(cfg[i] == 0xa5, "GET_CONFIG wrote past the length asked for");
		check(vhost_user_set_features(&vu, vu.features));
		check(vhost_user_set_mem_table(&vu, &mem, memfd));
		check(vhost_user_set_vring_num(&vu, 0, 128));
		check(vhost_user_set_vring_base(&vu, 0, 0));
		check(vhost_user_set_vring_addr(&vu, 0, ram, ram + 4096, ram + 2048));
		check(vhost_user_set_vring_fd(&vu, VHOST_USER_SET_VRING_KICK, 0, kickfd));
		check(vhost_user_set_vring_fd(&vu, VHOST_USER_SET_VRING_CALL, 0, -1));
		check(vhost_user_set_vring_enable(&vu, 0, true));
		r = vhost_user_get_vring_base(&vu, 0, &base);
		check(r);
		check(vhost_user_set_config(&vu, 32, cfg, 1));
	}
	vhost_user_close(&vu);
	close(sv[1]);
	FUZZ_CHECK(lowest_free_fd() == before, "a descriptor leaked");
	return 0;
}
