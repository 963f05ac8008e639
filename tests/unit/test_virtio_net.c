/*
 * virtio-net (virtio/net.c) on a fake tap: one end of a datagram socketpair
 * adopted as the tap (frames with their 12-byte virtio-net header, cut to
 * the buffers given, as a tap does), the other end the test's network.
 * Transmit, receive (held buffers, a frame too big, buffers without header
 * room), the config, and the save/restore of the device type's own state
 * (config and held receive chains).
 */
#include <check.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_driver.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"

#define RAM_SIZE	(4ULL << 20)
#define BUF(i)		(0x20000ULL + 0x1000ULL * (i))
#define HDR_LEN		12
#define RXQ		0
#define TXQ		1

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct side {
	struct guest_mem mem;
	struct virtio_device dev;
	struct fake_driver drv;
	int net;		/* the test's end of the socketpair */
	bool up;
};

static struct side a, b;

static void side_create(struct side *s, bool driver)
{
	struct net_config nc = { .tap = "fake0", .mac_given = true };
	struct tap tap;
	int sv[2];

	memcpy(nc.mac, mac, sizeof(mac));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(tap_adopt_fd(&tap, sv[0], "fake0"), 0);
	s->net = sv[1];
	ck_assert_int_eq(guest_mem_init(&s->mem, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	ck_assert_int_eq(virtio_net_init_tap(&s->dev, &tap, &nc, &s->mem), 0);
	s->up = true;
	if (driver)
		fd_init(&s->drv, &s->dev, &s->mem);
	else
		s->dev.transport = &fd_transport;
}

static void side_destroy(struct side *s)
{
	if (!s->up)
		return;
	virtio_device_destroy(&s->dev);
	guest_mem_destroy(&s->mem);
	close(s->net);
	memset(s, 0, sizeof(*s));
}

static void setup(void)
{
	side_create(&a, true);
}

static void teardown(void)
{
	side_destroy(&a);
	side_destroy(&b);
}

/* A receive chain: header room and data, in two writable segments at BUF(i). */
static uint16_t rx_add(struct side *s, unsigned i, uint32_t len)
{
	struct fd_seg seg[2] = { { BUF(i), HDR_LEN, true }, { BUF(i) + 0x100, len - HDR_LEN, true } };

	return fd_add(&s->drv, RXQ, seg, 2);
}

static void frame(uint8_t *p, size_t len, uint8_t seed)
{
	memset(p, 0, HDR_LEN);
	p[0] = seed & 1;		/* flags: the header passes unchanged */
	for (size_t i = HDR_LEN; i < len; i++)
		p[i] = (uint8_t)(seed + i);
}

static void send_frame(struct side *s, size_t len, uint8_t seed)
{
	uint8_t f[2048];

	frame(f, len, seed);
	ck_assert_int_eq(send(s->net, f, len, 0), (ssize_t)len);
}

/* What landed in receive chain i: header, then data. */
static void check_rx(struct side *s, unsigned i, size_t len, uint8_t seed)
{
	uint8_t want[2048];

	frame(want, len, seed);
	ck_assert_mem_eq(fd_ptr(&s->drv, BUF(i), HDR_LEN), want, HDR_LEN);
	ck_assert_mem_eq(fd_ptr(&s->drv, BUF(i) + 0x100, len - HDR_LEN), want + HDR_LEN,
			 len - HDR_LEN);
}

START_TEST(test_transmit)
{
	struct fd_seg seg[2] = { { BUF(0), HDR_LEN, false }, { BUF(0) + 0x100, 60, false } };
	struct fd_seg runt = { BUF(1), 8, false };
	uint8_t f[HDR_LEN + 60], got[256];
	uint16_t head;

	frame(f, sizeof(f), 3);
	memcpy(fd_ptr(&a.drv, BUF(0), HDR_LEN), f, HDR_LEN);
	memcpy(fd_ptr(&a.drv, BUF(0) + 0x100, 60), f + HDR_LEN, 60);
	head = fd_add(&a.drv, TXQ, seg, 2);
	fd_serve(&a.drv, TXQ);
	ck_assert_uint_eq(fd_used_idx(&a.drv, TXQ), 1);
	ck_assert_uint_eq(fd_used_elem(&a.drv, TXQ, 0).id, head);
	ck_assert_uint_eq(fd_used_elem(&a.drv, TXQ, 0).len, 0);
	ck_assert_int_eq(recv(a.net, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(f));
	ck_assert_mem_eq(got, f, sizeof(f));
	/* Shorter than the header: returned, nothing sent. */
	fd_add(&a.drv, TXQ, &runt, 1);
	fd_serve(&a.drv, TXQ);
	ck_assert_uint_eq(fd_used_idx(&a.drv, TXQ), 2);
	ck_assert_int_eq(recv(a.net, got, sizeof(got), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

START_TEST(test_receive)
{
	uint16_t h0 = rx_add(&a, 0, 1526), h1 = rx_add(&a, 1, 1526);

	fd_serve(&a.drv, RXQ);
	ck_assert_uint_eq(fd_used_idx(&a.drv, RXQ), 0);	/* held, waiting for frames */
	send_frame(&a, HDR_LEN + 100, 7);
	ck_assert_uint_eq(fd_run(&a.drv, RXQ, 1, 1000), 1);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).id, h0);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).len, HDR_LEN + 100);
	check_rx(&a, 0, HDR_LEN + 100, 7);
	send_frame(&a, HDR_LEN + 1514, 9);
	ck_assert_uint_eq(fd_run(&a.drv, RXQ, 2, 1000), 2);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 1).id, h1);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 1).len, HDR_LEN + 1514);
	check_rx(&a, 1, HDR_LEN + 1514, 9);
	ck_assert_uint_gt(fd_interrupts, 0);
}
END_TEST

/* A frame larger than the chain is dropped; the chain waits for the next one. */
START_TEST(test_receive_too_big)
{
	uint16_t h = rx_add(&a, 0, HDR_LEN + 64);

	fd_serve(&a.drv, RXQ);
	send_frame(&a, HDR_LEN + 65, 1);
	ck_assert_uint_eq(fd_run(&a.drv, RXQ, 1, 100), 0);
	send_frame(&a, HDR_LEN + 64, 2);
	ck_assert_uint_eq(fd_run(&a.drv, RXQ, 1, 1000), 1);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).id, h);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).len, HDR_LEN + 64);
	check_rx(&a, 0, HDR_LEN + 64, 2);
}
END_TEST

/* A receive chain without room for the header goes straight back, empty. */
START_TEST(test_receive_buffer_too_small)
{
	struct fd_seg seg = { BUF(0), HDR_LEN - 1, true };
	uint16_t h = fd_add(&a.drv, RXQ, &seg, 1);

	fd_serve(&a.drv, RXQ);
	ck_assert_uint_eq(fd_used_idx(&a.drv, RXQ), 1);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).id, h);
	ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 0).len, 0);
}
END_TEST

START_TEST(test_config)
{
	struct virtio_net_config c;

	a.dev.ops->config_read(&a.dev, 0, (uint8_t *)&c, sizeof(c));
	ck_assert_mem_eq(c.mac, mac, 6);
	ck_assert_uint_eq(c.status, VIRTIO_NET_S_LINK_UP);
	ck_assert(a.dev.host_features & (1ULL << VIRTIO_NET_F_MAC));
	ck_assert(!(a.dev.host_features & (1ULL << VIRTIO_NET_F_CSUM)));	/* no offloads */
}
END_TEST

/* ---- save/restore ---- */

static int restore_bytes(struct virtio_device *d, const void *data, size_t len)
{
	struct state_reader r;
	int e;

	state_reader_init(&r, data, len);
	e = d->ops->restore(d, &r);
	return e ? e : state_reader_finish(&r);
}

static void save(struct virtio_device *d, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(d->ops->save(d, w), 0);
}

/* A holds chains 1 and 2 (chain 0 used): its record. */
static void hold_two(struct state_writer *w)
{
	struct fd_seg seg3[3] = { { BUF(2), 4, true }, { BUF(2) + 0x40, 8, true },
				  { BUF(2) + 0x100, 600, true } };

	rx_add(&a, 0, 1526);
	rx_add(&a, 1, 1526);
	fd_add(&a.drv, RXQ, seg3, 3);
	fd_serve(&a.drv, RXQ);
	send_frame(&a, HDR_LEN + 50, 4);
	ck_assert_uint_eq(fd_run(&a.drv, RXQ, 1, 1000), 1);
	save(&a.dev, w);
}

/*
 * A second device with the first one's guest RAM and common virtio state
 * (what the common part of a restore brings back), then its own record.
 */
static void restore_into_b(const struct state_writer *w)
{
	side_create(&b, true);
	/* Without receive buffers a device stops watching its tap: a restore must not leave it so. */
	fd_serve(&b.drv, RXQ);
	memcpy(b.mem.map, a.mem.map, RAM_SIZE);
	for (unsigned q = 0; q < 2; q++) {
		b.dev.vq[q].last_avail = a.dev.vq[q].last_avail;
		b.dev.vq[q].used_idx = a.dev.vq[q].used_idx;
	}
	memcpy(b.drv.next_desc, a.drv.next_desc, sizeof(a.drv.next_desc));
	memcpy(b.drv.avail_idx, a.drv.avail_idx, sizeof(a.drv.avail_idx));
	ck_assert_int_eq(restore_bytes(&b.dev, w->data, w->len), 0);
}

START_TEST(test_save_restore_round_trip)
{
	struct state_writer w1, w2;
	struct virtio_net_config c1, c2;

	hold_two(&w1);
	/* mac, status, count, then head, nseg, (gpa, len) per segment. */
	ck_assert_uint_eq(w1.len, 6 + 2 + 2 + (4 + 2 * 12) + (4 + 3 * 12));
	restore_into_b(&w1);
	save(&b.dev, &w2);
	ck_assert_uint_eq(w1.len, w2.len);
	ck_assert_mem_eq(w1.data, w2.data, w1.len);
	a.dev.ops->config_read(&a.dev, 0, (uint8_t *)&c1, sizeof(c1));
	b.dev.ops->config_read(&b.dev, 0, (uint8_t *)&c2, sizeof(c2));
	ck_assert_mem_eq(&c1, &c2, sizeof(c1));
	/* The same frames land in the same chains, with the same used elements. */
	for (unsigned k = 0; k < 2; k++) {
		struct side *s[2] = { &a, &b };

		for (unsigned i = 0; i < 2; i++) {
			send_frame(s[i], HDR_LEN + 200 + k, (uint8_t)(20 + k));
			ck_assert_uint_eq(fd_run(&s[i]->drv, RXQ, (uint16_t)(2 + k), 1000),
					  2 + k);
		}
		ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 1 + k).id,
				  fd_used_elem(&b.drv, RXQ, 1 + k).id);
		ck_assert_uint_eq(fd_used_elem(&a.drv, RXQ, 1 + k).len,
				  fd_used_elem(&b.drv, RXQ, 1 + k).len);
	}
	ck_assert_mem_eq(a.mem.map + BUF(1), b.mem.map + BUF(1), 0x1000);
	ck_assert_mem_eq(a.mem.map + BUF(2), b.mem.map + BUF(2), 0x1000);
	check_rx(&b, 1, HDR_LEN + 200, 20);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

START_TEST(test_restore_nothing_held)
{
	struct state_writer w1, w2;

	save(&a.dev, &w1);
	ck_assert_uint_eq(w1.len, 10);
	/* A device the driver has not set up yet takes a record without chains. */
	side_create(&b, false);
	ck_assert_int_eq(restore_bytes(&b.dev, w1.data, w1.len), 0);
	save(&b.dev, &w2);
	ck_assert_mem_eq(w1.data, w2.data, w1.len);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

/* A copy of the record with n bytes at offset at replaced by v: must be refused. */
static void refuse(const struct state_writer *w, size_t at, const void *v, size_t n)
{
	uint8_t bad[512];

	ck_assert_uint_le(w->len, sizeof(bad));
	memcpy(bad, w->data, w->len);
	memcpy(bad + at, v, n);
	ck_assert_int_eq(restore_bytes(&b.dev, bad, w->len), -EINVAL);
}

START_TEST(test_restore_refuses_corrupt)
{
	struct state_writer w;
	uint8_t one = 1, big[2] = { 0x01, 0x01 };	/* 257 */
	uint16_t v16;
	uint64_t v64;
	uint32_t v32;

	hold_two(&w);
	restore_into_b(&w);
	/* Layout: mac 0, status 6, count 8; chain at 10 (2 segments), chain at 38 (3). */
	for (size_t n = 0; n < w.len; n++)
		ck_assert_int_eq(restore_bytes(&b.dev, w.data, n), -EINVAL);
	refuse(&w, 0, &one, 1);				/* multicast MAC */
	v16 = 4;
	refuse(&w, 6, &v16, 2);				/* a status bit never offered */
	v16 = FD_QSIZE + 1;
	refuse(&w, 8, &v16, 2);				/* more chains than the ring */
	v16 = FD_QSIZE;
	refuse(&w, 10, &v16, 2);			/* head out of range */
	memcpy(&v16, w.data + 10, 2);
	refuse(&w, 10 + 28, &v16, 2);			/* the same head twice */
	v16 = 0;
	refuse(&w, 12, &v16, 2);			/* no segments */
	refuse(&w, 12, big, 2);				/* more segments than a chain has */
	v64 = RAM_SIZE - 4;
	refuse(&w, 14, &v64, 8);			/* outside guest RAM */
	v64 = UINT64_MAX - 1;
	refuse(&w, 14, &v64, 8);			/* wrapping */
	v32 = 1;
	{
		uint8_t bad[512];

		/* No room for the header: the second chain's segments of a byte each. */
		memcpy(bad, w.data, w.len);
		memcpy(bad + 38 + 4 + 8, &v32, 4);
		memcpy(bad + 38 + 4 + 20, &v32, 4);
		memcpy(bad + 38 + 4 + 32, &v32, 4);
		ck_assert_int_eq(restore_bytes(&b.dev, bad, w.len), -EINVAL);
		bad[w.len] = 0;
		memcpy(bad, w.data, w.len);
		ck_assert_int_eq(restore_bytes(&b.dev, bad, w.len + 1), -EINVAL);	/* trailing */
	}
	/* A device whose receive queue is not running holds nothing. */
	side_destroy(&b);
	side_create(&b, false);
	ck_assert_int_eq(restore_bytes(&b.dev, w.data, w.len), -EINVAL);
	state_writer_free(&w);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *io = tcase_create("io");
	TCase *state = tcase_create("save_restore");

	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_test(io, test_transmit);
	tcase_add_test(io, test_receive);
	tcase_add_test(io, test_receive_too_big);
	tcase_add_test(io, test_receive_buffer_too_small);
	tcase_add_test(io, test_config);
	suite_add_tcase(s, io);
	tcase_add_checked_fixture(state, setup, teardown);
	tcase_add_test(state, test_save_restore_round_trip);
	tcase_add_test(state, test_restore_nothing_held);
	tcase_add_test(state, test_restore_refuses_corrupt);
	suite_add_tcase(s, state);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	log_threshold = LOG_ERROR;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
