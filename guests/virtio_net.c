/*
 * virtio-net (device id 1) over virtio-mmio, receive queue 0 and transmit
 * queue 1, no offloads, no mergeable receive buffers.  Resolves the gateway
 * with an ARP request and, with net_ping=1, pings it (ICMP echo).  Runs in
 * CPL3 (cpl=0: in CPL0).
 *
 * Command line: virtio_mmio.device=... (one per transport), optional
 * net_ip=A.B.C.D (default 10.0.2.15, QEMU's user network), net_gw=A.B.C.D
 * (default 10.0.2.2), net_ping=1, net_pings=N (default 4), virtio_timeout=MS.
 *
 * net=bulk frames=N size=BYTES [secs=S] [tsc_khz=K]: after the ARP, sends N
 * UDP frames of BYTES bytes each (60..1514, Ethernet header included, virtio
 * header not) to the gateway's port 9 (discard) as fast as the device takes
 * them: the transmit ring is kept full, used buffers are recycled by polling,
 * and with EVENT_IDX the device is notified only when it asks to be.  secs=S
 * stops sending after S seconds (frames=0: send until then).  Prints
 *   virtio-net bulk: frames=N bytes=N us=N tsc_khz=K
 * timed with rdtsc from the first frame made available to the last one used,
 * at tsc_khz=K from the host (else the CPUID guess, marked "(guessed)").
 */
#include "virtio.h"

#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_NET_F_STATUS	16
#define VIRTIO_NET_S_LINK_UP	1

#define NET_CFG_MAC		0
#define NET_CFG_STATUS		6

#define RX_BUFS		16
#define RX_BUF_SIZE	2048	/* >= 1526: header + a full 1514-byte frame */
#define ETH_ARP		0x0806
#define ETH_IP		0x0800

/* With VIRTIO_F_VERSION_1 the header always has num_buffers: 12 bytes. */
struct virtio_net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint8_t rx_bufs[RX_BUFS][RX_BUF_SIZE];
static uint8_t head_buf[VIRTQ_MAX_SIZE];
static struct virtio_net_hdr tx_hdr;
static uint8_t frame[1514];
static uint8_t mac[6], gw_mac[6];
static uint8_t my_ip[4] = { 10, 0, 2, 15 }, gw_ip[4] = { 10, 0, 2, 2 };
static unsigned rx_frames, rx_other;
/* One device-readable buffer per bulk frame: header and frame together (any layout with VERSION_1). */
static struct {
	struct virtio_net_hdr hdr;
	uint8_t frame[1514];
} __attribute__((packed)) bulk_buf;
static uint8_t user_stack[65536] __attribute__((aligned(16)));

static bool differ(const void *a, const void *b, unsigned n)
{
	const uint8_t *p = a, *q = b;

	while (n--)
		if (*p++ != *q++)
			return true;
	return false;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static bool parse_ip(const char *key, uint8_t ip[4])
{
	char s[32];
	const char *p = s;
	uint8_t v[4];

	if (!cmdline_get(key, s, sizeof(s)))
		return false;
	for (int i = 0; i < 4; i++) {
		uint64_t x;

		p = virtio_parse_num(p, &x, false);
		check(p && x < 256 && (i == 3 ? !*p : *p == '.'), "%s=%s: not an IPv4 address", key, s);
		v[i] = (uint8_t)x;
		p++;
	}
	memcpy(ip, v, 4);
	return true;
}

static uint16_t ip_csum(const uint8_t *p, unsigned len)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void rx_post(unsigned i)
{
	struct virtq_buf b = { rx_bufs[i], RX_BUF_SIZE, true };
	int head = virtq_add(&rxq, &b, 1, false);

	check(head >= 0, "virtio-net: receive queue full");
	head_buf[head] = (uint8_t)i;
}

/* Header and frame as two buffers (any layout is fine with VERSION_1), every other frame indirect. */
static void transmit(unsigned len)
{
	static unsigned n;
	struct virtq_buf b[2] = {
		{ &tx_hdr, sizeof(tx_hdr), false },
		{ frame, len < 60 ? 60 : len, false },	/* pad to the Ethernet minimum */
	};

	memset(&tx_hdr, 0, sizeof(tx_hdr));
	virtq_xfer(&txq, b, 2, n++ & 1);
}

/* Waits for a frame that match() accepts; others are counted and dropped. */
static void receive(bool (*match)(const uint8_t *f, unsigned len), const char *what)
{
	for (;;) {
		uint32_t id, len;
		uint8_t *p;
		bool ok;

		if (!virtq_wait(&rxq, &id, &len))
			fail("virtio-net: no %s within %lu ms (%u other frames)", what, virtio_timeout_ms, rx_other);
		check(len >= sizeof(struct virtio_net_hdr) && len <= RX_BUF_SIZE,
		      "virtio-net: received buffer of %u bytes", len);
		p = rx_bufs[head_buf[id]];
		rx_frames++;
		ok = match(p + sizeof(struct virtio_net_hdr), len - (uint32_t)sizeof(struct virtio_net_hdr));
		rx_post(head_buf[id]);
		virtq_kick(&rxq);
		if (ok)
			return;
		rx_other++;
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

	if (len < 42 || get16(f + 12) != ETH_ARP || get16(a + 6) != 2)
		return false;
	if (differ(a + 14, gw_ip, 4) || differ(a + 24, my_ip, 4) || differ(f, mac, 6))
		return false;
	memcpy(gw_mac, a + 8, 6);
	return true;
}

static void arp(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned n = eth_header(bcast, ETH_ARP);
	uint8_t *a = frame + n;

	memset(frame + n, 0, 60 - n);
	put16(a, 1);		/* Ethernet */
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);	/* request */
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, my_ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, gw_ip, 4);
	transmit(n + 28);
	receive(is_arp_reply, "ARP reply");
	printf("virtio-net: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n", gw_ip[0], gw_ip[1], gw_ip[2], gw_ip[3],
	       gw_mac[0], gw_mac[1], gw_mac[2], gw_mac[3], gw_mac[4], gw_mac[5]);
}

static uint16_t ping_seq;

static bool is_echo_reply(const uint8_t *f, unsigned len)
{
	const uint8_t *ip = f + 14, *icmp;
	unsigned ihl;

	if (len < 14 + 20 + 8 || get16(f + 12) != ETH_IP || (ip[0] >> 4) != 4 || ip[9] != 1)
		return false;
	ihl = (ip[0] & 15) * 4u;
	icmp = ip + ihl;
	if (len < 14 + ihl + 8 || differ(ip + 12, gw_ip, 4) || differ(ip + 16, my_ip, 4))
		return false;
	return icmp[0] == 0 && get16(icmp + 4) == 0x6b76 && get16(icmp + 6) == ping_seq;
}

static void ping(unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		unsigned n = eth_header(gw_mac, ETH_IP);
		uint8_t *ip = frame + n, *icmp = ip + 20;
		unsigned payload = 56;

		ping_seq = (uint16_t)(i + 1);
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + 8 + payload));
		put16(ip + 4, ping_seq);
		ip[8] = 64;		/* TTL */
		ip[9] = 1;		/* ICMP */
		memcpy(ip + 12, my_ip, 4);
		memcpy(ip + 16, gw_ip, 4);
		put16(ip + 10, ip_csum(ip, 20));
		icmp[0] = 8;		/* echo request */
		icmp[1] = 0;
		put16(icmp + 2, 0);
		put16(icmp + 4, 0x6b76);	/* id "kv" */
		put16(icmp + 6, ping_seq);
		for (unsigned j = 0; j < payload; j++)
			icmp[8 + j] = (uint8_t)(j + i);
		put16(icmp + 2, ip_csum(icmp, 8 + payload));
		transmit(n + 20 + 8 + payload);
		receive(is_echo_reply, "ICMP echo reply");
	}
	printf("virtio-net: %u ICMP echo replies from %u.%u.%u.%u\n", count, gw_ip[0], gw_ip[1], gw_ip[2], gw_ip[3]);
}

/* An IPv4/UDP frame of len bytes from us to the gateway's discard port; the UDP checksum is left out (0). */
static void bulk_frame(unsigned len)
{
	uint8_t *f = bulk_buf.frame, *ip = f + 14, *udp = ip + 20;

	memset(&bulk_buf, 0, sizeof(bulk_buf));
	memcpy(f, gw_mac, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, ETH_IP);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(len - 14));
	ip[8] = 64;		/* TTL */
	ip[9] = 17;		/* UDP */
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, gw_ip, 4);
	put16(ip + 10, ip_csum(ip, 20));
	put16(udp, 9);
	put16(udp + 2, 9);
	put16(udp + 4, (uint16_t)(len - 14 - 20));
	for (unsigned j = 14 + 20 + 8; j < len; j++)
		f[j] = (uint8_t)j;
}

static void bulk(void)
{
	uint64_t frames = 0, size = 0, secs = 0, tsc_khz = 0, start, end, stop_at, last_progress, sent = 0, done = 0;
	bool guessed = !cmdline_u64("tsc_khz", &tsc_khz) || !tsc_khz;
	struct virtq_buf b = { &bulk_buf, 0, false };

	cmdline_u64("frames", &frames);
	cmdline_u64("size", &size);
	cmdline_u64("secs", &secs);
	check(size >= 60 && size <= sizeof(bulk_buf.frame), "virtio-net bulk: size=%lu is not in 60..1514", size);
	check(frames || secs, "virtio-net bulk: needs frames=N or secs=S");
	if (guessed)
		tsc_khz = virtio_tsc_per_ms();
	bulk_frame((unsigned)size);
	b.len = (uint32_t)(sizeof(bulk_buf.hdr) + size);
	start = last_progress = rdtsc();
	stop_at = secs ? start + secs * 1000 * tsc_khz : ~0ull;
	for (;;) {
		uint64_t now = rdtsc();
		bool more = (!frames || sent < frames) && now < stop_at, progress = false;
		uint32_t id;

		while (virtq_poll(&txq, &id, NULL)) {
			done++;
			progress = true;
		}
		/* Refill the whole ring, then one kick: the device says (avail_event) whether it needs it. */
		while (more && virtq_add(&txq, &b, 1, false) >= 0) {
			sent++;
			more = (!frames || sent < frames);
		}
		virtq_kick(&txq);
		if (!more && done == sent)
			break;
		if (progress)
			last_progress = now;
		else if (now - last_progress > virtio_timeout_ms * tsc_khz)
			fail("virtio-net bulk: no frame used within %lu ms (%lu sent, %lu used)", virtio_timeout_ms,
			     sent, done);
		else
			pause();
	}
	end = rdtsc();
	printf("virtio-net bulk: frames=%lu bytes=%lu us=%lu tsc_khz=%lu%s\n", done, done * size,
	       (end - start) * 1000 / tsc_khz, tsc_khz, guessed ? " (guessed)" : "");
}

static long run(long arg)
{
	char mode[16] = "";
	uint64_t do_ping = 0, pings = 4;
	int rs, ts;

	(void)arg;
	parse_ip("net_ip", my_ip);
	parse_ip("net_gw", gw_ip);
	cmdline_u64("net_ping", &do_ping);
	cmdline_u64("net_pings", &pings);
	cmdline_get("net", mode, sizeof(mode));
	check(!mode[0] || !strcmp(mode, "bulk"), "virtio-net: net=%s: only net=bulk is known", mode);
	virtio_mmio_list();
	check(virtio_find(VIRTIO_ID_NET, 0, &dev) == 0, "virtio-net: no network device (id 1) found");
	check(virtio_init(&dev, VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
				VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX)) == 0,
	      "virtio-net: device initialization failed");
	rs = virtq_setup(&dev, &rxq, 0, 64);
	ts = virtq_setup(&dev, &txq, 1, mode[0] ? VIRTQ_MAX_SIZE : 64);
	check(rs > 0 && ts > 0, "virtio-net: queue setup failed");
	if (virtio_has(&dev, VIRTIO_NET_F_MAC)) {
		virtio_config_read(&dev, NET_CFG_MAC, mac, 6);
	} else {
		static const uint8_t local[6] = { 0x02, 0x6b, 0x76, 0x6d, 0x72, 0x01 };

		memcpy(mac, local, 6);
	}
	for (unsigned i = 0; i < RX_BUFS && i < (unsigned)rs; i++)
		rx_post(i);
	virtio_driver_ok(&dev);
	virtq_kick(&rxq);
	printf("virtio-net: device on ");
	virtio_print_where(&dev);
	printf(", features offered 0x%lx negotiated 0x%lx, queues %d/%d\n",
	       dev.offered, dev.features, rs, ts);
	printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x%s\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
	       virtio_has(&dev, VIRTIO_NET_F_MAC) ? "" : " (our own: no VIRTIO_NET_F_MAC)");
	if (virtio_has(&dev, VIRTIO_NET_F_STATUS)) {
		uint16_t st = virtio_config16(&dev, NET_CFG_STATUS);

		printf("virtio-net: link %s\n", st & VIRTIO_NET_S_LINK_UP ? "up" : "down");
		check(st & VIRTIO_NET_S_LINK_UP, "virtio-net: link is down");
	}
	arp();
	if (do_ping)
		ping((unsigned)pings);
	if (mode[0])
		bulk();
	printf("virtio-net: %u frames received (%u not for us), tx %lu notifies, rx %lu notifies\n", rx_frames,
	       rx_other, txq.notifies, rxq.notifies);
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "virtio-net: device needs reset");
	return 0;
}

void test_main(void)
{
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
