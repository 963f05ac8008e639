/*
 * PCI bus 0 behind a host bridge: configuration mechanism #1 (ports 0xCF8
 * address, 0xCFC-0xCFF data) and ECAM (4 KiB of configuration space per
 * function, memory mapped; bytes past the 256 a function has read as 0),
 * 32- and 64-bit memory BARs placed by the VMM inside two MMIO windows (one
 * in the 32-bit hole, one above RAM), and a dispatcher that routes accesses
 * in those windows to whichever BAR currently decodes them.  The guest may
 * move BARs and toggle decoding; a BAR decodes only while memory space is
 * enabled and the BAR lies wholly inside one window.  I/O BARs (few, small:
 * test devices) work the same way in an I/O port window, while I/O space is
 * enabled.  Every function has INTx pin A, wired to IOAPIC input
 * pci_intx_gsi(slot) (the interrupt line register holds it; ACPI's _PRT says
 * the same).
 */
#ifndef KVMRUN_PCI_H
#define KVMRUN_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/bus.h"

#include "kvmrun/state.h"

#define PCI_CONFIG_ADDRESS	0xcf8	/* 4 bytes */
#define PCI_CONFIG_DATA		0xcfc	/* 4 bytes */
#define PCI_CONFIG_PORTS	8

#define PCI_WINDOW_BASE		0xc0000000ULL	/* where BARs may live */
#define PCI_WINDOW_SIZE		0x20000000ULL	/* 512 MiB */
#define PCI_IO_WINDOW_BASE	0xc000		/* where I/O BARs may live */
#define PCI_IO_WINDOW_SIZE	0x1000
/* ECAM for bus 0 (1 MiB: 32 slots x 8 functions x 4 KiB), right after the window. */
#define PCI_ECAM_BASE		0xe0000000ULL
#define PCI_ECAM_SIZE		0x100000ULL
#define PCI_ECAM_CFG_SIZE	4096
/* The 64-bit window: where the VMM puts it unless told (pci_bus_set_window64). */
#define PCI_WINDOW64_DEFAULT	0x100000000ULL
#define PCI_WINDOW64_SIZE	0x400000000ULL	/* 16 GiB */

/* INTx: IOAPIC inputs 16-23, which no ISA device uses, pin A of slot s on 16 + s % 8. */
#define PCI_INTX_GSI_BASE	16
#define PCI_INTX_GSIS		8
static inline unsigned pci_intx_gsi(unsigned slot)
{
	return PCI_INTX_GSI_BASE + slot % PCI_INTX_GSIS;
}

#define PCI_MAX_SLOTS		32	/* slot 0 is the host bridge */
#define PCI_CFG_SIZE		256
#define PCI_NR_BARS		6

/* Configuration space offsets and bits (PCI Local Bus 3.0, 6.1/6.2). */
#define PCI_CFG_VENDOR_ID	0x00
#define PCI_CFG_DEVICE_ID	0x02
#define PCI_CFG_COMMAND		0x04
#define PCI_CFG_STATUS		0x06
#define PCI_CFG_REVISION	0x08
#define PCI_CFG_CLASS_PROG	0x09
#define PCI_CFG_CLASS		0x0a	/* subclass, then base class at 0x0b */
#define PCI_CFG_HEADER_TYPE	0x0e
#define PCI_CFG_BAR0		0x10
#define PCI_CFG_SUBSYS_VENDOR	0x2c
#define PCI_CFG_SUBSYS_ID	0x2e
#define PCI_CFG_ROM		0x30	/* expansion ROM base address */
#define PCI_CFG_CAP_PTR		0x34
#define PCI_CFG_INT_LINE	0x3c
#define PCI_CFG_INT_PIN		0x3d
#define PCI_CFG_CAPS		0x40	/* first byte devices may use for capabilities */

#define PCI_CMD_IO		0x0001
#define PCI_BAR_IO		0x1		/* BAR bit 0: an I/O space BAR */
#define PCI_CMD_MEMORY		0x0002
#define PCI_CMD_MASTER		0x0004
#define PCI_CMD_INTX_DISABLE	0x0400
#define PCI_STATUS_INTERRUPT	0x0008
#define PCI_STATUS_CAP_LIST	0x0010
#define PCI_INTX_PIN_A		1

/* Expansion ROM: bar_io and bar_moved see it as BAR PCI_ROM_BAR, read-only memory. */
#define PCI_ROM_BAR		PCI_NR_BARS
#define PCI_ROM_ENABLE		0x1
#define PCI_ROM_MIN		2048	/* the address field starts at bit 11 */
#define PCI_ROM_MAX		(16u << 20)	/* a small part of the 32-bit window */

/* Memory BAR flag bits (low nibble of the BAR). */
#define PCI_BAR_MEM_64		0x4
#define PCI_BAR_PREFETCH	0x8

#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11

struct pci_function;

struct pci_function_ops {
	/* An access to BAR bar at offset off (within its size). */
	void (*bar_io)(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write);
	/* After the generic handling of a config write at off (capabilities live here). */
	void (*config_write)(struct pci_function *f, uint32_t off, uint32_t len);
	/* Before a config read is answered: refresh dynamic bytes of cfg. */
	void (*config_read)(struct pci_function *f, uint32_t off, uint32_t len);
	/* BAR bar now decodes at addr (0: it stopped decoding); old is where it did. */
	void (*bar_moved)(struct pci_function *f, unsigned bar, uint64_t old, uint64_t addr);
	/*
	 * Extended configuration space (PCI_CFG_SIZE <= off < PCI_ECAM_CFG_SIZE,
	 * through ECAM), bus lock held.  Optional: without it those bytes read 0.
	 */
	void (*config_ext)(struct pci_function *f, uint32_t off, uint8_t *data, uint32_t len,
			   bool is_write);
};

struct pci_function {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];	/* bits the guest may change */
	uint64_t bar_size[PCI_NR_BARS];	/* 0: no BAR (or the upper half of one); else a power of two >= 16 (I/O: >= 4) */
	uint8_t bar_flags[PCI_NR_BARS];	/* PCI_BAR_MEM_64, PCI_BAR_PREFETCH */
	uint8_t bar_io;			/* bit b: BAR b is in I/O space */
	uint64_t bar_decoded[PCI_NR_BARS];	/* where it decodes now, 0 if not */
	uint32_t rom_size;		/* expansion ROM, 0: none */
	uint64_t rom_decoded;		/* where it decodes now, 0 if not */
	/* The device drives INTx (before Interrupt Disable): status bit 3 reads it. */
	bool intx_status;
	uint8_t next_cap;		/* where the next capability goes */
	uint8_t last_cap;		/* offset of the last capability, 0: none yet */
	unsigned slot;
	struct pci_bus *bus;		/* set by pci_bus_add */
	const struct pci_function_ops *ops;
	void *opaque;
};

struct pci_bus {
	pthread_mutex_t lock;		/* config accesses and BAR decoding */
	uint32_t address;		/* the 0xCF8 latch */
	struct pci_function host_bridge;
	struct pci_function *fn[PCI_MAX_SLOTS];
	uint64_t next_bar;		/* allocator inside the window */
	uint64_t next_io_bar;		/* ... and inside the I/O window */
	uint64_t window64_base, window64_size;	/* the 64-bit window, above RAM */
	uint64_t next_bar64;		/* allocator inside it */
	/* Byte accesses at 0xCF9 go to the reset control register (pci_bus_chain_cf9). */
	bus_io_fn cf9_io;
	void *cf9_opaque;
};

void pci_bus_init(struct pci_bus *bus);
void pci_bus_destroy(struct pci_bus *bus);

/*
 * Sets up a type-0 header: ids, class (base << 16 | sub << 8 | prog-if),
 * subsystem ids, interrupt pin A (pci_bus_add writes the interrupt line).
 */
void pci_function_init(struct pci_function *f, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
		       const struct pci_function_ops *ops, void *opaque);
/* Declares 32-bit memory BAR bar of size bytes (a power of two, >= 16). */
void pci_function_add_bar(struct pci_function *f, unsigned bar, uint32_t size);
/*
 * Declares I/O BAR bar of size ports (a power of two, 4 to 256), placed in the
 * I/O window; I/O decoding starts on and the guest may turn it off.
 */
void pci_function_add_io_bar(struct pci_function *f, unsigned bar, uint32_t size);
/*
 * Declares 64-bit memory BAR bar (it also takes bar + 1 for the upper
 * dword), prefetchable when prefetch.  pci_bus_add places a prefetchable one
 * in the 64-bit window, any other in the 32-bit window; the guest may move
 * either anywhere inside either window.
 */
void pci_function_add_bar64(struct pci_function *f, unsigned bar, uint64_t size, bool prefetch);
/*
 * Declares an expansion ROM of size bytes (a power of two, PCI_ROM_MIN to PCI_ROM_MAX)
 * at config offset 0x30, placed in the 32-bit window; it decodes only while
 * the guest sets its enable bit and memory space is on.
 */
void pci_function_add_rom(struct pci_function *f, uint32_t size);
/* Where BAR bar of f is programmed now (both dwords of a 64-bit one), flag bits cleared. */
uint64_t pci_function_bar_address(const struct pci_function *f, unsigned bar);
/*
 * The device's INTx level (before the command register's Interrupt
 * Disable): what the status register's Interrupt Status bit reports.
 */
void pci_function_set_intx_status(struct pci_function *f, bool level);
static inline bool pci_function_intx_disabled(const struct pci_function *f)
{
	return f->cfg[PCI_CFG_COMMAND + 1] & (PCI_CMD_INTX_DISABLE >> 8);
}
/*
 * Appends a capability of len bytes (id at +0, next at +1 filled in) and
 * returns its offset, or 0 when the space is full.  Bytes of it the guest may
 * write are opened with pci_function_wmask().
 */
uint8_t pci_function_add_cap(struct pci_function *f, uint8_t id, uint8_t len);
void pci_function_wmask(struct pci_function *f, uint32_t off, uint32_t len, uint32_t mask);

struct guest_mem;
/* Where the 64-bit window goes for this RAM: the first 1 GiB boundary above RAM and 4 GiB. */
uint64_t pci_window64_base(const struct guest_mem *mem);
/* Moves the 64-bit window (before any function is added): base and size 1 GiB aligned. */
void pci_bus_set_window64(struct pci_bus *bus, uint64_t base, uint64_t size);
/*
 * Plugs f into the next free slot, places its BARs (naturally aligned) in
 * the windows and writes its interrupt line register (pci_intx_gsi).
 * Returns the slot, or -ENOSPC.
 */
int pci_bus_add(struct pci_bus *bus, struct pci_function *f);

/*
 * A function's guest-changeable configuration bytes (those under wmask, in
 * offset order, after their count as a check).  Everything else in config
 * space follows from the configuration the function was built from, and
 * nothing outside wmask changes at run time.  Restore, into a function built
 * the same way and plugged into the same bus, refuses a record whose count
 * differs or that sets a bit outside wmask (-EINVAL, f unchanged), then
 * recomputes BAR decoding so that bar_moved fires for every BAR that now
 * decodes elsewhere (ioeventfds follow).  Quiesced bus.
 */
void pci_function_save(const struct pci_function *f, struct state_writer *w);
int pci_function_restore(struct pci_function *f, struct state_reader *r);

/*
 * The bus's own state: the 0xCF8 latch and the host bridge (its function
 * record).  The other functions are saved by their devices.  0 or -EINVAL.
 */
void pci_bus_save(struct pci_bus *bus, struct state_writer *w);
/*
 * Hands 1-byte accesses at port 0xCF9, inside the configuration ports, to
 * fn: on PC chipsets that byte is the reset control register.
 */
void pci_bus_chain_cf9(struct pci_bus *bus, bus_io_fn fn, void *opaque);
/* The host bridge in the device registry: "pci-host", describes \_SB.PCI0. */
extern const struct vm_device_ops pci_host_device_ops;
int pci_bus_restore(struct pci_bus *bus, struct state_reader *r);

/* Bus handlers: ports 0xCF8-0xCFF, the MMIO windows, ECAM, the I/O window. */
void pci_config_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_window_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_window64_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_ecam_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_io_window_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * One configuration access, as mechanism #1 or ECAM would make it (exposed
 * for tests): off below PCI_ECAM_CFG_SIZE; past PCI_CFG_SIZE a function
 * reads 0 and ignores writes, a missing one reads all-ones.
 */
void pci_config_access(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
		       uint8_t *data, uint32_t len, bool is_write);

static inline uint32_t pci_cfg_read32(const struct pci_function *f, uint32_t off)
{
	return (uint32_t)f->cfg[off] | (uint32_t)f->cfg[off + 1] << 8 |
	       (uint32_t)f->cfg[off + 2] << 16 | (uint32_t)f->cfg[off + 3] << 24;
}
static inline uint16_t pci_cfg_read16(const struct pci_function *f, uint32_t off)
{
	return (uint16_t)(f->cfg[off] | f->cfg[off + 1] << 8);
}
void pci_cfg_write32(struct pci_function *f, uint32_t off, uint32_t v);
void pci_cfg_write16(struct pci_function *f, uint32_t off, uint16_t v);

#endif
