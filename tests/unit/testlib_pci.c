/* PCI helpers of the unit tests (see testlib_pci.h). */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "testlib_pci.h"

uint64_t ones(uint32_t len)
{
	return len >= 8 ? ~0ULL : (1ULL << (8 * len)) - 1;
}

/* ---- configuration mechanism #1, as the guest drives it ---- */

struct pci_bus pcit_bus;

uint32_t cfg_address(unsigned busno, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | busno << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

void port_wr(uint64_t port_off, uint32_t len, uint32_t v)
{
	uint8_t b[4];

	memcpy(b, &v, 4);
	pci_config_io(&pcit_bus, port_off, b, len, true);
}

uint32_t port_rd(uint64_t port_off, uint32_t len)
{
	uint8_t b[4];
	uint32_t v = 0;

	memset(b, 0x5a, sizeof(b));
	pci_config_io(&pcit_bus, port_off, b, len, false);
	memcpy(&v, b, len);
	return v;
}

void latch(uint32_t a)
{
	port_wr(0, 4, a);
}

uint32_t cfg_rd(unsigned slot, unsigned off, uint32_t len)
{
	latch(cfg_address(0, slot, 0, off));
	return port_rd(4 + (off & 3), len);
}

void cfg_wr(unsigned slot, unsigned off, uint32_t len, uint32_t v)
{
	latch(cfg_address(0, slot, 0, off));
	port_wr(4 + (off & 3), len, v);
}

/* The whole configuration space of a function, read dword by dword. */
void image(unsigned slot, uint8_t *out)
{
	for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4)
		pci_config_access(&pcit_bus, slot, 0, off, out + off, 4, false);
}

/* ---- the MMIO window ---- */

uint64_t mmio_rd(uint64_t addr, uint32_t len)
{
	uint8_t b[8];
	uint64_t v = 0;

	memset(b, 0x5a, sizeof(b));
	pci_window_io(&pcit_bus, addr - PCI_WINDOW_BASE, b, len, false);
	memcpy(&v, b, len);
	return v;
}

void mmio_wr(uint64_t addr, uint32_t len, uint64_t v)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	pci_window_io(&pcit_bus, addr - PCI_WINDOW_BASE, b, len, true);
}

/*
 * Asserts that a write of len bytes at off changed no bit outside the
 * bits the PCI and virtio specs let a driver write (writable[]), and no
 * byte outside [off, off + len) at all.
 */
void check_only_writable_changed(const uint8_t *before, const uint8_t *after,
				 const uint8_t *writable, unsigned off, unsigned len, uint32_t pat)
{
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t changed = before[i] ^ after[i];
		bool in = i >= off && i < off + len;

		/* Not ck_assert per byte: each passing check is a message to the parent. */
		if (changed & (in ? ~writable[i] : 0xff))
			ck_abort_msg("write of 0x%08x (%u bytes at 0x%02x) changed byte 0x%02x: "
				     "0x%02x -> 0x%02x", pat, len, off, i, before[i], after[i]);
	}
}

/*
 * Every write, every width, every offset (and past the end), four patterns;
 * each image after a write is the image before the next one.
 */
void sweep(unsigned slot, const uint8_t *writable)
{
	static const uint32_t pats[] = { 0xffffffff, 0, 0xa5a5a5a5, 0x5a5a5a5a };
	static const uint32_t widths[] = { 1, 2, 4 };
	uint8_t img[2][PCI_CFG_SIZE];
	uint8_t other_before[PCI_CFG_SIZE], other_after[PCI_CFG_SIZE];
	unsigned other = slot ? 0 : 1, cur = 0;

	image(other, other_before);
	image(slot, img[cur]);
	for (unsigned p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
		for (unsigned w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
			for (unsigned off = 0; off < PCI_CFG_SIZE; off++) {
				uint8_t b[4];

				memcpy(b, &pats[p], 4);
				pci_config_access(&pcit_bus, slot, 0, off, b, widths[w], true);
				image(slot, img[!cur]);
				check_only_writable_changed(img[cur], img[!cur], writable, off,
							    widths[w], pats[p]);
				cur = !cur;
				/* The same write as mechanism #1 makes it, where it can. */
				if ((off & 3) + widths[w] > 4)
					continue;
				cfg_wr(slot, off, widths[w], pats[p]);
				image(slot, img[!cur]);
				check_only_writable_changed(img[cur], img[!cur], writable, off,
							    widths[w], pats[p]);
				cur = !cur;
			}
		}
	}
	image(other, other_after);
	ck_assert_mem_eq(other_before, other_after, PCI_CFG_SIZE);
}

void base_writable(uint8_t *w)
{
	memset(w, 0, PCI_CFG_SIZE);
	w[PCI_CFG_COMMAND] = 0x47;	/* I/O, memory, master, parity response */
	w[PCI_CFG_COMMAND + 1] = 0x05;	/* SERR, INTx disable */
	w[PCI_CFG_INT_LINE] = 0xff;
}

void bar_writable(uint8_t *w, unsigned bar, uint32_t size)
{
	uint32_t m = ~(size - 1) & ~BAR_MEM_FLAGS;

	for (unsigned i = 0; i < 4; i++)
		w[PCI_CFG_BAR0 + 4 * bar + i] = (uint8_t)(m >> (8 * i));
}
