/*
 * A VFIO-passed-through PCI function on kvmrun's bus (vfio_pci.h).  The
 * guest's configuration accesses are answered from the device's config
 * region except the bytes kvmrun virtualizes (command, header type, BARs,
 * expansion ROM, interrupt line/pin, the MSI and MSI-X capabilities): those
 * live in pci.cfg and never reach the device as the guest wrote them.  BAR
 * sizes come from VFIO's region info, never from the device's BAR registers.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/device.h"
#include "kvmrun/log.h"
#include "kvmrun/mem.h"
#include "kvmrun/vfio_pci.h"

#define PCI_HEADER_MULTI	0x80
#define PCI_BAR_IO		0x1
#define PCI_BAR_TYPE_64		0x4

/* MSI-X capability: message control, table and PBA (offset | BIR). */
#define MSIX_CTRL		2
#define MSIX_TABLE		4
#define MSIX_PBA		8
#define MSIX_CAP_LEN		12
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_FMASK		0x4000
#define MSIX_CTRL_SIZE		0x07ff
#define MSIX_ENTRY		16
#define MSIX_ENTRY_CTRL		12
#define MSIX_VECTOR_MASKED	1

/* MSI capability: control bits. */
#define MSI_CTRL		2
#define MSI_CTRL_ENABLE		0x0001
#define MSI_CTRL_MMC_SHIFT	1
#define MSI_CTRL_MME_SHIFT	4
#define MSI_CTRL_64		0x0080
#define MSI_CTRL_MASKABLE	0x0100
#define CAP_WALK_MAX		48	/* (256 - 64) / 4: more hops is a loop */

static uint64_t page_down(uint64_t x)
{
	return x & ~(VFIO_PAGE - 1);
}

static uint64_t page_up(uint64_t x)
{
	return x + VFIO_PAGE - 1 < x ? ~(VFIO_PAGE - 1) : page_down(x + VFIO_PAGE - 1);
}

unsigned vfio_pci_mmap_layout(const struct vfio_region *r, uint64_t bar_size,
			      const struct vfio_area *trap, unsigned nr_trap,
			      struct vfio_area *out, unsigned max)
{
	unsigned n = 0;

	if (!(r->flags & VFIO_REGION_MMAP))
		return 0;
	for (unsigned a = 0; a < r->nr_areas && a < VFIO_MAX_AREAS; a++) {
		uint64_t s = page_up(r->areas[a].offset), e = r->areas[a].offset + r->areas[a].size;

		if (e < r->areas[a].offset || e > bar_size)
			e = bar_size;	/* an area past the BAR (or wrapping) is cut at its end */
		e = page_down(e);
		if (s >= e || n == max)
			continue;
		out[n++] = (struct vfio_area){ s, e - s };
	}
	/* Cut out the trapped pages: each cut may split one piece in two. */
	for (unsigned t = 0; t < nr_trap; t++) {
		uint64_t ts = page_down(trap[t].offset), te = page_up(trap[t].offset + trap[t].size);

		if (!trap[t].size)
			continue;
		for (unsigned i = 0; i < n; i++) {
			uint64_t s = out[i].offset, e = s + out[i].size;

			if (te <= s || ts >= e)
				continue;
			if (ts > s && te < e && n < max) {
				out[n++] = (struct vfio_area){ te, e - te };
				out[i].size = ts - s;
			} else if (ts > s) {
				out[i].size = ts - s;
			} else if (te < e) {
				out[i] = (struct vfio_area){ te, e - te };
			} else {
				out[i--] = out[--n];	/* wholly trapped */
			}
		}
	}
	/* Offset order, overlapping areas merged away: a hostile region info may repeat one. */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && out[j].offset < out[j - 1].offset; j--) {
			struct vfio_area x = out[j];

			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		if (m && out[i].offset < out[m - 1].offset + out[m - 1].size) {
			uint64_t e = out[i].offset + out[i].size;

			if (e > out[m - 1].offset + out[m - 1].size)
				out[m - 1].size = e - out[m - 1].offset;
			continue;
		}
		out[m++] = out[i];
	}
	return m;
}

/* ---- interrupts ---- */

static int vector_efd(struct vfio_vector *x)
{
	if (x->efd < 0)
		x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return x->efd;
}

/* The vector delivers (addr, data) when want, else its interrupts wait in its eventfd. */
static void vector_set(struct vfio_pci *v, struct vfio_vector *x, bool want, uint64_t addr,
		       uint32_t data)
{
	/* An address that is no interrupt: nothing to deliver to, as if masked. */
	want = want && irq_msi_address_valid(addr) && x->efd >= 0;
	if (want) {
		if (x->gsi < 0) {
			int g = v->irq.ops->msi_alloc(v->irq.ctx);

			if (g < 0) {
				log_warn("%s: no GSI left for an MSI vector", v->name);
				return;
			}
			x->gsi = g;
		}
		if (v->irq.ops->msi_route(v->irq.ctx, (unsigned)x->gsi, addr, data))
			return;
		if (!x->live && v->irq.ops->irqfd(v->irq.ctx, (unsigned)x->gsi, x->efd, -1, true) == 0)
			x->live = true;
	} else if (x->live) {
		v->irq.ops->irqfd(v->irq.ctx, (unsigned)x->gsi, x->efd, -1, false);
		x->live = false;
	}
}

static void vector_release(struct vfio_pci *v, struct vfio_vector *x)
{
	vector_set(v, x, false, 0, 0);
	if (x->efd >= 0)
		close(x->efd);
	x->efd = -1;
}

/* INTx delivers only while neither MSI nor MSI-X is on: VFIO allows one index at a time. */
static void intx_update(struct vfio_pci *v)
{
	bool want = v->intx.present && !v->msix.on && !v->msi.nr;

	if (want && !v->intx.on) {
		if (v->dev.ops->irq_trigger(v->dev.h, VFIO_PCI_IRQ_INTX, 0, 1, &v->intx.efd) ||
		    v->dev.ops->irq_unmask_fd(v->dev.h, VFIO_PCI_IRQ_INTX, v->intx.resample))
			log_warn("%s: VFIO INTx setup failed", v->name);
		else
			v->intx.on = true;
	} else if (!want && v->intx.on) {
		v->dev.ops->irq_trigger(v->dev.h, VFIO_PCI_IRQ_INTX, 0, 0, NULL);
		v->intx.on = false;
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void msix_vector_update(struct vfio_pci *v, unsigned i)
{
	const uint8_t *e = v->msix.table + (size_t)i * MSIX_ENTRY;
	uint16_t ctrl = pci_cfg_read16(&v->pci, v->msix.cap + MSIX_CTRL);
	bool want = v->msix.on && (ctrl & MSIX_CTRL_ENABLE) && !(ctrl & MSIX_CTRL_FMASK) &&
		    !(le32(e + MSIX_ENTRY_CTRL) & MSIX_VECTOR_MASKED);

	vector_set(v, &v->msix.vec[i], want, le32(e) | (uint64_t)le32(e + 4) << 32, le32(e + 8));
}

/* Sets VFIO's index up for n vectors (their eventfds), or disables it (n == 0). */
static int trigger_vectors(struct vfio_pci *v, unsigned index, struct vfio_vector *vec,
			   unsigned n)
{
	int *fds;
	int r;

	if (!n)
		return v->dev.ops->irq_trigger(v->dev.h, index, 0, 0, NULL);
	fds = calloc(n, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		fds[i] = vector_efd(&vec[i]);
	r = v->dev.ops->irq_trigger(v->dev.h, index, 0, n, fds);
	free(fds);
	return r;
}

static void msix_update(struct vfio_pci *v)
{
	bool en = pci_cfg_read16(&v->pci, v->msix.cap + MSIX_CTRL) & MSIX_CTRL_ENABLE;

	if (en && !v->msix.on) {
		if (v->msi.nr) {
			trigger_vectors(v, VFIO_PCI_IRQ_MSI, NULL, 0);
			v->msi.nr = 0;
		}
		v->msix.on = true;
		intx_update(v);
		if (trigger_vectors(v, VFIO_PCI_IRQ_MSIX, v->msix.vec, v->msix.nr)) {
			log_warn("%s: VFIO MSI-X setup failed", v->name);
			v->msix.on = false;
		}
	} else if (!en && v->msix.on) {
		trigger_vectors(v, VFIO_PCI_IRQ_MSIX, NULL, 0);
		v->msix.on = false;
	}
	for (unsigned i = 0; i < v->msix.nr; i++)
		msix_vector_update(v, i);
	intx_update(v);
}

static void msi_update(struct vfio_pci *v)
{
	uint8_t c = v->msi.cap;
	uint16_t ctrl = pci_cfg_read16(&v->pci, c + MSI_CTRL);
	unsigned n = 1u << ((ctrl >> MSI_CTRL_MME_SHIFT) & 7);
	uint32_t data_off = v->msi.is64 ? 0x0c : 0x08, mask_off = data_off + 4;

	if (n > v->msi.max)
		n = v->msi.max;
	if (!(ctrl & MSI_CTRL_ENABLE) || v->msix.on)
		n = 0;
	if (n != v->msi.nr) {
		if (v->msi.nr)
			trigger_vectors(v, VFIO_PCI_IRQ_MSI, NULL, 0);
		v->msi.nr = 0;
		intx_update(v);
		if (n && !trigger_vectors(v, VFIO_PCI_IRQ_MSI, v->msi.vec, n))
			v->msi.nr = n;
		else if (n)
			log_warn("%s: VFIO MSI setup failed", v->name);
	}
	uint64_t addr = pci_cfg_read32(&v->pci, c + 4);
	uint32_t data = pci_cfg_read16(&v->pci, c + data_off);
	uint32_t mask = v->msi.maskable ? pci_cfg_read32(&v->pci, c + mask_off) : 0;

	if (v->msi.is64)
		addr |= (uint64_t)pci_cfg_read32(&v->pci, c + 8) << 32;
	for (unsigned i = 0; i < VFIO_MSI_MAX; i++)
		/* Multiple messages: the vector number replaces data's low bits. */
		vector_set(v, &v->msi.vec[i], i < v->msi.nr && !(mask >> i & 1), addr,
			   (data & ~(v->msi.nr - 1)) | i);
	intx_update(v);
}

/* ---- configuration space ---- */

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

static void vfio_config_read(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct vfio_pci *v = f->opaque;
	const struct vfio_region *cr = &v->region[VFIO_PCI_REGION_CONFIG];
	uint8_t buf[8];

	if (len > sizeof(buf) ||
	    v->dev.ops->region_read(v->dev.h, cr, off, buf, len) != (ssize_t)len)
		return;	/* the last value read stays */
	for (uint32_t i = 0; i < len; i++)
		if (!v->virt[off + i])
			f->cfg[off + i] = buf[i];
	if (overlaps(off, len, PCI_CFG_STATUS, 1))
		pci_function_set_intx_status(f, f->cfg[PCI_CFG_STATUS] & PCI_STATUS_INTERRUPT);
}

static void vfio_config_write(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct vfio_pci *v = f->opaque;
	const struct vfio_region *cr = &v->region[VFIO_PCI_REGION_CONFIG];

	/* Runs of the device's own bytes go to it as the guest wrote them. */
	for (uint32_t i = 0; i < len;) {
		uint32_t j = i;

		while (j < len && !v->virt[off + j])
			j++;
		if (j > i)
			v->dev.ops->region_write(v->dev.h, cr, off + i, f->cfg + off + i, j - i);
		i = j + 1;
	}
	/* The command register: the device decodes and masters as the guest says. */
	if (overlaps(off, len, PCI_CFG_COMMAND, 2))
		v->dev.ops->region_write(v->dev.h, cr, PCI_CFG_COMMAND, f->cfg + PCI_CFG_COMMAND, 2);
	pthread_mutex_lock(&v->lock);
	if (v->msix.cap && v->msix.table && overlaps(off, len, v->msix.cap, MSIX_CAP_LEN))
		msix_update(v);
	if (v->msi.cap && overlaps(off, len, v->msi.cap, 0x18))
		msi_update(v);
	pthread_mutex_unlock(&v->lock);
}

static void vfio_config_ext(struct pci_function *f, uint32_t off, uint8_t *data, uint32_t len,
			    bool is_write)
{
	struct vfio_pci *v = f->opaque;
	const struct vfio_region *cr = &v->region[VFIO_PCI_REGION_CONFIG];

	/* Extended capabilities (AER, SR-IOV, ...) are the device's; vfio-pci guards them. */
	if (off + len > cr->size) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write)
		v->dev.ops->region_write(v->dev.h, cr, off, data, len);
	else if (v->dev.ops->region_read(v->dev.h, cr, off, data, len) != (ssize_t)len)
		memset(data, 0xff, len);
}

/* ---- BARs ---- */

static void msix_table_io(struct vfio_pci *v, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	uint64_t end = (uint64_t)v->msix.nr * MSIX_ENTRY;
	uint32_t n = off + len > end ? (uint32_t)(end - off) : len;

	pthread_mutex_lock(&v->lock);
	if (!is_write) {
		memset(data, 0xff, len);
		memcpy(data, v->msix.table + off, n);
	} else {
		memcpy(v->msix.table + off, data, n);
		for (uint64_t i = off / MSIX_ENTRY; i <= (off + n - 1) / MSIX_ENTRY; i++)
			msix_vector_update(v, (unsigned)i);
	}
	pthread_mutex_unlock(&v->lock);
}

/* Pending: masked vectors whose eventfd VFIO has signalled. */
static void msix_pba_read(struct vfio_pci *v, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	pthread_mutex_lock(&v->lock);
	for (uint32_t b = 0; b < len * 8; b++) {
		uint64_t i = off * 8 + b;
		struct pollfd p;

		if (i >= v->msix.nr)
			break;
		p = (struct pollfd){ .fd = v->msix.vec[i].efd, .events = POLLIN };
		if (p.fd >= 0 && !v->msix.vec[i].live && poll(&p, 1, 0) == 1)
			data[b / 8] |= (uint8_t)(1u << (b % 8));
	}
	pthread_mutex_unlock(&v->lock);
}

static void vfio_bar_io(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct vfio_pci *v = f->opaque;
	/* Region index b is BAR b, and the ROM's (PCI_ROM_BAR) is VFIO's ROM region. */
	const struct vfio_region *r = &v->region[VFIO_PCI_REGION_BAR0 + bar];

	if (bar == PCI_ROM_BAR && is_write)
		return;	/* read-only memory */
	if (v->msix.table && bar == v->msix.table_bar && off >= v->msix.table_off &&
	    off < v->msix.table_off + (uint64_t)v->msix.nr * MSIX_ENTRY) {
		msix_table_io(v, off - v->msix.table_off, data, len, is_write);
		return;
	}
	if (v->msix.table && bar == v->msix.pba_bar && off >= v->msix.pba_off &&
	    off < v->msix.pba_off + (v->msix.nr + 63) / 64 * 8) {
		if (!is_write)
			msix_pba_read(v, off - v->msix.pba_off, data, len);
		return;
	}
	if (is_write)
		v->dev.ops->region_write(v->dev.h, r, off, data, len);
	else if (v->dev.ops->region_read(v->dev.h, r, off, data, len) != (ssize_t)len)
		memset(data, 0xff, len);
}

static void vfio_bar_moved(struct pci_function *f, unsigned bar, uint64_t old, uint64_t addr)
{
	struct vfio_pci *v = f->opaque;

	(void)old;
	if (bar >= PCI_NR_BARS)
		return;	/* the ROM: never mapped, every read a region read */
	for (unsigned i = 0; i < v->nr_map[bar]; i++) {
		struct vfio_bar_map *m = &v->map[bar][i];

		if (m->slot >= 0)
			v->slots.ops->remove(v->slots.ctx, m->slot);
		m->slot = -1;
		if (!addr)
			continue;
		int s = v->slots.ops->add(v->slots.ctx, addr + m->off, m->size, m->host);

		/* Over another slot (a hostile placement): those pages are trapped instead. */
		if (s < 0)
			log_warn("%s: BAR %u at 0x%llx: no memory slot (%s), trapping it", v->name,
				 bar, (unsigned long long)addr, strerror(-s));
		else
			m->slot = s;
	}
}

static const struct pci_function_ops vfio_pci_function_ops = {
	.bar_io = vfio_bar_io,
	.config_write = vfio_config_write,
	.config_read = vfio_config_read,
	.bar_moved = vfio_bar_moved,
	.config_ext = vfio_config_ext,
};

/* ---- building the view ---- */

static void set_virt(struct vfio_pci *v, uint32_t off, uint32_t len)
{
	for (uint32_t i = off; i < off + len && i < PCI_CFG_SIZE; i++)
		v->virt[i] = 1;
}

/* MSI-X table and PBA inside a memory BAR the function has: else MSI-X stays off. */
static bool msix_valid(const struct vfio_pci *v)
{
	uint64_t tsz = (uint64_t)v->msix.nr * MSIX_ENTRY, psz = (v->msix.nr + 63) / 64 * 8;

	/* BIR 6 and 7 are reserved: a device may still say so. */
	if (v->msix.table_bar >= PCI_NR_BARS || v->msix.pba_bar >= PCI_NR_BARS)
		return false;
	uint64_t tb = v->pci.bar_size[v->msix.table_bar], pb = v->pci.bar_size[v->msix.pba_bar];

	return tb && pb && v->msix.table_off + tsz <= tb && v->msix.pba_off + psz <= pb;
}

/* An MSI capability's bytes: 0x0a, + 4 for 64-bit addresses, + 0x0a for the mask and pending bits. */
static uint32_t msi_cap_len(uint16_t ctrl)
{
	return 0x0a + (ctrl & MSI_CTRL_64 ? 4 : 0) + (ctrl & MSI_CTRL_MASKABLE ? 0x0a : 0);
}

static void caps_walk(struct vfio_pci *v, const uint8_t *dcfg)
{
	uint8_t p = dcfg[PCI_CFG_CAP_PTR] & ~3u;

	if (!(dcfg[PCI_CFG_STATUS] & PCI_STATUS_CAP_LIST))
		return;
	for (unsigned hops = 0; p >= PCI_CFG_CAPS && hops < CAP_WALK_MAX; hops++) {
		uint8_t id = dcfg[p], next = dcfg[p + 1] & ~3u;

		if (id == PCI_CAP_ID_MSIX && !v->msix.cap && p + MSIX_CAP_LEN <= PCI_CFG_SIZE) {
			uint32_t t = le32(dcfg + p + MSIX_TABLE), b = le32(dcfg + p + MSIX_PBA);

			v->msix.cap = p;
			v->msix.nr = (pci_cfg_read16(&v->pci, p + MSIX_CTRL) & MSIX_CTRL_SIZE) + 1u;
			v->msix.table_bar = t & 7;
			v->msix.table_off = t & ~7u;
			v->msix.pba_bar = b & 7;
			v->msix.pba_off = b & ~7u;
		} else if (id == PCI_CAP_ID_MSI && !v->msi.cap && p + 4 <= PCI_CFG_SIZE &&
			   p + msi_cap_len(dcfg[p + 2] | dcfg[p + 3] << 8) <= PCI_CFG_SIZE) {
			uint16_t ctrl = (uint16_t)(dcfg[p + 2] | dcfg[p + 3] << 8);
			unsigned mmc = (ctrl >> MSI_CTRL_MMC_SHIFT) & 7;

			v->msi.cap = p;
			v->msi.is64 = ctrl & MSI_CTRL_64;
			v->msi.maskable = ctrl & MSI_CTRL_MASKABLE;
			v->msi.max = 1u << (mmc > 5 ? 5 : mmc);
		}
		p = next;
	}
}

/* BAR sizes and flags: the size from VFIO's region, the kind from the device's register. */
static void bars_declare(struct vfio_pci *v, const uint8_t *dcfg)
{
	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		uint32_t reg = le32(dcfg + PCI_CFG_BAR0 + 4 * b);
		uint64_t size = v->region[VFIO_PCI_REGION_BAR0 + b].size;
		bool is64 = !(reg & PCI_BAR_IO) && (reg & 6) == PCI_BAR_TYPE_64 &&
			    b + 1 < PCI_NR_BARS;

		if (!size)
			continue;
		if (reg & PCI_BAR_IO) {
			/* In the bus's I/O window, every access a region read or write (never mapped). */
			if (size < 4)
				size = 4;
			if (size & (size - 1))
				size = 1ULL << (64 - __builtin_clzll(size));
			if (size <= 256)
				pci_function_add_io_bar(&v->pci, b, (uint32_t)size);
			else
				log_warn("%s: I/O BAR %u hidden (%llu ports: kvmrun's I/O BARs take 256 at most)",
					 v->name, b, (unsigned long long)size);
			continue;
		}
		if (size < 16)
			size = 16;
		if (size & (size - 1))
			size = 1ULL << (64 - __builtin_clzll(size));
		if (is64) {
			pci_function_add_bar64(&v->pci, b, size, reg & PCI_BAR_PREFETCH);
			b++;	/* the upper dword */
		} else if (size <= PCI_WINDOW_SIZE) {
			pci_function_add_bar(&v->pci, b, (uint32_t)size);
		}
	}
}

static int map_bars(struct vfio_pci *v)
{
	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		const struct vfio_region *r = &v->region[VFIO_PCI_REGION_BAR0 + b];
		struct vfio_area trap[2], piece[VFIO_MAP_MAX];
		unsigned nt = 0, n;

		if (!v->pci.bar_size[b] || (v->pci.bar_io & (1u << b)))
			continue;
		if (v->msix.table && v->msix.table_bar == b)
			trap[nt++] = (struct vfio_area){ v->msix.table_off,
							 (uint64_t)v->msix.nr * MSIX_ENTRY };
		if (v->msix.table && v->msix.pba_bar == b)
			trap[nt++] = (struct vfio_area){ v->msix.pba_off, (v->msix.nr + 63) / 64 * 8 };
		n = vfio_pci_mmap_layout(r, v->pci.bar_size[b], trap, nt, piece, VFIO_MAP_MAX);
		for (unsigned i = 0; i < n; i++) {
			void *p = v->dev.ops->region_mmap(v->dev.h, r, piece[i].offset, piece[i].size);

			if (!p) {
				log_warn("%s: BAR %u: mmap failed, its accesses are trapped", v->name, b);
				continue;
			}
			v->map[b][v->nr_map[b]++] = (struct vfio_bar_map){
				.off = piece[i].offset, .size = piece[i].size, .host = p, .slot = -1,
			};
		}
	}
	return 0;
}

static int dma_map_all(struct vfio_pci *v)
{
	for (unsigned i = 0; i < v->mem->nr_regions; i++) {
		const struct mem_region *m = &v->mem->region[i];
		int r = v->dev.ops->dma_map(v->dev.h, m->gpa, m->host, m->size);

		if (r) {
			log_err("%s: mapping guest RAM 0x%llx+0x%llx for DMA: %s", v->name,
				(unsigned long long)m->gpa, (unsigned long long)m->size, strerror(-r));
			for (unsigned j = 0; j < i; j++)
				v->dev.ops->dma_unmap(v->dev.h, v->mem->region[j].gpa,
						      v->mem->region[j].size);
			return r;
		}
	}
	v->dma_mapped = true;
	return 0;
}

int vfio_pci_init(struct vfio_pci *v, struct vfio_dev dev, const struct guest_mem *mem,
		  struct vm_irq irq, struct vm_memslots slots, const char *name)
{
	uint8_t dcfg[PCI_CFG_SIZE];
	uint32_t flags, nr_regions, nr_irqs;
	int r;

	memset(v, 0, sizeof(*v));
	v->dev = dev;
	v->irq = irq;
	v->slots = slots;
	v->mem = mem;
	v->intx.efd = v->intx.resample = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	pthread_mutex_init(&v->lock, NULL);
	for (unsigned i = 0; i < VFIO_MSI_MAX; i++)
		v->msi.vec[i] = (struct vfio_vector){ .efd = -1, .gsi = -1 };

	r = dev.ops->device_info(dev.h, &flags, &nr_regions, &nr_irqs);
	if (!r && (!(flags & 2u) || nr_regions <= VFIO_PCI_REGION_CONFIG))
		r = -ENODEV;	/* VFIO_DEVICE_FLAGS_PCI: not a PCI device */
	for (unsigned i = 0; !r && i <= VFIO_PCI_REGION_CONFIG; i++)
		r = dev.ops->region_info(dev.h, i, &v->region[i]);
	if (!r && dev.ops->region_read(dev.h, &v->region[VFIO_PCI_REGION_CONFIG], 0, dcfg,
				       sizeof(dcfg)) != (ssize_t)sizeof(dcfg))
		r = -EIO;
	if (r) {
		log_err("%s: reading the device through VFIO: %s", name, strerror(-r));
		return r;
	}

	/* The view: the device's bytes, then kvmrun's own where it virtualizes. */
	pci_function_init(&v->pci, 0, 0, 0, 0, 0, &vfio_pci_function_ops, v);
	uint8_t cmd[2] = { v->pci.cfg[PCI_CFG_COMMAND], v->pci.cfg[PCI_CFG_COMMAND + 1] };

	memcpy(v->pci.cfg, dcfg, PCI_CFG_SIZE);
	memcpy(v->pci.cfg + PCI_CFG_COMMAND, cmd, 2);
	memset(v->pci.cfg + PCI_CFG_BAR0, 0, 4 * PCI_NR_BARS);
	memset(v->pci.cfg + PCI_CFG_ROM, 0, 4);		/* expansion ROM hidden */
	v->pci.cfg[PCI_CFG_HEADER_TYPE] &= (uint8_t)~PCI_HEADER_MULTI;	/* one function per slot */
	v->pci.cfg[PCI_CFG_INT_LINE] = 0;
	if (dev.ops->irq_count(dev.h, VFIO_PCI_IRQ_INTX) <= 0)
		v->pci.cfg[PCI_CFG_INT_PIN] = 0;
	v->intx.present = v->pci.cfg[PCI_CFG_INT_PIN] != 0;
	set_virt(v, PCI_CFG_VENDOR_ID, 4);	/* read-only ids: no write needs to reach the device */
	set_virt(v, PCI_CFG_COMMAND, 2);
	set_virt(v, PCI_CFG_HEADER_TYPE, 1);
	set_virt(v, PCI_CFG_BAR0, 4 * PCI_NR_BARS);
	set_virt(v, PCI_CFG_ROM, 4);
	set_virt(v, PCI_CFG_INT_LINE, 2);
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		if (!v->virt[i] && i >= PCI_CFG_STATUS)
			v->pci.wmask[i] = 0xff;	/* the device's byte: the write goes to it */
	bars_declare(v, dcfg);
	caps_walk(v, dcfg);

	if (v->msix.cap) {
		uint8_t c = v->msix.cap;

		set_virt(v, c, MSIX_CAP_LEN);
		pci_function_wmask(&v->pci, c, MSIX_CAP_LEN, 0);
		pci_cfg_write16(&v->pci, c + MSIX_CTRL, (uint16_t)(v->msix.nr - 1));
		if (msix_valid(v) && v->msix.nr <= VFIO_MSIX_MAX &&
		    dev.ops->irq_count(dev.h, VFIO_PCI_IRQ_MSIX) >= (int)v->msix.nr) {
			v->msix.table = calloc(v->msix.nr, MSIX_ENTRY);
			v->msix.vec = calloc(v->msix.nr, sizeof(*v->msix.vec));
			if (!v->msix.table || !v->msix.vec) {
				free(v->msix.table);
				v->msix.table = NULL;
				return -ENOMEM;
			}
			for (unsigned i = 0; i < v->msix.nr; i++) {
				v->msix.vec[i] = (struct vfio_vector){ .efd = -1, .gsi = -1 };
				v->msix.table[i * MSIX_ENTRY + MSIX_ENTRY_CTRL] = MSIX_VECTOR_MASKED;
			}
			pci_function_wmask(&v->pci, c + MSIX_CTRL, 2,
					   MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
		} else {
			log_warn("%s: MSI-X capability unusable (table outside its BAR or no VFIO "
				 "vectors): kept disabled", v->name);
		}
	}
	if (v->msi.cap) {
		uint8_t c = v->msi.cap;
		uint32_t len = msi_cap_len(pci_cfg_read16(&v->pci, c + MSI_CTRL));
		uint32_t data_off = v->msi.is64 ? 0x0c : 0x08;

		set_virt(v, c, (len + 3) & ~3u);
		pci_function_wmask(&v->pci, c, (len + 3) & ~3u, 0);
		memset(v->pci.cfg + c + 4, 0, ((len + 3) & ~3u) - 4);
		v->pci.cfg[c + MSI_CTRL] &= (uint8_t)~(MSI_CTRL_ENABLE | 7u << MSI_CTRL_MME_SHIFT);
		if (dev.ops->irq_count(dev.h, VFIO_PCI_IRQ_MSI) > 0) {
			pci_function_wmask(&v->pci, c + MSI_CTRL, 1,
					   MSI_CTRL_ENABLE | 7u << MSI_CTRL_MME_SHIFT);
			pci_function_wmask(&v->pci, c + 4, 4, 0xfffffffc);
			if (v->msi.is64)
				pci_function_wmask(&v->pci, c + 8, 4, 0xffffffff);
			pci_function_wmask(&v->pci, c + data_off, 2, 0xffff);
			if (v->msi.maskable)
				pci_function_wmask(&v->pci, c + data_off + 4, 4,
						   v->msi.max == 32 ? 0xffffffff :
						   (1u << v->msi.max) - 1);
		}
	}
	/* Every vector's eventfd now: the vCPU threads that enable them may not create fds. */
	for (unsigned i = 0; v->msix.table && i < v->msix.nr; i++)
		if (vector_efd(&v->msix.vec[i]) < 0)
			return -errno;
	for (unsigned i = 0; v->msi.cap && i < v->msi.max; i++)
		if (vector_efd(&v->msi.vec[i]) < 0)
			return -errno;
	r = map_bars(v);
	if (!r)
		r = dma_map_all(v);
	return r;
}

int vfio_pci_expose_rom(struct vfio_pci *v)
{
	const struct vfio_region *r = &v->region[VFIO_PCI_REGION_ROM];
	uint64_t size = r->size;

	if (!size || !(r->flags & VFIO_REGION_READ)) {
		log_err("%s: rom=on, but the device has no expansion ROM that VFIO can read", v->name);
		return -ENOENT;
	}
	if (size < PCI_ROM_MIN)
		size = PCI_ROM_MIN;
	if (size & (size - 1))
		size = 1ULL << (64 - __builtin_clzll(size));
	if (size > PCI_ROM_MAX) {
		log_err("%s: rom=on, but its %llu KiB expansion ROM exceeds kvmrun's %llu KiB",
			v->name, (unsigned long long)r->size >> 10,
			(unsigned long long)PCI_ROM_MAX >> 10);
		return -E2BIG;
	}
	pci_function_add_rom(&v->pci, (uint32_t)size);
	return 0;
}

int vfio_pci_attach(struct vfio_pci *v, struct pci_bus *bus)
{
	int slot;

	if (v->dev.ops->reset(v->dev.h))
		log_debug("%s: the device has no reset", v->name);
	if (v->intx.present) {
		v->intx.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->intx.resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->intx.efd < 0 || v->intx.resample < 0)
			return -errno;
	}
	slot = pci_bus_add(bus, &v->pci);
	if (slot < 0) {
		log_err("%s: its BARs do not fit kvmrun's PCI windows", v->name);
		return slot;
	}
	/* The guest's decoding state goes to the device too. */
	v->dev.ops->region_write(v->dev.h, &v->region[VFIO_PCI_REGION_CONFIG], PCI_CFG_COMMAND,
				 v->pci.cfg + PCI_CFG_COMMAND, 2);
	if (v->intx.present) {
		/* Level semantics: the line stays up until the guest's EOI, then VFIO unmasks. */
		int r = v->irq.ops->irqfd(v->irq.ctx, pci_intx_gsi((unsigned)slot), v->intx.efd,
					  v->intx.resample, true);

		if (r) {
			log_err("%s: INTx irqfd: %s", v->name, strerror(-r));
			return r;
		}
		pthread_mutex_lock(&v->lock);
		intx_update(v);
		pthread_mutex_unlock(&v->lock);
	}
	return slot;
}

void vfio_pci_reset(struct vfio_pci *v)
{
	pthread_mutex_lock(&v->lock);
	if (v->msix.cap)
		v->pci.cfg[v->msix.cap + MSIX_CTRL + 1] &= (uint8_t)~(MSIX_CTRL_ENABLE >> 8 |
								       MSIX_CTRL_FMASK >> 8);
	if (v->msi.cap)
		v->pci.cfg[v->msi.cap + MSI_CTRL] &= (uint8_t)~MSI_CTRL_ENABLE;
	if (v->msix.table)
		for (unsigned i = 0; i < v->msix.nr; i++) {
			memset(v->msix.table + i * MSIX_ENTRY, 0, MSIX_ENTRY);
			v->msix.table[i * MSIX_ENTRY + MSIX_ENTRY_CTRL] = MSIX_VECTOR_MASKED;
		}
	if (v->msix.table)
		msix_update(v);
	if (v->msi.cap)
		msi_update(v);
	v->dev.ops->reset(v->dev.h);
	pthread_mutex_unlock(&v->lock);
}

void vfio_pci_destroy(struct vfio_pci *v)
{
	if (!v->dev.ops)
		return;
	if (v->msix.on)
		trigger_vectors(v, VFIO_PCI_IRQ_MSIX, NULL, 0);
	if (v->msi.nr)
		trigger_vectors(v, VFIO_PCI_IRQ_MSI, NULL, 0);
	if (v->intx.on)
		v->dev.ops->irq_trigger(v->dev.h, VFIO_PCI_IRQ_INTX, 0, 0, NULL);
	for (unsigned i = 0; v->msix.vec && i < v->msix.nr; i++)
		vector_release(v, &v->msix.vec[i]);
	for (unsigned i = 0; i < VFIO_MSI_MAX; i++)
		vector_release(v, &v->msi.vec[i]);
	if (v->intx.efd >= 0 && v->pci.bus)
		v->irq.ops->irqfd(v->irq.ctx, pci_intx_gsi(v->pci.slot), v->intx.efd, -1, false);
	if (v->intx.efd >= 0)
		close(v->intx.efd);
	if (v->intx.resample >= 0)
		close(v->intx.resample);
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		for (unsigned i = 0; i < v->nr_map[b]; i++) {
			if (v->map[b][i].slot >= 0)
				v->slots.ops->remove(v->slots.ctx, v->map[b][i].slot);
			v->dev.ops->region_munmap(v->dev.h, v->map[b][i].host, v->map[b][i].size);
		}
	if (v->dma_mapped)
		for (unsigned i = 0; i < v->mem->nr_regions; i++)
			v->dev.ops->dma_unmap(v->dev.h, v->mem->region[i].gpa, v->mem->region[i].size);
	v->dev.ops->close(v->dev.h);
	v->dev.ops = NULL;
	free(v->msix.table);
	free(v->msix.vec);
	pthread_mutex_destroy(&v->lock);
}

/* ---- the registry ---- */

static int vfio_pci_ops_save(void *dev, struct state_writer *w)
{
	struct vfio_pci *v = dev;

	(void)w;
	log_err("%s: a passed-through device (--vfio) cannot be saved: its state is in the "
		"hardware, out of kvmrun's reach", v->name);
	return -EOPNOTSUPP;
}

static int vfio_pci_ops_restore(void *dev, struct state_reader *r, uint16_t version)
{
	(void)dev;
	(void)r;
	(void)version;
	return -EINVAL;
}

static void vfio_pci_ops_reset(void *dev)
{
	vfio_pci_reset(dev);
}

static const char *vfio_pci_live_blocker(void *dev)
{
	(void)dev;
	return "a passed-through device (--vfio) keeps its state in hardware and writes guest "
	       "RAM by DMA that dirty tracking cannot see";
}

static void vfio_pci_ops_destroy(void *dev)
{
	vfio_pci_destroy(dev);
	free(dev);
}

const struct vm_device_ops vfio_pci_device_ops = {
	.kind = "vfio-pci",
	.state_version = 1,
	.save = vfio_pci_ops_save,
	.restore = vfio_pci_ops_restore,
	.reset = vfio_pci_ops_reset,
	.live_blocker = vfio_pci_live_blocker,
	.destroy = vfio_pci_ops_destroy,
};
