/*
 * Devices across a snapshot: sets up every virtio device it finds among
 * virtio-blk, -rng, -console and -net (either transport), uses each once so
 * that the rings are not at their start, asks for a snapshot through
 * SNAPSHOT_PORT, and then uses each again.  In the run restored from that
 * snapshot the second half runs on the restored devices and rings:
 *
 *   blk      writes sector 16 (saved run), 24 (restored run) or 32 (no
 *            snapshot) with "snapdev after STATE" and a pattern, flushes,
 *            reads it back; the host checks the image
 *   rng      4096 bytes that look random
 *   console  "snapdev: console after STATE" on the virtio console
 *   net      ARP for the gateway and net_pings= (default 2) pings (receive
 *            buffers posted before the snapshot are used after it)
 *
 * Prints "snapshot: saved|restored|none", then "snapdev: DEV after STATE ok"
 * per device, then PASS.  Command line: net_ip=, net_gw= (defaults 10.0.2.15,
 * 10.0.2.2), net_pings=N, virtio_timeout=MS, cpl=0.
 */
#include "virtio.h"

#define SNAPSHOT_PORT		0x5f0	/* include/kvmrun/snapshot.h */

#define VIRTIO_BLK_F_FLUSH	9
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define SECTOR			512

#define VIRTIO_NET_F_MAC	5
#define NET_RX_BUFS		16
#define NET_RX_BUF_SIZE		2048
#define ETH_ARP			0x0806
#define ETH_IP			0x0800

#define CON_RX_BUFS		4

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };
struct net_hdr { uint8_t flags, gso_type; uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers; }
	__attribute__((packed));

static struct virtio_dev blk, rng, con, net;
static bool has_blk, has_rng, has_con, has_net;
static struct virtq blk_q, rng_q, con_rxq, con_txq, net_rxq, net_txq;
static struct blk_hdr bhdr;
static uint8_t bstatus;
static uint8_t sector[SECTOR] __attribute__((aligned(512)));
static uint8_t readback[SECTOR] __attribute__((aligned(512)));
static uint8_t entropy[4096];
static uint8_t con_rx[CON_RX_BUFS][64];
static char con_line[128];
static uint8_t net_rx[NET_RX_BUFS][NET_RX_BUF_SIZE];
static uint8_t net_head_buf[VIRTQ_MAX_SIZE];
static struct net_hdr tx_hdr;
static uint8_t frame[1514];
static uint8_t mac[6] = { 0x02, 0x6b, 0x76, 0x6d, 0x72, 0x02 }, gw_mac[6];
static uint8_t my_ip[4] = { 10, 0, 2, 15 }, gw_ip[4] = { 10, 0, 2, 2 };
static uint16_t ping_seq;
static uint8_t user_stack[65536] __attribute__((aligned(16)));

/* ---- virtio-blk ---- */

static uint8_t blk_io(uint32_t type, uint64_t sec, void *data)
{
	struct virtq_buf b[3];
	unsigned n = 0;

	bhdr = (struct blk_hdr){ .type = type, .sector = sec };
	bstatus = 0xff;
	b[n++] = (struct virtq_buf){ &bhdr, sizeof(bhdr), false };
	if (data)
		b[n++] = (struct virtq_buf){ data, SECTOR, type == VIRTIO_BLK_T_IN };
	b[n++] = (struct virtq_buf){ &bstatus, 1, true };
	virtq_xfer(&blk_q, b, n, false);
	return bstatus;
}

static void blk_fill(const char *state)
{
	int len = snprintf((char *)sector, SECTOR, "snapdev after %s\n", state);

	for (unsigned i = (unsigned)len; i < SECTOR; i++)
		sector[i] = (uint8_t)(i * 7 + 3);
}

static void blk_after(const char *state, uint64_t sec)
{
	blk_fill(state);
	check(blk_io(VIRTIO_BLK_T_OUT, sec, sector) == 0, "virtio-blk: write of sector %lu failed", sec);
	if (virtio_has(&blk, VIRTIO_BLK_F_FLUSH))
		check(blk_io(VIRTIO_BLK_T_FLUSH, 0, NULL) == 0, "virtio-blk: flush failed");
	memset(readback, 0, SECTOR);
	check(blk_io(VIRTIO_BLK_T_IN, sec, readback) == 0, "virtio-blk: read of sector %lu failed", sec);
	for (unsigned i = 0; i < SECTOR; i++)
		check(readback[i] == sector[i], "virtio-blk: sector %lu byte %u reads 0x%x, wrote 0x%x", sec, i,
		      readback[i], sector[i]);
	printf("snapdev: blk after %s ok (sector %lu)\n", state, sec);
}

/* ---- virtio-rng ---- */

static void rng_read(uint32_t total)
{
	uint32_t got = 0;

	while (got < total) {
		struct virtq_buf b = { entropy + got, total - got < 512 ? total - got : 512, true };

		got += virtq_xfer(&rng_q, &b, 1, false);
	}
}

static void rng_after(const char *state)
{
	bool seen[256] = { false };
	unsigned distinct = 0;

	memset(entropy, 0, sizeof(entropy));
	rng_read(sizeof(entropy));
	for (unsigned i = 0; i < sizeof(entropy); i++)
		if (!seen[entropy[i]]) {
			seen[entropy[i]] = true;
			distinct++;
		}
	check(distinct >= 200, "virtio-rng: only %u distinct byte values in %u bytes", distinct,
	      (unsigned)sizeof(entropy));
	printf("snapdev: rng after %s ok (%u distinct byte values)\n", state, distinct);
}

/* ---- virtio-console ---- */

static void con_send(const char *s)
{
	struct virtq_buf b = { (void *)s, (uint32_t)strlen(s), false };

	virtq_xfer(&con_txq, &b, 1, false);
}

/* ---- virtio-net ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static bool same(const uint8_t *a, const uint8_t *b, unsigned n)
{
	while (n--)
		if (*a++ != *b++)
			return false;
	return true;
}

static void net_post(unsigned i)
{
	struct virtq_buf b = { net_rx[i], NET_RX_BUF_SIZE, true };
	int head = virtq_add(&net_rxq, &b, 1, false);

	check(head >= 0, "virtio-net: receive queue full");
	net_head_buf[head] = (uint8_t)i;
}

static void net_send(unsigned len)
{
	struct virtq_buf b[2] = { { &tx_hdr, sizeof(tx_hdr), false }, { frame, len < 60 ? 60 : len, false } };

	memset(&tx_hdr, 0, sizeof(tx_hdr));
	virtq_xfer(&net_txq, b, 2, false);
}

static void net_receive(bool (*match)(const uint8_t *f, unsigned len), const char *what)
{
	for (;;) {
		uint32_t id, len;
		bool ok;

		check(virtq_wait(&net_rxq, &id, &len), "virtio-net: no %s within %lu ms", what, virtio_timeout_ms);
		check(len >= sizeof(struct net_hdr) && len <= NET_RX_BUF_SIZE, "virtio-net: %u-byte receive", len);
		ok = match(net_rx[net_head_buf[id]] + sizeof(struct net_hdr), len - (uint32_t)sizeof(struct net_hdr));
		net_post(net_head_buf[id]);
		virtq_kick(&net_rxq);
		if (ok)
			return;
	}
}

static unsigned eth_header(const uint8_t *dst, uint16_t type)
{
	memcpy(frame, dst, 6);
	memcpy(frame + 6, mac, 6);
	put16(frame + 12, type);
	return 14;
}

static bool is_arp_reply(const uint8_t *f, unsigned len)
{
	const uint8_t *a = f + 14;

	if (len < 42 || get16(f + 12) != ETH_ARP || get16(a + 6) != 2 || !same(a + 14, gw_ip, 4) ||
	    !same(a + 24, my_ip, 4))
		return false;
	memcpy(gw_mac, a + 8, 6);
	return true;
}

static void arp(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned n = eth_header(bcast, ETH_ARP);
	uint8_t *a = frame + n;

	memset(a, 0, 60 - n);
	put16(a, 1);
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, my_ip, 4);
	memcpy(a + 24, gw_ip, 4);
	net_send(n + 28);
	net_receive(is_arp_reply, "ARP reply");
}

static uint16_t ip_csum(const uint8_t *p, unsigned len)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool is_echo_reply(const uint8_t *f, unsigned len)
{
	const uint8_t *ip = f + 14;

	if (len < 14 + 20 + 8 || get16(f + 12) != ETH_IP || ip[0] != 0x45 || ip[9] != 1 || !same(ip + 12, gw_ip, 4))
		return false;
	return ip[20] == 0 && get16(ip + 24) == 0x6b76 && get16(ip + 26) == ping_seq;
}

static void ping(void)
{
	unsigned n = eth_header(gw_mac, ETH_IP);
	uint8_t *ip = frame + n, *icmp = ip + 20;

	ping_seq++;
	memset(ip, 0, 20 + 8 + 32);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + 32);
	put16(ip + 4, ping_seq);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, gw_ip, 4);
	put16(ip + 10, ip_csum(ip, 20));
	icmp[0] = 8;
	put16(icmp + 4, 0x6b76);
	put16(icmp + 6, ping_seq);
	for (unsigned j = 0; j < 32; j++)
		icmp[8 + j] = (uint8_t)(j + ping_seq);
	put16(icmp + 2, ip_csum(icmp, 8 + 32));
	net_send(n + 20 + 8 + 32);
	net_receive(is_echo_reply, "ICMP echo reply");
}

static bool parse_ip(const char *key, uint8_t ip[4])
{
	char s[32];
	const char *p = s;

	if (!cmdline_get(key, s, sizeof(s)))
		return false;
	for (int i = 0; i < 4; i++) {
		uint64_t x;

		p = virtio_parse_num(p, &x, false);
		check(p && x < 256 && (i == 3 ? !*p : *p == '.'), "%s=%s: not an IPv4 address", key, s);
		ip[i] = (uint8_t)x;
		p++;
	}
	return true;
}

/* ---- the run ---- */

static void where(const char *what, const struct virtio_dev *d)
{
	printf("snapdev: %s on ", what);
	virtio_print_where(d);
	printf("\n");
}

static void setup(void)
{
	has_blk = virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0;
	has_rng = virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0;
	has_con = virtio_find(VIRTIO_ID_CONSOLE, 0, &con) == 0;
	has_net = virtio_find(VIRTIO_ID_NET, 0, &net) == 0;
	check(has_blk || has_rng || has_con || has_net, "snapdev: no virtio-blk, -rng, -console or -net found");
	if (has_blk) {
		check(virtio_init(&blk, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) == 0, "virtio-blk: initialization failed");
		check(virtq_setup(&blk, &blk_q, 0, 16) > 0, "virtio-blk: queue setup failed");
		virtio_driver_ok(&blk);
		where("blk", &blk);
		check(blk_io(VIRTIO_BLK_T_IN, 0, readback) == 0, "virtio-blk: read of sector 0 failed");
	}
	if (has_rng) {
		check(virtio_init(&rng, 0) == 0, "virtio-rng: initialization failed");
		check(virtq_setup(&rng, &rng_q, 0, 16) > 0, "virtio-rng: queue setup failed");
		virtio_driver_ok(&rng);
		where("rng", &rng);
		rng_read(256);
	}
	if (has_con) {
		check(virtio_init(&con, 0) == 0, "virtio-console: initialization failed");
		check(virtq_setup(&con, &con_rxq, 0, 16) > 0 && virtq_setup(&con, &con_txq, 1, 16) > 0,
		      "virtio-console: queue setup failed");
		for (unsigned i = 0; i < CON_RX_BUFS; i++) {
			struct virtq_buf b = { con_rx[i], sizeof(con_rx[i]), true };

			check(virtq_add(&con_rxq, &b, 1, false) >= 0, "virtio-console: receive queue full");
		}
		virtio_driver_ok(&con);
		virtq_kick(&con_rxq);
		where("console", &con);
		con_send("snapdev: console before\n");
	}
	if (has_net) {
		int rs;

		parse_ip("net_ip", my_ip);
		parse_ip("net_gw", gw_ip);
		check(virtio_init(&net, VIRTIO_BIT(VIRTIO_NET_F_MAC)) == 0, "virtio-net: initialization failed");
		rs = virtq_setup(&net, &net_rxq, 0, 64);
		check(rs > 0 && virtq_setup(&net, &net_txq, 1, 64) > 0, "virtio-net: queue setup failed");
		if (virtio_has(&net, VIRTIO_NET_F_MAC))
			virtio_config_read(&net, 0, mac, 6);
		for (unsigned i = 0; i < NET_RX_BUFS && i < (unsigned)rs; i++)
			net_post(i);
		virtio_driver_ok(&net);
		virtq_kick(&net_rxq);
		where("net", &net);
		arp();
	}
}

static long run(long arg)
{
	uint64_t pings = 2;
	const char *state;
	uint8_t r;

	(void)arg;
	cmdline_u64("net_pings", &pings);
	setup();
	printf("snapdev: devices ready\n");
	outb(SNAPSHOT_PORT, 1);
	r = inb(SNAPSHOT_PORT);
	check(r <= 2, "snapshot port 0x%x read 0x%x (expected 0, 1 or 2)", SNAPSHOT_PORT, r);
	state = r == 1 ? "saved" : r == 2 ? "restored" : "none";
	printf("snapshot: %s\n", state);

	if (has_blk)
		blk_after(state, r == 1 ? 16 : r == 2 ? 24 : 32);
	if (has_rng)
		rng_after(state);
	if (has_con) {
		snprintf(con_line, sizeof(con_line), "snapdev: console after %s\n", state);
		con_send(con_line);
		printf("snapdev: console after %s ok\n", state);
	}
	if (has_net) {
		arp();
		for (uint64_t i = 0; i < pings; i++)
			ping();
		printf("snapdev: net after %s ok (ARP and %lu pings to %u.%u.%u.%u)\n", state, pings, gw_ip[0],
		       gw_ip[1], gw_ip[2], gw_ip[3]);
	}
	return 0;
}

void test_main(void)
{
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
