/*
 * PCI bus 0: configuration mechanism #1, ECAM and the BAR windows (see pci.h).
 * Everything a guest can write is masked by wmask, so no configuration
 * write can change an id, a BAR's size or flags, or a capability's layout;
 * out-of-range and unclaimed accesses read as all-ones, as on real buses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/log.h"
#include "kvmrun/devices.h"
#include "kvmrun/mem.h"
#include "kvmrun/pci.h"

/* The host bridge at 00:00.0 (a vendor id Linux knows no quirks for). */
#define HOST_BRIDGE_VENDOR	0x1b36
#define HOST_BRIDGE_DEVICE	0x0008
#define CLASS_HOST_BRIDGE	0x060000

void pci_cfg_write32(struct pci_function *f, uint32_t off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		f->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_cfg_write16(struct pci_function *f, uint32_t off, uint16_t v)
{
	f->cfg[off] = (uint8_t)v;
	f->cfg[off + 1] = (uint8_t)(v >> 8);
}

void pci_function_wmask(struct pci_function *f, uint32_t off, uint32_t len, uint32_t mask)
{
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		f->wmask[off + i] = (uint8_t)(mask >> (8 * (i & 3)));
}

void pci_function_init(struct pci_function *f, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
		       const struct pci_function_ops *ops, void *opaque)
{
	memset(f, 0, sizeof(*f));
	pci_cfg_write16(f, PCI_CFG_VENDOR_ID, vendor);
	pci_cfg_write16(f, PCI_CFG_DEVICE_ID, device);
	f->cfg[PCI_CFG_REVISION] = 1;
	f->cfg[PCI_CFG_CLASS_PROG] = (uint8_t)class_code;
	f->cfg[PCI_CFG_CLASS] = (uint8_t)(class_code >> 8);
	f->cfg[PCI_CFG_CLASS + 1] = (uint8_t)(class_code >> 16);
	pci_cfg_write16(f, PCI_CFG_SUBSYS_VENDOR, subsys_vendor);
	pci_cfg_write16(f, PCI_CFG_SUBSYS_ID, subsys_id);
	/* What firmware would have done: memory decoding on. */
	pci_cfg_write16(f, PCI_CFG_COMMAND, PCI_CMD_MEMORY);
	pci_function_wmask(f, PCI_CFG_COMMAND, 2,
			   PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
	pci_function_wmask(f, PCI_CFG_INT_LINE, 1, 0xff);
	f->cfg[PCI_CFG_INT_PIN] = PCI_INTX_PIN_A;
	f->next_cap = PCI_CFG_CAPS;
	f->ops = ops;
	f->opaque = opaque;
}

void pci_function_add_bar(struct pci_function *f, unsigned bar, uint32_t size)
{
	if (bar >= PCI_NR_BARS || size < 16 || (size & (size - 1)))
		return;
	f->bar_size[bar] = size;
	f->bar_flags[bar] = 0;
	/* Memory, 32-bit, not prefetchable: the flag bits stay 0. */
	pci_function_wmask(f, PCI_CFG_BAR0 + 4 * bar, 4, ~(size - 1) & ~0xfu);
}

void pci_function_add_io_bar(struct pci_function *f, unsigned bar, uint32_t size)
{
	if (bar >= PCI_NR_BARS || size < 4 || size > 256 || (size & (size - 1)))
		return;
	f->bar_size[bar] = size;
	f->bar_flags[bar] = 0;
	f->bar_io |= (uint8_t)(1u << bar);
	/* Bit 0 reads 1 (I/O space); the address bits above the size are the guest's. */
	pci_cfg_write32(f, PCI_CFG_BAR0 + 4 * bar, PCI_BAR_IO);
	pci_function_wmask(f, PCI_CFG_BAR0 + 4 * bar, 4, 0xffffu & ~(size - 1) & ~0x3u);
	pci_cfg_write16(f, PCI_CFG_COMMAND, pci_cfg_read16(f, PCI_CFG_COMMAND) | PCI_CMD_IO);
	f->wmask[PCI_CFG_COMMAND] |= PCI_CMD_IO;
}

void pci_function_add_bar64(struct pci_function *f, unsigned bar, uint64_t size, bool prefetch)
{
	if (bar + 1 >= PCI_NR_BARS || size < 16 || (size & (size - 1)) || f->bar_size[bar + 1])
		return;
	f->bar_size[bar] = size;
	f->bar_flags[bar] = (uint8_t)(PCI_BAR_MEM_64 | (prefetch ? PCI_BAR_PREFETCH : 0));
	f->cfg[PCI_CFG_BAR0 + 4 * bar] = f->bar_flags[bar];
	/* Sizing writes all-ones to both dwords: the upper one answers with the size's high bits. */
	pci_function_wmask(f, PCI_CFG_BAR0 + 4 * bar, 4, (uint32_t)~(size - 1) & ~0xfu);
	pci_function_wmask(f, PCI_CFG_BAR0 + 4 * (bar + 1), 4, (uint32_t)(~(size - 1) >> 32));
}

void pci_function_add_rom(struct pci_function *f, uint32_t size)
{
	if (size < PCI_ROM_MIN || size > PCI_ROM_MAX || (size & (size - 1)))
		return;
	f->rom_size = size;
	/* Sizing reads back the address bits; bit 0 turns decoding on. */
	pci_function_wmask(f, PCI_CFG_ROM, 4, ~(size - 1) | PCI_ROM_ENABLE);
}

static bool bar_is_io(const struct pci_function *f, unsigned bar)
{
	return f->bar_io & (1u << bar);
}

static bool bar_is64(const struct pci_function *f, unsigned bar)
{
	return !bar_is_io(f, bar) && (f->bar_flags[bar] & PCI_BAR_MEM_64);
}

uint64_t pci_function_bar_address(const struct pci_function *f, unsigned bar)
{
	uint64_t addr = pci_cfg_read32(f, PCI_CFG_BAR0 + 4 * bar);

	if (bar_is_io(f, bar))
		return addr & ~0x3ULL;
	addr &= ~0xfULL;
	if (bar_is64(f, bar))
		addr |= (uint64_t)pci_cfg_read32(f, PCI_CFG_BAR0 + 4 * (bar + 1)) << 32;
	return addr;
}

void pci_function_set_intx_status(struct pci_function *f, bool level)
{
	__atomic_store_n(&f->intx_status, level, __ATOMIC_RELAXED);
}

uint8_t pci_function_add_cap(struct pci_function *f, uint8_t id, uint8_t len)
{
	uint8_t off = f->next_cap;

	if (len < 2 || off == 0 || off + len > PCI_CFG_SIZE)
		return 0;
	f->cfg[off] = id;
	f->cfg[off + 1] = 0;
	if (f->last_cap)
		f->cfg[f->last_cap + 1] = off;
	else
		f->cfg[PCI_CFG_CAP_PTR] = off;
	f->last_cap = off;
	f->cfg[PCI_CFG_STATUS] |= PCI_STATUS_CAP_LIST;
	unsigned next = (off + len + 3u) & ~3u;

	f->next_cap = next < PCI_CFG_SIZE ? (uint8_t)next : 0;	/* 0: the space is used up */
	return off;
}

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	pci_function_init(&bus->host_bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
			  CLASS_HOST_BRIDGE, 0, 0, NULL, NULL);
	bus->host_bridge.cfg[PCI_CFG_INT_PIN] = 0;	/* the bridge raises no interrupts */
	bus->fn[0] = &bus->host_bridge;
	bus->next_bar = PCI_WINDOW_BASE;
	bus->next_io_bar = PCI_IO_WINDOW_BASE;
	pci_bus_set_window64(bus, PCI_WINDOW64_DEFAULT, PCI_WINDOW64_SIZE);
}

uint64_t pci_window64_base(const struct guest_mem *mem)
{
	uint64_t top = PCI_WINDOW64_DEFAULT;

	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (mem->region[i].gpa + mem->region[i].size > top)
			top = mem->region[i].gpa + mem->region[i].size;
	return (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
}

void pci_bus_set_window64(struct pci_bus *bus, uint64_t base, uint64_t size)
{
	bus->window64_base = base;
	bus->window64_size = size;
	bus->next_bar64 = base;
}

/* Does [addr, addr + size) lie wholly inside one of the bus's windows? */
static bool in_window(const struct pci_bus *bus, uint64_t addr, uint64_t size)
{
	if (!addr || addr + size < addr)
		return false;
	return (addr >= PCI_WINDOW_BASE && addr + size <= PCI_WINDOW_BASE + PCI_WINDOW_SIZE) ||
	       (addr >= bus->window64_base &&
		addr + size <= bus->window64_base + bus->window64_size);
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

/* Recomputes where each BAR decodes after a command or BAR write (bus lock held). */
static void update_decoding(const struct pci_bus *bus, struct pci_function *f)
{
	uint16_t cmd = pci_cfg_read16(f, PCI_CFG_COMMAND);

	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		uint64_t size = f->bar_size[b], addr, now;

		if (!size)
			continue;
		addr = pci_function_bar_address(f, b);
		if (bar_is_io(f, b))
			now = (cmd & PCI_CMD_IO) && addr >= PCI_IO_WINDOW_BASE &&
			      addr + size <= PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE ? addr : 0;
		else
			now = (cmd & PCI_CMD_MEMORY) && in_window(bus, addr, size) ? addr : 0;
		if (now != f->bar_decoded[b]) {
			uint64_t old = f->bar_decoded[b];

			f->bar_decoded[b] = now;
			if (f->ops && f->ops->bar_moved)
				f->ops->bar_moved(f, b, old, now);
		}
	}
	if (f->rom_size) {
		uint32_t reg = pci_cfg_read32(f, PCI_CFG_ROM);
		uint64_t addr = reg & ~(PCI_ROM_MIN - 1u), old = f->rom_decoded;
		uint64_t now = (cmd & PCI_CMD_MEMORY) && (reg & PCI_ROM_ENABLE) &&
			       in_window(bus, addr, f->rom_size) ? addr : 0;

		f->rom_decoded = now;
		if (now != old && f->ops && f->ops->bar_moved)
			f->ops->bar_moved(f, PCI_ROM_BAR, old, now);
	}
}

int pci_bus_add(struct pci_bus *bus, struct pci_function *f)
{
	unsigned slot;
	uint64_t next = bus->next_bar, next_io = bus->next_io_bar;

	for (slot = 1; slot < PCI_MAX_SLOTS && bus->fn[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS)
		return -ENOSPC;
	uint64_t next64 = bus->next_bar64;
	uint64_t at[PCI_NR_BARS] = { 0 };

	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		uint64_t size = f->bar_size[b];
		bool high = (f->bar_flags[b] & (PCI_BAR_MEM_64 | PCI_BAR_PREFETCH)) ==
			    (PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
		uint64_t *n = high ? &next64 : &next;
		uint64_t end = high ? bus->window64_base + bus->window64_size :
				      PCI_WINDOW_BASE + PCI_WINDOW_SIZE;

		if (!size)
			continue;
		if (bar_is_io(f, b)) {
			next_io = (next_io + size - 1) & ~(size - 1);
			if (next_io + size > PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE)
				return -ENOSPC;
			at[b] = next_io;
			next_io += size;
			continue;
		}
		*n = (*n + size - 1) & ~(size - 1);
		if (*n + size > end || *n + size < *n)
			return -ENOSPC;
		at[b] = *n;
		*n += size;
	}
	uint64_t rom = 0;

	if (f->rom_size) {
		/* The ROM's address is placed like a BAR's; the guest turns decoding on. */
		rom = (next + f->rom_size - 1) & ~(uint64_t)(f->rom_size - 1);
		if (rom + f->rom_size > PCI_WINDOW_BASE + PCI_WINDOW_SIZE)
			return -ENOSPC;
		next = rom + f->rom_size;
		pci_cfg_write32(f, PCI_CFG_ROM, (uint32_t)rom);
	}
	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		if (!f->bar_size[b])
			continue;
		pci_cfg_write32(f, PCI_CFG_BAR0 + 4 * b,
				(uint32_t)at[b] | (bar_is_io(f, b) ? PCI_BAR_IO : f->bar_flags[b]));
		if (bar_is64(f, b))
			pci_cfg_write32(f, PCI_CFG_BAR0 + 4 * (b + 1), (uint32_t)(at[b] >> 32));
	}
	bus->next_bar = next;
	bus->next_io_bar = next_io;
	bus->next_bar64 = next64;
	f->slot = slot;
	f->bus = bus;
	if (f->cfg[PCI_CFG_INT_PIN])
		f->cfg[PCI_CFG_INT_LINE] = (uint8_t)pci_intx_gsi(slot);
	bus->fn[slot] = f;
	pthread_mutex_lock(&bus->lock);
	update_decoding(bus, f);
	pthread_mutex_unlock(&bus->lock);
	return (int)slot;
}

void pci_function_save(const struct pci_function *f, struct state_writer *w)
{
	uint16_t n = 0;

	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		n += f->wmask[i] != 0;
	state_put_u16(w, n);
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		if (f->wmask[i])
			state_put_u8(w, f->cfg[i] & f->wmask[i]);
}

int pci_function_restore(struct pci_function *f, struct state_reader *r)
{
	uint8_t v[PCI_CFG_SIZE];
	uint16_t n = 0;

	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		n += f->wmask[i] != 0;
	if (state_get_u16(r) != n)
		state_reader_fail(r);	/* a function of another layout */
	for (unsigned i = 0; i < PCI_CFG_SIZE && !r->err; i++) {
		if (!f->wmask[i])
			continue;
		v[i] = state_get_u8(r);
		if (v[i] & ~f->wmask[i])
			state_reader_fail(r);	/* a read-only bit the guest could not have set */
	}
	if (r->err)
		return -EINVAL;
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		if (f->wmask[i])
			f->cfg[i] = (uint8_t)((f->cfg[i] & ~f->wmask[i]) | v[i]);
	if (f->bus)
		update_decoding(f->bus, f);
	return 0;
}

void pci_bus_save(struct pci_bus *bus, struct state_writer *w)
{
	state_put_u32(w, bus->address);
	pci_function_save(&bus->host_bridge, w);
}

int pci_bus_restore(struct pci_bus *bus, struct state_reader *r)
{
	uint32_t address = state_get_u32(r);

	if (r->err || pci_function_restore(&bus->host_bridge, r))
		return -EINVAL;
	bus->address = address;
	return 0;
}

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

void pci_config_access(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
		       uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_function *f = slot < PCI_MAX_SLOTS && fn == 0 ? bus->fn[slot] : NULL;
	uint32_t n = off < PCI_CFG_SIZE ? PCI_CFG_SIZE - off : 0;

	if (n > len)
		n = len;
	if (!is_write)
		memset(data, f && off < PCI_ECAM_CFG_SIZE ? 0 : 0xff, len);
	if (f && !n && off < PCI_ECAM_CFG_SIZE && f->ops && f->ops->config_ext) {
		pthread_mutex_lock(&bus->lock);
		f->ops->config_ext(f, off, data, len, is_write);
		pthread_mutex_unlock(&bus->lock);
		return;
	}
	if (!f || !n)
		return;
	pthread_mutex_lock(&bus->lock);
	if (is_write) {
		for (uint32_t i = 0; i < n; i++) {
			uint8_t m = f->wmask[off + i];

			f->cfg[off + i] = (uint8_t)((f->cfg[off + i] & ~m) | (data[i] & m));
		}
		if (overlaps(off, n, PCI_CFG_COMMAND, 2) ||
		    overlaps(off, n, PCI_CFG_BAR0, 4 * PCI_NR_BARS) ||
		    overlaps(off, n, PCI_CFG_ROM, 4))
			update_decoding(bus, f);
		if (f->ops && f->ops->config_write)
			f->ops->config_write(f, off, n);
	} else {
		if (f->ops && f->ops->config_read)
			f->ops->config_read(f, off, n);
		if (__atomic_load_n(&f->intx_status, __ATOMIC_RELAXED))
			f->cfg[PCI_CFG_STATUS] |= PCI_STATUS_INTERRUPT;
		else
			f->cfg[PCI_CFG_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
		memcpy(data, f->cfg + off, n);
	}
	pthread_mutex_unlock(&bus->lock);
}

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	if (offset == RESET_CONTROL_PORT - PCI_CONFIG_ADDRESS && len == 1 && bus->cf9_io) {
		/* A byte at 0xCF9 is the chipset's reset control register, not the latch. */
		bus->cf9_io(bus->cf9_opaque, 0, data, len, is_write);
		return;
	}
	if (offset < 4) {
		/* The address latch: whole 32-bit accesses only (others are ignored). */
		if (offset != 0 || len != 4) {
			if (!is_write)
				memset(data, 0xff, len);
			return;
		}
		pthread_mutex_lock(&bus->lock);
		if (is_write)
			memcpy(&bus->address, data, 4);
		else
			memcpy(data, &bus->address, 4);
		pthread_mutex_unlock(&bus->lock);
		return;
	}

	pthread_mutex_lock(&bus->lock);
	uint32_t a = bus->address;

	pthread_mutex_unlock(&bus->lock);
	uint32_t byte = (uint32_t)offset - 4;

	/*
	 * Latch bits 1:0 offset an access that still fits in the dword, as QEMU
	 * lets them: kvm-unit-tests reads the device ID with 2 there and a word at 0xCFC.
	 */
	if ((a & 3) + byte + len <= 4)
		byte += a & 3;

	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0 || byte + len > 4) {
		/* Disabled, another bus (there is none), or past the data port. */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(bus, (a >> 11) & 0x1f, (a >> 8) & 7, (a & 0xfc) + byte, data, len,
			  is_write);
}

/* An access at addr in memory (io false: one of the windows) or I/O space goes to the BAR decoding it. */
static void window_access(struct pci_bus *bus, uint64_t addr, bool io, uint8_t *data,
			  uint32_t len, bool is_write)
{
	struct pci_function *hit = NULL;
	unsigned bar = 0;
	uint64_t off = 0;

	pthread_mutex_lock(&bus->lock);
	for (unsigned s = 1; s < PCI_MAX_SLOTS && !hit; s++) {
		struct pci_function *f = bus->fn[s];

		for (unsigned b = 0; f && b < PCI_NR_BARS && !hit; b++) {
			uint64_t base = f->bar_decoded[b];

			if (!(f->bar_io >> b & 1) != !io)
				continue;
			if (base && addr >= base && addr + len <= base + f->bar_size[b]) {
				hit = f;
				bar = b;
				off = addr - base;
			}
		}
		if (f && !hit && !io && f->rom_decoded && addr >= f->rom_decoded &&
		    addr + len <= f->rom_decoded + f->rom_size) {
			hit = f;
			bar = PCI_ROM_BAR;
			off = addr - f->rom_decoded;
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (hit && hit->ops && hit->ops->bar_io)
		hit->ops->bar_io(hit, bar, off, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

void pci_window_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	window_access(opaque, PCI_WINDOW_BASE + offset, false, data, len, is_write);
}

void pci_window64_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	window_access(bus, bus->window64_base + offset, false, data, len, is_write);
}

void pci_ecam_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t reg = (uint32_t)(offset & (PCI_ECAM_CFG_SIZE - 1));

	/* Naturally aligned 1, 2 or 4 bytes, as the PCIe base spec allows for ECAM. */
	if (offset >= PCI_ECAM_SIZE || (len != 1 && len != 2 && len != 4) || (reg & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(opaque, (unsigned)(offset >> 15) & 0x1f, (unsigned)(offset >> 12) & 7, reg,
			  data, len, is_write);
}

void pci_io_window_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	window_access(opaque, PCI_IO_WINDOW_BASE + offset, true, data, len, is_write);
}

void pci_bus_chain_cf9(struct pci_bus *bus, bus_io_fn fn, void *opaque)
{
	bus->cf9_io = fn;
	bus->cf9_opaque = opaque;
}

/* ---- the host bridge as a registry device ---- */

#define PCI_HOST_STATE_VERSION	1

static int pci_host_save(void *dev, struct state_writer *w)
{
	pci_bus_save(dev, w);
	return w->err;
}

static int pci_host_restore(void *dev, struct state_reader *r, uint16_t version)
{
	if (version != PCI_HOST_STATE_VERSION)
		return -EINVAL;
	return pci_bus_restore(dev, r);
}

static int pci_host_describe(void *dev, struct machine_desc *m)
{
	(void)dev;
	m->pci_host = true;		/* ACPI describes \_SB.PCI0 and its window */
	return 0;
}

static void pci_host_destroy(void *dev)
{
	pci_bus_destroy(dev);
	free(dev);
}

const struct vm_device_ops pci_host_device_ops = {
	.kind = "pci-host",
	.state_version = PCI_HOST_STATE_VERSION,
	.save = pci_host_save,
	.restore = pci_host_restore,
	.describe = pci_host_describe,
	.destroy = pci_host_destroy,
};
