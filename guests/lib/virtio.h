/*
 * Guest-side virtio for the test guests: virtio-mmio (version 2) devices found
 * on the kernel command line and virtio-pci (modern layout) functions found on
 * PCI bus 0 through ports 0xCF8/0xCFC, modern devices only (VIRTIO_F_VERSION_1), split
 * virtqueues in static guest memory, polled (no interrupts).  Everything here
 * runs in CPL0 and in CPL3 (inside user_call()); memory is identity mapped, so
 * a pointer is its guest-physical address.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

/* virtio-mmio registers (virtio 1.2, 4.2.2) */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC		0x74726976u	/* "virt" */

/* Device status bits (2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

/* Device types (5) */
#define VIRTIO_ID_NET			1
#define VIRTIO_ID_BLOCK			2
#define VIRTIO_ID_CONSOLE		3
#define VIRTIO_ID_RNG			4
#define VIRTIO_ID_FS			26

/* Transport feature bits (6) */
#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_RING_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_BIT(b)			(1ULL << (b))

/* Split virtqueue (2.7) */
#define VIRTQ_DESC_F_NEXT		1
#define VIRTQ_DESC_F_WRITE		2
#define VIRTQ_DESC_F_INDIRECT		4
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define VIRTQ_USED_F_NO_NOTIFY		1

#define VIRTQ_MAX_SIZE			128	/* descriptors per queue we allocate for */
#define VIRTQ_INDIRECT_MAX		16	/* entries per indirect table */

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One virtio-mmio transport from the command line. */
struct virtio_mmio_info {
	uint64_t base, size;
	unsigned irq;
};

/* virtio-pci: PCI ids and the modern common configuration (virtio 1.2, 4.1.4.3). */
#define VIRTIO_PCI_VENDOR		0x1af4
#define VIRTIO_PCI_DEVICE_BASE		0x1040
#define VIRTIO_PCI_CAP_COMMON_CFG	1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	2
#define VIRTIO_PCI_CAP_ISR_CFG		3
#define VIRTIO_PCI_CAP_DEVICE_CFG	4
#define VIRTIO_PCI_CAP_PCI_CFG		5
#define VPCI_DFSELECT			0x00
#define VPCI_DF				0x04
#define VPCI_GFSELECT			0x08
#define VPCI_GF				0x0c
#define VPCI_MSIX_CONFIG		0x10
#define VPCI_NUM_QUEUES			0x12
#define VPCI_STATUS			0x14
#define VPCI_CFG_GENERATION		0x15
#define VPCI_Q_SELECT			0x16
#define VPCI_Q_SIZE			0x18
#define VPCI_Q_MSIX			0x1a
#define VPCI_Q_ENABLE			0x1c
#define VPCI_Q_NOTIFY_OFF		0x1e
#define VPCI_Q_DESC			0x20
#define VPCI_Q_DRIVER			0x28
#define VPCI_Q_DEVICE			0x30

/* PCI configuration mechanism #1, bus 0, function 0 of slot. */
uint32_t pci_cfg_read32(unsigned slot, unsigned off);
uint16_t pci_cfg_read16(unsigned slot, unsigned off);
uint8_t pci_cfg_read8(unsigned slot, unsigned off);
void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v);
void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v);
void pci_cfg_write8(unsigned slot, unsigned off, uint8_t v);

struct virtio_dev {
	uint64_t base;		/* mmio: the register window; pci: BAR of the common config */
	uint32_t device_id;
	uint32_t vendor_id;
	unsigned irq;		/* mmio only */
	bool pci;
	unsigned slot;		/* pci: the device's slot on bus 0 */
	uint64_t common, isr, notify, devcfg;	/* pci: region addresses; devcfg: both */
	uint32_t notify_mult;
	uint64_t offered;	/* device features */
	uint64_t features;	/* negotiated */
};

/* One buffer of a request: the device reads it, or writes it (write = true). */
struct virtq_buf {
	void *addr;
	uint32_t len;
	bool write;
};

/*
 * A split virtqueue and the driver's view of it.  Declare it static (it is big
 * and must be in guest RAM); the rings sit at the start so that the 4 KiB
 * alignment of the struct gives every part its required alignment.
 */
struct virtq {
	struct virtq_desc desc[VIRTQ_MAX_SIZE];				/* 16-byte aligned */
	uint8_t avail_mem[6 + 2 * VIRTQ_MAX_SIZE] __attribute__((aligned(16)));	/* 2-byte aligned */
	uint8_t used_mem[6 + 8 * VIRTQ_MAX_SIZE] __attribute__((aligned(16)));	/* 4-byte aligned */
	struct virtq_desc ind_tables[VIRTQ_MAX_SIZE][VIRTQ_INDIRECT_MAX] __attribute__((aligned(16)));

	/* driver state */
	struct virtio_dev *dev;
	volatile uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	volatile uint16_t *used_flags, *used_idx, *avail_event;
	volatile struct virtq_used_elem *used_ring;
	uint16_t index, size;
	uint64_t notify_addr;		/* pci: where this queue's notifications go */
	uint16_t free_head, num_free;
	uint16_t next_avail;	/* our copy of avail->idx */
	uint16_t kicked_avail;	/* avail->idx at the last kick */
	uint16_t last_used;	/* next used->idx entry to consume */
	uint16_t chain_len[VIRTQ_MAX_SIZE];	/* descriptors per in-flight head, 0 when free */
	bool indirect, event_idx;
	uint64_t notifies, kicks_skipped, completions;
} __attribute__((aligned(4096)));

/* ---- discovery ---- */

/* Parses every virtio_mmio.device=SIZE@BASE:IRQ[:ID] word of the command line. */
unsigned virtio_mmio_scan(struct virtio_mmio_info *out, unsigned max);
/* Prints the transports and what sits behind each (magic, version, device id). */
void virtio_mmio_list(void);
/*
 * Finds the index-th (from 0) device with this device id and fills *dev: the
 * virtio-mmio transports of the command line first, then the virtio-pci
 * functions of bus 0.  Returns 0, -1 when there is none.  Legacy devices
 * (mmio version 1, transitional PCI ids) are reported on the serial port and
 * skipped.
 */
int virtio_find(uint32_t device_id, unsigned index, struct virtio_dev *dev);

/* Prints where d sits: "virtio-pci 00:01.0 (common config 0x...)" or "virtio-mmio 0x... irq N". */
void virtio_print_where(const struct virtio_dev *d);
/* Lists the virtio-pci functions of bus 0 (slot, ids, BAR 0). */
void virtio_pci_list(void);

/* ---- device initialization (3.1) ---- */

/* Writes 0 to Status and waits until it reads 0.  Returns 0 or -1. */
int virtio_reset(struct virtio_dev *d);
/*
 * Reset, ACKNOWLEDGE, DRIVER, feature negotiation (VIRTIO_F_VERSION_1 plus the
 * bits of want that the device offers), FEATURES_OK checked.  Returns 0, or -1
 * after printing why (and setting FAILED).
 */
int virtio_init(struct virtio_dev *d, uint64_t want);
static inline bool virtio_has(const struct virtio_dev *d, unsigned bit)
{
	return (d->features >> bit) & 1;
}
/* Sets DRIVER_OK: after the queues are set up. */
void virtio_driver_ok(struct virtio_dev *d);
void virtio_fail_device(struct virtio_dev *d);
/* Reads and acknowledges InterruptStatus (bit 0: used buffer, bit 1: config change); not needed when polling. */
uint32_t virtio_irq_ack(struct virtio_dev *d);
uint32_t virtio_status(const struct virtio_dev *d);

/* Device-specific configuration space (mmio: at 0x100; pci: its capability), read consistently. */
uint8_t virtio_config8(const struct virtio_dev *d, uint32_t off);
uint16_t virtio_config16(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_config64(const struct virtio_dev *d, uint32_t off);
void virtio_config_read(const struct virtio_dev *d, uint32_t off, void *buf, uint32_t len);

/* ---- virtqueues ---- */

/*
 * Sets up queue index with at most size entries (a power of two no larger
 * than QueueNumMax and VIRTQ_MAX_SIZE).  Returns the size used, or -1.
 */
int virtq_setup(struct virtio_dev *d, struct virtq *vq, unsigned index, unsigned size);
/*
 * Makes one request of n buffers available (device-readable ones first, as
 * the spec requires).  With use_indirect and VIRTIO_RING_F_INDIRECT_DESC
 * negotiated it goes through an indirect table (one ring descriptor).
 * Returns the head descriptor id, or -1 when the ring has no room.
 */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool use_indirect);
/* Notifies the device of new buffers unless it said it does not need it. */
void virtq_kick(struct virtq *vq);
/* Takes one used element if there is one (and frees its descriptors). */
bool virtq_poll(struct virtq *vq, uint32_t *id, uint32_t *len);
/* Notifies the device of vq's queue unconditionally (no flags or event-idx check), e.g. after writing raw descriptors. */
void virtq_notify(struct virtq *vq);
/* Waits until Status has all of bits set; false after ms milliseconds. */
bool virtio_wait_status(const struct virtio_dev *d, uint32_t bits, uint64_t ms);
/* Waits for one used element, polling the used ring; false after the timeout or when the device sets NEEDS_RESET. */
bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len);
/* add + kick + wait for that request; fail()s on a full ring, timeout or stray id. Returns the used length. */
uint32_t virtq_xfer(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool use_indirect);
static inline unsigned virtq_in_flight(const struct virtq *vq)
{
	return (uint16_t)(vq->next_avail - vq->last_used);
}

/* Timeout of virtq_wait() in milliseconds (default 10000; command line virtio_timeout=MS). */
extern uint64_t virtio_timeout_ms;
/* TSC ticks per millisecond, from CPUID (or a 3 GHz guess). */
uint64_t virtio_tsc_per_ms(void);

/*
 * Runs fn(arg) in CPL3 through user_call() (where PVM hosts run guest code
 * natively), or directly in CPL0 when the command line has cpl=0.
 */
long virtio_run(long (*fn)(long), long arg, void *stack_top);

/* Parses a number: decimal, or hex with 0x, with an optional K/M/G suffix. Returns the end or NULL. */
const char *virtio_parse_num(const char *s, uint64_t *v, bool suffix);

#endif
