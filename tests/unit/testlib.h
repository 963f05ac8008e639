/*
 * Shared scaffolding of the unit tests (linked into every one): running a
 * suite, guest memory, a fake struct vm_irq that records what a device asked
 * the VM for, and a fake virtio device for the transport tests.
 */
#ifndef KVMRUN_TESTLIB_H
#define KVMRUN_TESTLIB_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/irq.h"
#include "kvmrun/mem.h"
#include "kvmrun/state.h"
#include "kvmrun/virtio.h"

/* Runs s with libcheck's defaults; EXIT_SUCCESS when every test passed. */
int testlib_run(Suite *s);

/* Guest RAM of size bytes (no hugepages); fails the test when it cannot. */
void testlib_mem_init(struct guest_mem *mem, uint64_t size);

/* Reads an eventfd without blocking: its count, or 0 when it was not signalled. */
uint64_t testlib_eventfd_count(int fd);

/* ---- the fake struct vm_irq ---- */

#define FAKE_IRQ_FIRST_GSI	24	/* what msi_alloc hands out first */
#define FAKE_IRQ_SLOTS		64

struct fake_ioeventfd {
	bool pio, has_match;
	uint64_t addr, match;
	unsigned len;
	int fd;
};

struct fake_irqfd {
	unsigned gsi;
	int fd, resample_fd;
};

struct fake_route {
	bool set;
	uint64_t addr;
	uint32_t data;
};

struct fake_irq {
	/* What the fake refuses (-ENOSYS), as a kernel without the feature would. */
	bool refuse_irqfd, refuse_ioeventfd;
	unsigned msi_left;		/* GSIs msi_alloc still hands out */
	/* Line: how often it was set, and the last GSI and level. */
	unsigned line_sets;
	unsigned line_gsi;
	int line_level;
	/* Registered now (assign adds, deassign removes the matching entry). */
	struct fake_ioeventfd ioeventfd[FAKE_IRQ_SLOTS];
	unsigned nr_ioeventfds, ioeventfd_calls;
	struct fake_irqfd irqfd[FAKE_IRQ_SLOTS];
	unsigned nr_irqfds;
	/* MSI: GSIs handed out, routes by GSI - FAKE_IRQ_FIRST_GSI. */
	unsigned next_gsi;
	struct fake_route route[FAKE_IRQ_SLOTS];
	unsigned route_calls;
};

/* Everything accepted, no calls yet, FAKE_IRQ_SLOTS GSIs to hand out. */
void fake_irq_init(struct fake_irq *f);
struct vm_irq fake_irq_ops(struct fake_irq *f);
/* The registered ioeventfd at addr, or NULL. */
const struct fake_ioeventfd *fake_irq_find_ioeventfd(const struct fake_irq *f, uint64_t addr,
						     const uint64_t *match);
/* The eventfd registered as irqfd for gsi, or -1. */
int fake_irq_irqfd(const struct fake_irq *f, unsigned gsi);

/* ---- a fake virtio device: config space, counters, a state word of its own ---- */

#define FAKE_ID		42
#define FAKE_QUEUES	2
#define FAKE_VECTORS	(FAKE_QUEUES + 1)
#define FAKE_RAM_SIZE	(16ULL << 20)
#define DESC_GPA	0x10000ULL
#define AVAIL_GPA	0x20000ULL
#define USED_GPA	0x30000ULL
/* Offered: feature bit 0, INDIRECT_DESC, EVENT_IDX and (always) VERSION_1. */
#define FAKE_FEATURES	((1ULL << 0) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
			 (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define VERSION_1_HI	(1u << (VIRTIO_F_VERSION_1 - 32))
#define FAKE_STATE_MAX	1000	/* own_state at or above it: a corrupt record */

#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER	VIRTIO_CONFIG_S_DRIVER
#define S_FEAT_OK	VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK	VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET	VIRTIO_CONFIG_S_NEEDS_RESET

struct fake {
	unsigned notify_calls, reset_calls;
	unsigned cfg_reads, cfg_writes;
	uint32_t cfg_off, cfg_len;
	uint8_t cfg_written[8];
	uint8_t cfg[16];
	uint32_t own_state;		/* saved through ops->save */
};

extern const struct virtio_device_ops fake_ops;

/* Config bytes 0xc0, 0xc1, ...; counters 0. */
void fake_init(struct fake *f);

#endif
