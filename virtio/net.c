/*
 * virtio-net (virtio 1.2, 5.1) on a Linux tap device (virtio/tap.c): queue 0
 * receives, queue 1 transmits, no control queue and no mergeable receive
 * buffers.
 *
 * The tap carries a 12-byte header, the VERSION_1 virtio_net_hdr, so the
 * header passes unchanged between the guest's buffers and the tap: transmit
 * is one writev of a chain's readable segments, receive one readv into a
 * chain's writable segments.  Checksum and TSO offloads are offered when
 * the tap can do them (TUNSETOFFLOAD) and switched on for what the driver
 * accepted.
 *
 * Receive: the worker reads the tap only while it holds receive buffers.
 * Buffers are taken off the ring as soon as the driver makes them available
 * (kept, in order, until a packet arrives); when they run out, the tap is
 * taken off the worker's watch list and packets wait in the tap's queue until
 * the driver adds buffers and notifies queue 0.  Nothing polls.
 */
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/tap.h"
#include "kvmrun/virtio_devices.h"

enum { RXQ, TXQ, NR_QUEUES };

#define NET_HDR_LEN	sizeof(struct virtio_net_hdr_v1)	/* 12 */
#define RX_BATCH	64	/* packets per wake-up, so that transmit is not starved */
#define RX_SEGS		(VIRTQ_MAX_SIZE * VIRTQ_MAX_SEGS)	/* held segments, at most */
#define DRAIN_MAX	4096	/* packets discarded from the tap at a reset, at most */

#define NET_OFFLOADS	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
			 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
			 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
			 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN))

_Static_assert(NET_HDR_LEN == 12, "the VERSION_1 virtio-net header is 12 bytes");

/* A receive chain taken off the ring, waiting for a packet. */
struct rx_buf {
	uint16_t head;
	uint16_t nseg;
	uint32_t seg;		/* first of its segments in net.seg (a ring) */
	uint32_t len;		/* writable bytes */
};

struct net {
	/* Plain state. */
	struct virtio_net_config config;
	bool offload_set;	/* TUNSETOFFLOAD done for the negotiated features */
	struct rx_buf rx[VIRTQ_MAX_SIZE];	/* held receive chains, oldest first */
	unsigned rx_first, rx_count;
	uint32_t seg_first, seg_count;
	uint64_t rx_packets, rx_too_big, rx_bad, tx_packets, tx_errors;
	bool warned_too_big, warned_tx;

	/* Host resources. */
	struct tap tap;
	bool watching;		/* the tap fd is on the worker's epoll list */
	bool tap_gone;
	struct iovec *seg;	/* RX_SEGS entries: the held chains' writable segments */
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SEGS + 1];
	uint8_t spill;		/* one byte past a receive chain: a packet too big lands here */
	struct virtio_throttle throttle;	/* what the guest sends: pps=, bps= */
};

static void watch_tap(struct virtio_device *d, bool on)
{
	struct net *n = d->priv;

	if (on == n->watching || (on && n->tap_gone))
		return;
	if (on) {
		int r = virtio_watch_fd(d, n->tap.fd);

		if (r) {
			log_warn("virtio-net: cannot watch tap %s: %s", n->tap.ifname, strerror(-r));
			return;
		}
	} else if (epoll_ctl(d->epfd, EPOLL_CTL_DEL, n->tap.fd, NULL) < 0) {
		log_debug("virtio-net: unwatch tap: %s", strerror(errno));
	}
	n->watching = on;
}

/* The tap device was deleted under us: no more I/O, and the link goes down. */
static void tap_gone(struct virtio_device *d, int err)
{
	struct net *n = d->priv;

	watch_tap(d, false);
	n->tap_gone = true;
	log_warn("virtio-net: tap %s: %s; the guest's link is now down", n->tap.ifname, strerror(err));
	n->config.status = 0;
	d->config_generation++;
	if ((d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    virtio_has_feature(d, VIRTIO_NET_F_STATUS))
		d->transport->interrupt(d, 0, true);
}

/* Once the driver is running: tell the tap what the guest can receive. */
static void sync_offload(struct virtio_device *d)
{
	struct net *n = d->priv;
	unsigned flags = 0;

	if (n->offload_set || !n->tap.offloads)
		return;
	n->offload_set = true;
	if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    virtio_has_feature(d, VIRTIO_NET_F_GUEST_ECN))
			flags |= TUN_F_TSO_ECN;
	}
	tap_set_offload(&n->tap, flags);
	log_debug("virtio-net: driver features 0x%llx; tap offloads 0x%x",
		  (unsigned long long)d->guest_features, n->tap.offload);
}

static bool rx_running(const struct virtio_device *d)
{
	const struct virtq *vq = &d->vq[RXQ];

	return (d->status & VIRTIO_CONFIG_S_DRIVER_OK) && vq->ready && !vq->broken;
}

/* Keeps the writable part of the chain just popped; unusable chains go back empty. */
static void rx_hold(struct virtio_device *d)
{
	struct net *n = d->priv;
	struct virtq_chain *c = &n->chain;
	struct rx_buf *b;

	if (!c->n_in || c->in_len < NET_HDR_LEN || c->in_len > UINT32_MAX) {
		n->rx_bad++;
		virtq_push(&d->vq[RXQ], c->head, 0);
		return;
	}
	b = &n->rx[(n->rx_first + n->rx_count++) % VIRTQ_MAX_SIZE];
	b->head = c->head;
	b->nseg = (uint16_t)c->n_in;
	b->seg = (n->seg_first + n->seg_count) % RX_SEGS;
	b->len = (uint32_t)c->in_len;
	for (unsigned i = 0; i < c->n_in; i++)
		n->seg[(b->seg + i) % RX_SEGS] = c->iov[c->n_out + i];
	n->seg_count += c->n_in;
}

/*
 * Takes every receive chain the driver made available.  When none is left,
 * asks for a notification and looks once more, so that a buffer added in
 * between is not missed.
 */
static void rx_take(struct virtio_device *d)
{
	struct net *n = d->priv;
	struct virtq *vq = &d->vq[RXQ];

	for (;;) {
		while (virtq_has_avail(vq)) {
			int r;

			/* A driver cannot have more chains out than the ring has entries. */
			if (n->rx_count >= vq->num) {
				vq->broken = true;
				virtio_needs_reset(d, "more receive buffers than the queue size");
				return;
			}
			r = virtq_pop(vq, d->mem, &n->chain);
			if (r < 0) {
				virtio_needs_reset(d, "malformed descriptor chain on the receive queue");
				return;
			}
			if (r == 0)
				break;
			rx_hold(d);
		}
		if (n->rx_count)
			return;
		virtq_set_notification(vq, true);
		if (!virtq_has_avail(vq))
			return;
	}
}

static void rx_release(struct net *n)
{
	const struct rx_buf *b = &n->rx[n->rx_first];

	n->seg_first = (n->seg_first + b->nseg) % RX_SEGS;
	n->seg_count -= b->nseg;
	n->rx_first = (n->rx_first + 1) % VIRTQ_MAX_SIZE;
	n->rx_count--;
}

/* Reads one packet into the oldest held chain.  1: a packet was handled; 0: none; -1: tap gone. */
static int rx_one(struct virtio_device *d)
{
	struct net *n = d->priv;
	const struct rx_buf *b = &n->rx[n->rx_first];
	ssize_t r;

	for (unsigned i = 0; i < b->nseg; i++)
		n->iov[i] = n->seg[(b->seg + i) % RX_SEGS];
	n->iov[b->nseg] = (struct iovec){ &n->spill, 1 };
	r = tap_read(&n->tap, n->iov, b->nseg + 1);
	if (r < 0) {
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return 0;
		tap_gone(d, (int)-r);
		return -1;
	}
	/* The tap truncates what does not fit: a byte in spill means the packet was larger. */
	if ((size_t)r > b->len) {
		n->rx_too_big++;
		if (!n->warned_too_big)
			log_warn("virtio-net: a packet larger than the guest's %u-byte receive buffer "
				 "was dropped (no mergeable buffers; check the MTU of tap %s)",
				 b->len, n->tap.ifname);
		n->warned_too_big = true;
		return 1;	/* the chain waits for the next packet */
	}
	virtq_push(&d->vq[RXQ], b->head, (uint32_t)r);
	rx_release(n);
	n->rx_packets++;
	return 1;
}

/* Moves packets from the tap into receive buffers while both are there. */
static void rx_run(struct virtio_device *d)
{
	struct net *n = d->priv;
	struct virtq *vq = &d->vq[RXQ];
	uint16_t old = vq->used_idx;

	if (!vq->ready)
		n->rx_first = n->rx_count = n->seg_first = n->seg_count = 0;	/* chains are gone */
	if (!rx_running(d) || n->tap_gone) {
		watch_tap(d, false);
		return;
	}
	sync_offload(d);
	rx_take(d);
	for (unsigned done = 0; n->rx_count && !vq->broken && done < RX_BATCH; done++) {
		if (rx_one(d) <= 0)
			break;
		if (!n->rx_count)
			rx_take(d);
	}
	if (vq->ready && !vq->broken)
		virtio_signal_used(d, RXQ, old);
	/* Level-triggered: a packet still queued brings the worker back. */
	watch_tap(d, n->rx_count && rx_running(d));
}

static void tx_run(struct virtio_device *d)
{
	struct net *n = d->priv;
	struct virtq *vq = &d->vq[TXQ];
	struct virtq_chain *c = &n->chain;
	uint16_t old = vq->used_idx;
	int r = 0;

	sync_offload(d);
	while (virtio_throttle_admit(d, &n->throttle, TXQ) && (r = virtq_pop(vq, d->mem, c)) > 0) {
		ssize_t w;

		virtio_throttle_take(&n->throttle, 1, c->out_len > NET_HDR_LEN ? c->out_len - NET_HDR_LEN : 0);
		/* Header and frame: the tap checks the header and the frame (and drops bad ones). */
		if (c->out_len >= NET_HDR_LEN && !n->tap_gone)
			w = tap_write(&n->tap, c->iov, c->n_out);
		else
			w = n->tap_gone ? -ENODEV : -EINVAL;
		if (w < 0) {
			n->tx_errors++;
			if (!n->warned_tx)
				log_debug("virtio-net: a packet to tap %s was dropped: %s", n->tap.ifname,
					  strerror((int)-w));
			n->warned_tx = true;
		} else {
			n->tx_packets++;
		}
		virtq_push(vq, c->head, 0);
	}
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain on the transmit queue");
	virtio_signal_used(d, TXQ, old);
}

static void net_notify(struct virtio_device *d, unsigned q)
{
	if (q == RXQ)
		rx_run(d);	/* new receive buffers */
	else if (q == TXQ)
		tx_run(d);
}

static void net_fd_ready(struct virtio_device *d, int fd)
{
	struct net *n = d->priv;

	if (fd == n->tap.fd)
		rx_run(d);
	else
		virtio_throttle_fd_ready(d, &n->throttle, fd);
}

static struct virtio_throttle *net_throttle(struct virtio_device *d)
{
	struct net *n = d->priv;

	return &n->throttle;
}

static void net_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct net *n = d->priv;

	virtio_config_copy(&n->config, sizeof(n->config), off, data, len);
}

/*
 * The driver reset the device: forget the receive chains it owned, switch
 * the offloads off until the next driver says what it takes, and drop what
 * the tap queued for the old driver (it may carry offloads the next one
 * does not take).
 */
static void net_reset(struct virtio_device *d)
{
	struct net *n = d->priv;
	uint8_t buf[NET_HDR_LEN + 64];
	struct iovec v = { buf, sizeof(buf) };

	n->rx_first = n->rx_count = 0;
	n->seg_first = n->seg_count = 0;
	n->offload_set = false;
	tap_set_offload(&n->tap, 0);
	for (unsigned i = 0; i < DRAIN_MAX && !n->tap_gone; i++)
		if (tap_read(&n->tap, &v, 1) < 0)
			break;
}

static void net_destroy(struct virtio_device *d)
{
	struct net *n = d->priv;

	log_debug("virtio-net: tap %s: %llu packets received, %llu sent; dropped: %llu too big, "
		  "%llu bad receive buffers, %llu failed sends", n->tap.ifname,
		  (unsigned long long)n->rx_packets, (unsigned long long)n->tx_packets,
		  (unsigned long long)n->rx_too_big, (unsigned long long)n->rx_bad,
		  (unsigned long long)n->tx_errors);
	virtio_throttle_destroy(&n->throttle);
	tap_close(&n->tap);
	free(n->seg);
	free(n);
}

/* The guest address of a held segment (held segments lie in guest RAM: popped through it). */
static bool seg_gpa(const struct guest_mem *mem, const struct iovec *v, uint64_t *gpa)
{
	uintptr_t p = (uintptr_t)v->iov_base;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *g = &mem->region[i];
		uintptr_t host = (uintptr_t)g->host;

		if (p >= host && v->iov_len <= g->size && p - host <= g->size - v->iov_len) {
			*gpa = g->gpa + (p - host);
			return true;
		}
	}
	return false;
}

/*
 * The device type's own state: its config (MAC, link status: what the
 * driver read) and the receive chains it holds between notifications,
 * oldest first (taken off the ring, so the common virtqueue state no longer
 * shows them; without them a restored device would never return them).  A
 * chain is saved as its head and the guest addresses of its writable
 * segments.  Not saved: counters and warnings (host logs), the offloads
 * told to the tap (re-derived from the driver's features on the next queue
 * activity), whether the tap is watched (derived again) or gone (host
 * resources).
 */
static int net_save(struct virtio_device *d, struct state_writer *w)
{
	struct net *n = d->priv;

	state_put_bytes(w, n->config.mac, sizeof(n->config.mac));
	state_put_u16(w, le16toh(n->config.status));
	state_put_u16(w, (uint16_t)n->rx_count);
	for (unsigned k = 0; k < n->rx_count; k++) {
		const struct rx_buf *b = &n->rx[(n->rx_first + k) % VIRTQ_MAX_SIZE];

		state_put_u16(w, b->head);
		state_put_u16(w, b->nseg);
		for (unsigned i = 0; i < b->nseg; i++) {
			const struct iovec *v = &n->seg[(b->seg + i) % RX_SEGS];
			uint64_t gpa;

			if (!seg_gpa(d->mem, v, &gpa))
				return -EINVAL;
			state_put_u64(w, gpa);
			state_put_u32(w, (uint32_t)v->iov_len);
		}
	}
	return w->err;
}

/* After the common state: the receive queue's size and status are the restored ones. */
static int net_restore(struct virtio_device *d, struct state_reader *r)
{
	struct net *n = d->priv;
	const struct virtq *vq = &d->vq[RXQ];
	uint8_t mac[6], seen[VIRTQ_MAX_SIZE] = { 0 };
	uint16_t status;
	unsigned count;
	uint32_t segs = 0;	/* at most VIRTQ_MAX_SIZE * VIRTQ_MAX_SEGS = RX_SEGS */

	state_get_bytes(r, mac, sizeof(mac));
	status = state_get_u16(r);
	count = state_get_u16(r);
	/* A NIC's own address is unicast; only LINK_UP is offered in status. */
	if ((mac[0] & 1) || (status & ~VIRTIO_NET_S_LINK_UP) ||
	    count > (vq->ready ? vq->num : 0u))
		state_reader_fail(r);
	for (unsigned k = 0; k < count && !r->err; k++) {
		struct rx_buf *b = &n->rx[k];
		uint64_t len = 0;

		b->head = state_get_u16(r);
		b->nseg = (uint16_t)state_get_u16(r);
		b->seg = segs;
		/* Held chains are distinct, as rx_hold() made them, and fit where rx_one() reads them. */
		if (r->err || b->head >= vq->num || seen[b->head]++ || !b->nseg ||
		    b->nseg > VIRTQ_MAX_SEGS) {
			state_reader_fail(r);
			break;
		}
		for (unsigned i = 0; i < b->nseg; i++) {
			uint64_t gpa = state_get_u64(r);
			uint32_t l = state_get_u32(r);
			void *p = r->err ? NULL : guest_mem_ptr(d->mem, gpa, l);

			if (!p) {
				state_reader_fail(r);
				break;
			}
			n->seg[segs++] = (struct iovec){ p, l };
			len += l;
		}
		if (!r->err && (len < NET_HDR_LEN || len > UINT32_MAX))
			state_reader_fail(r);
		b->len = (uint32_t)len;
	}
	if (r->err)
		count = segs = 0;
	n->rx_first = 0;
	n->rx_count = count;
	n->seg_first = 0;
	n->seg_count = segs;
	if (!r->err) {
		memcpy(n->config.mac, mac, sizeof(mac));
		n->config.status = htole16(status);
	}
	/* As rx_run() leaves it: held chains wait for the tap to be readable. */
	watch_tap(d, n->rx_count && rx_running(d));
	return r->err;
}

static const struct virtio_device_ops net_ops = {
	.config_read = net_config_read,
	.queue_notify = net_notify,
	.fd_ready = net_fd_ready,
	.throttle = net_throttle,
	.reset = net_reset,
	.destroy = net_destroy,
	.save = net_save,
	.restore = net_restore,
};

static void make_mac(uint8_t mac[6])
{
	uint8_t r[3];

	/* 52:54:00 is locally administered and unicast; the rest only needs to differ. */
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		unsigned v = (unsigned)getpid() * 2654435761u;

		memcpy(r, &v, sizeof(r));
	}
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	memcpy(mac + 3, r, sizeof(r));
}

/* From here the tap is the device's: closed on failure too. */
int virtio_net_init_tap(struct virtio_device *d, struct tap *tap, const struct net_config *nc,
			const struct guest_mem *mem)
{
	struct net *n = calloc(1, sizeof(*n));
	uint64_t features;
	int r;

	if (n)
		n->seg = calloc(RX_SEGS, sizeof(*n->seg));	/* pages are touched only as used */
	if (!n || !n->seg) {
		if (n)
			free(n);
		tap_close(tap);
		return -ENOMEM;
	}
	n->tap = *tap;
	if (nc->mac_given)
		memcpy(n->config.mac, nc->mac, 6);
	else
		make_mac(n->config.mac);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);

	features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		   (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (n->tap.offloads)
		features |= NET_OFFLOADS;
	r = virtio_device_init(d, "virtio-net", VIRTIO_ID_NET, NR_QUEUES, features, &net_ops, n,
			       mem);
	if (r) {
		tap_close(&n->tap);
		free(n->seg);
		free(n);
		return r;
	}
	n->throttle.timer_fd = -1;
	r = virtio_throttle_init(d, &n->throttle, &nc->limit);
	if (!r)
		r = virtio_watch_fd(d, n->tap.fd);
	if (r) {
		log_err("virtio-net: cannot watch tap %s: %s", n->tap.ifname, strerror(-r));
		virtio_device_destroy(d);	/* frees n through net_destroy */
		return r;
	}
	n->watching = true;
	log_info("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, offloads %s", n->config.mac[0],
		 n->config.mac[1], n->config.mac[2], n->config.mac[3], n->config.mac[4],
		 n->config.mac[5], n->tap.offloads ? "offered" : "not available from the tap");
	return 0;
}

int virtio_net_init(struct virtio_device *d, const struct net_config *nc,
		    const struct guest_mem *mem)
{
	bool existed = if_nametoindex(nc->tap) != 0;
	struct tap tap;
	int r = tap_open(&tap, nc->tap, NET_HDR_LEN);

	if (r)
		return r;
	if (existed)
		log_info("virtio-net: attached to tap %s", tap.ifname);
	else
		log_info("virtio-net: created tap %s (it goes away when kvmrun ends; bring it up "
			 "and give it an address to use it)", tap.ifname);
	return virtio_net_init_tap(d, &tap, nc, mem);
}
