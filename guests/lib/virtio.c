/*
 * Guest-side virtio: the virtio-mmio v2 and virtio-pci (modern) transports and
 * polled split virtqueues (virtio 1.2).
 */
#include "virtio.h"

#define MAX_TRANSPORTS	64

uint64_t virtio_timeout_ms = 10000;
static uint64_t tsc_per_ms;

static inline void mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }	/* mfence */
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }

/* virtio-mmio registers of d */
static inline uint32_t reg_read(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read32(d->base + off);
}
static inline void reg_write(const struct virtio_dev *d, uint32_t off, uint32_t v)
{
	mmio_write32(d->base + off, v);
}

/* ---- numbers and time ---- */

const char *virtio_parse_num(const char *s, uint64_t *v, bool suffix)
{
	uint64_t x = 0;
	unsigned base = 10, digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++, digits++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		x = x * base + d;
	}
	if (!digits)
		return NULL;
	if (suffix) {
		switch (*s) {
		case 'k': case 'K': x <<= 10; s++; break;
		case 'm': case 'M': x <<= 20; s++; break;
		case 'g': case 'G': x <<= 30; s++; break;
		default: break;
		}
	}
	*v = x;
	return s;
}

uint64_t virtio_tsc_per_ms(void)
{
	uint32_t a, b, c, d;

	if (tsc_per_ms)
		return tsc_per_ms;
	/* KVM/QEMU timing leaf (TSC kHz), then CPUID 0x15 (crystal ratio), then 0x16 (base MHz). */
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	if (b == 0x4b4d564b && a >= 0x40000010) {	/* "KVMK" */
		cpuid(0x40000010, 0, &a, &b, &c, &d);
		if (a)
			return tsc_per_ms = a;
	}
	cpuid(0, 0, &a, &b, &c, &d);
	if (a >= 0x15) {
		cpuid(0x15, 0, &a, &b, &c, &d);
		if (a && b && c)
			return tsc_per_ms = (uint64_t)c * b / a / 1000;
	}
	cpuid(0, 0, &a, &b, &c, &d);
	if (a >= 0x16) {
		cpuid(0x16, 0, &a, &b, &c, &d);
		if (a & 0xffff)
			return tsc_per_ms = (uint64_t)(a & 0xffff) * 1000;
	}
	return tsc_per_ms = 3000000;
}

long virtio_run(long (*fn)(long), long arg, void *stack_top)
{
	uint64_t cpl = 3;

	cmdline_u64("cpl", &cpl);
	if (cpl == 0) {
		printf("virtio: running the driver in CPL0 (cpl=0)\n");
		return fn(arg);
	}
	return user_call(fn, arg, stack_top);
}

/* ---- discovery ---- */

/* virtio_mmio.device=<size>@<baseaddr>:<irq>[:<id>], as Linux's virtio_mmio driver takes it. */
static bool parse_device(const char *s, struct virtio_mmio_info *m)
{
	uint64_t size, base, irq;

	s = virtio_parse_num(s, &size, true);
	if (!s || *s++ != '@')
		return false;
	s = virtio_parse_num(s, &base, true);
	if (!s || *s++ != ':')
		return false;
	s = virtio_parse_num(s, &irq, false);
	if (!s || (*s && *s != ' ' && *s != ':'))
		return false;
	if (!size || base + size < base)
		return false;
	*m = (struct virtio_mmio_info){ base, size, (unsigned)irq };
	return true;
}

unsigned virtio_mmio_scan(struct virtio_mmio_info *out, unsigned max)
{
	static const char key[] = "virtio_mmio.device=";
	static bool quiet;	/* complain about a bad word once, not on every scan */
	const char *c = boot_cmdline();
	unsigned n = 0;

	while (*c) {
		while (*c == ' ')
			c++;
		if (!strncmp(c, key, sizeof(key) - 1)) {
			struct virtio_mmio_info m;

			if (parse_device(c + sizeof(key) - 1, &m)) {
				if (n < max)
					out[n] = m;
				n++;
			} else if (!quiet) {
				char word[96];
				size_t k = 0;

				while (c[k] && c[k] != ' ' && k + 1 < sizeof(word)) {
					word[k] = c[k];
					k++;
				}
				word[k] = 0;
				printf("virtio: cannot parse '%s'\n", word);
			}
		}
		while (*c && *c != ' ')
			c++;
	}
	quiet = true;
	return n < max ? n : max;
}

static void load_settings(void)
{
	uint64_t ms;

	if (cmdline_u64("virtio_timeout", &ms) && ms)
		virtio_timeout_ms = ms;
	virtio_tsc_per_ms();
}

void virtio_mmio_list(void)
{
	struct virtio_mmio_info m[MAX_TRANSPORTS];
	unsigned n = virtio_mmio_scan(m, MAX_TRANSPORTS);

	load_settings();
	printf("virtio-mmio: %u transport(s) on the command line; timeout %lu ms at %lu TSC ticks/ms\n", n,
	       virtio_timeout_ms, virtio_tsc_per_ms());
	if (!n)
		printf("  (none: pass virtio_mmio.device=SIZE@BASE:IRQ; QEMU's microvm adds them itself only "
		       "for a PVH kernel and with acpi=off)\n");
	for (unsigned i = 0; i < n; i++) {
		uint32_t magic = mmio_read32(m[i].base + VIRTIO_MMIO_MAGIC_VALUE);
		uint32_t ver = mmio_read32(m[i].base + VIRTIO_MMIO_VERSION);
		uint32_t id = mmio_read32(m[i].base + VIRTIO_MMIO_DEVICE_ID);

		if (magic != VIRTIO_MMIO_MAGIC)
			printf("  0x%lx size 0x%lx irq %u: no virtio-mmio magic (0x%x)\n", m[i].base, m[i].size,
			       m[i].irq, magic);
		else
			printf("  0x%lx size 0x%lx irq %u: version %u, device %u%s\n", m[i].base, m[i].size,
			       m[i].irq, ver, id, id ? "" : " (no device)");
	}
}

/* ---- PCI (configuration mechanism #1, bus 0) ---- */

#define PCI_ADDR(slot, off)	(0x80000000u | (slot) << 11 | ((off) & 0xfc))

uint32_t pci_cfg_read32(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inl(0xcfc);
}

uint16_t pci_cfg_read16(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inw((uint16_t)(0xcfc + (off & 2)));
}

uint8_t pci_cfg_read8(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inb((uint16_t)(0xcfc + (off & 3)));
}

void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	outl(0xcfc, v);
}

void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	outw((uint16_t)(0xcfc + (off & 2)), v);
}

void pci_cfg_write8(unsigned slot, unsigned off, uint8_t v)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	outb((uint16_t)(0xcfc + (off & 3)), v);
}

/* Memory BAR bar of slot (32- or 64-bit), 0 when it is not one. */
static uint64_t pci_bar(unsigned slot, unsigned bar)
{
	uint32_t lo = pci_cfg_read32(slot, 0x10 + 4 * bar);

	if (lo & 1)
		return 0;	/* I/O BAR */
	if (((lo >> 1) & 3) == 2 && bar < 5)
		return (uint64_t)pci_cfg_read32(slot, 0x14 + 4 * bar) << 32 | (lo & ~0xfu);
	return lo & ~0xfu;
}

/* Reads the virtio capabilities of slot into *d.  Returns 0, or -1 when one is missing. */
static int pci_virtio_caps(unsigned slot, struct virtio_dev *d)
{
	unsigned found = 0, guard = 0;

	if (!(pci_cfg_read16(slot, 0x06) & 0x10))
		return -1;	/* no capability list */
	for (unsigned c = pci_cfg_read8(slot, 0x34) & 0xfc; c && guard < 48; guard++) {
		if (pci_cfg_read8(slot, c) == 0x09) {	/* vendor specific: virtio_pci_cap */
			unsigned type = pci_cfg_read8(slot, c + 3), bar = pci_cfg_read8(slot, c + 4);
			uint64_t addr = bar < 6 ? pci_bar(slot, bar) : 0;

			if (addr)
				addr += pci_cfg_read32(slot, c + 8);
			/* The first capability of each type is the preferred one (4.1.4). */
			if (addr && !(found & (1u << type))) {
				found |= 1u << type;
				switch (type) {
				case VIRTIO_PCI_CAP_COMMON_CFG: d->common = addr; break;
				case VIRTIO_PCI_CAP_ISR_CFG: d->isr = addr; break;
				case VIRTIO_PCI_CAP_DEVICE_CFG: d->devcfg = addr; break;
				case VIRTIO_PCI_CAP_NOTIFY_CFG:
					d->notify = addr;
					d->notify_mult = pci_cfg_read32(slot, c + 16);
					break;
				default: break;
				}
			}
		}
		c = pci_cfg_read8(slot, c + 1) & 0xfc;
	}
	return d->common && d->isr && d->notify ? 0 : -1;
}

void virtio_print_where(const struct virtio_dev *d)
{
	if (d->pci)
		printf("virtio-pci 00:%02x.0 (common config at 0x%lx)", d->slot, d->common);
	else
		printf("virtio-mmio 0x%lx irq %u", d->base, d->irq);
}

void virtio_pci_list(void)
{
	printf("virtio: PCI bus 0:\n");
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = pci_cfg_read32(slot, 0);

		if ((id & 0xffff) == 0xffff)
			continue;
		printf("  00:%02x.0 %04x:%04x class %06x BAR0 0x%lx\n", slot, id & 0xffff, id >> 16,
		       pci_cfg_read32(slot, 8) >> 8, pci_bar(slot, 0));
	}
}

static int pci_find(uint32_t device_id, unsigned *index, struct virtio_dev *dev)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = pci_cfg_read32(slot, 0);
		uint16_t vendor = (uint16_t)id, device = (uint16_t)(id >> 16);

		if (vendor != VIRTIO_PCI_VENDOR)
			continue;
		if (device < VIRTIO_PCI_DEVICE_BASE) {
			printf("virtio: PCI 00:%02x.0 is a transitional device (%04x): skipped\n", slot,
			       device);
			continue;
		}
		if ((uint32_t)(device - VIRTIO_PCI_DEVICE_BASE) != device_id || (*index)--)
			continue;
		*dev = (struct virtio_dev){ .device_id = device_id, .vendor_id = VIRTIO_PCI_VENDOR,
					    .pci = true, .slot = slot };
		if (pci_virtio_caps(slot, dev)) {
			printf("virtio: PCI 00:%02x.0 lacks a virtio capability\n", slot);
			return -1;
		}
		dev->base = dev->common;
		/* Memory decoding and bus mastering (DMA) on. */
		pci_cfg_write16(slot, 0x04, (uint16_t)(pci_cfg_read16(slot, 0x04) | 0x6));
		return 0;
	}
	return -1;
}

int virtio_find(uint32_t device_id, unsigned index, struct virtio_dev *dev)
{
	struct virtio_mmio_info m[MAX_TRANSPORTS];
	unsigned n = virtio_mmio_scan(m, MAX_TRANSPORTS);

	load_settings();
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = m[i].base;
		uint32_t ver;

		if (m[i].size < VIRTIO_MMIO_CONFIG)
			continue;
		if (mmio_read32(b + VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC)
			continue;
		if (mmio_read32(b + VIRTIO_MMIO_DEVICE_ID) != device_id)
			continue;
		ver = mmio_read32(b + VIRTIO_MMIO_VERSION);
		if (ver != 2) {
			printf("virtio: device %u at 0x%lx has virtio-mmio version %u, not 2 (legacy; "
			       "QEMU: -global virtio-mmio.force-legacy=false): skipped\n", device_id, b, ver);
			continue;
		}
		if (index--)
			continue;
		*dev = (struct virtio_dev){
			.base = b, .device_id = device_id, .irq = m[i].irq,
			.vendor_id = mmio_read32(b + VIRTIO_MMIO_VENDOR_ID),
			.devcfg = b + VIRTIO_MMIO_CONFIG,
		};
		return 0;
	}
	return pci_find(device_id, &index, dev);
}

/* ---- initialization ---- */

uint32_t virtio_status(const struct virtio_dev *d)
{
	return d->pci ? mmio_read8(d->common + VPCI_STATUS) : reg_read(d, VIRTIO_MMIO_STATUS);
}

static void status_write(struct virtio_dev *d, uint32_t v)
{
	if (d->pci)
		mmio_write8(d->common + VPCI_STATUS, (uint8_t)v);
	else
		reg_write(d, VIRTIO_MMIO_STATUS, v);
}

static void status_set(struct virtio_dev *d, uint32_t bits)
{
	status_write(d, virtio_status(d) | bits);
}

/* Feature words: which 0 or 1, device's (offered) or driver's. */
static uint32_t features_read(struct virtio_dev *d, unsigned which)
{
	if (d->pci) {
		mmio_write32(d->common + VPCI_DFSELECT, which);
		return mmio_read32(d->common + VPCI_DF);
	}
	reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, which);
	return reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void features_write(struct virtio_dev *d, unsigned which, uint32_t v)
{
	if (d->pci) {
		mmio_write32(d->common + VPCI_GFSELECT, which);
		mmio_write32(d->common + VPCI_GF, v);
		return;
	}
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, which);
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, v);
}

void virtio_fail_device(struct virtio_dev *d)
{
	status_set(d, VIRTIO_STATUS_FAILED);
}

int virtio_reset(struct virtio_dev *d)
{
	status_write(d, 0);
	/* The reset is done when Status reads 0 again (2.1.2). */
	for (unsigned i = 0; i < 100000; i++) {
		if (virtio_status(d) == 0)
			return 0;
		pause();
	}
	printf("virtio: device at 0x%lx did not reset\n", d->base);
	return -1;
}

int virtio_init(struct virtio_dev *d, uint64_t want)
{
	uint64_t offered;

	if (virtio_reset(d))
		return -1;
	status_set(d, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(d, VIRTIO_STATUS_DRIVER);

	offered = (uint64_t)features_read(d, 1) << 32;
	offered |= features_read(d, 0);
	d->offered = offered;
	if (!(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		printf("virtio: device %u at 0x%lx does not offer VIRTIO_F_VERSION_1 (features 0x%lx)\n",
		       d->device_id, d->base, offered);
		virtio_fail_device(d);
		return -1;
	}
	/* We drive split rings through identity-mapped physical addresses only. */
	want &= ~(VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM));
	d->features = (want | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & offered;

	features_write(d, 0, (uint32_t)d->features);
	features_write(d, 1, (uint32_t)(d->features >> 32));
	status_set(d, VIRTIO_STATUS_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
		printf("virtio: device %u at 0x%lx refused features 0x%lx\n", d->device_id, d->base, d->features);
		virtio_fail_device(d);
		return -1;
	}
	return 0;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	status_set(d, VIRTIO_STATUS_DRIVER_OK);
}

uint32_t virtio_irq_ack(struct virtio_dev *d)
{
	uint32_t isr;

	if (d->pci)
		return mmio_read8(d->isr);	/* reading acknowledges */
	isr = reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
	if (isr)
		reg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return isr;
}

/* ---- configuration space ---- */

static uint32_t config_gen(const struct virtio_dev *d)
{
	if (d->pci)
		return mmio_read8(d->common + VPCI_CFG_GENERATION);
	return reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
}

uint8_t virtio_config8(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read8(d->devcfg + off);
}

uint16_t virtio_config16(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read16(d->devcfg + off);
}

uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read32(d->devcfg + off);
}

/* Fields wider than 32 bits: retry until ConfigGeneration did not change under us (2.5.1). */
uint64_t virtio_config64(const struct virtio_dev *d, uint32_t off)
{
	uint32_t gen, lo, hi;

	do {
		gen = config_gen(d);
		lo = virtio_config32(d, off);
		hi = virtio_config32(d, off + 4);
	} while (gen != config_gen(d));
	return (uint64_t)hi << 32 | lo;
}

void virtio_config_read(const struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *p = buf;
	uint32_t gen;

	do {
		gen = config_gen(d);
		for (uint32_t i = 0; i < len; i++)
			p[i] = virtio_config8(d, off + i);
	} while (gen != config_gen(d));
}

/* ---- split virtqueues ---- */

/* The selected queue's ready (mmio) or enable (pci) register. */
static uint32_t queue_ready(const struct virtio_dev *d)
{
	return d->pci ? mmio_read16(d->common + VPCI_Q_ENABLE) : reg_read(d, VIRTIO_MMIO_QUEUE_READY);
}

int virtq_setup(struct virtio_dev *d, struct virtq *vq, unsigned index, unsigned size)
{
	uint32_t max;
	unsigned n;

	if (d->pci) {
		mmio_write16(d->common + VPCI_Q_SELECT, (uint16_t)index);
		max = mmio_read16(d->common + VPCI_Q_SIZE);	/* reads the maximum after a reset */
	} else {
		reg_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
		max = reg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	}
	if (queue_ready(d)) {
		printf("virtio: queue %u of device %u already ready after reset\n", index, d->device_id);
		return -1;
	}
	if (!max) {
		printf("virtio: device %u has no queue %u\n", d->device_id, index);
		return -1;
	}
	if (size > max)
		size = max;
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	for (n = 1; n * 2 <= size; n *= 2)
		;

	memset(vq, 0, sizeof(*vq));
	vq->dev = d;
	vq->index = (uint16_t)index;
	vq->size = (uint16_t)n;
	vq->avail_flags = (volatile uint16_t *)vq->avail_mem;
	vq->avail_idx = vq->avail_flags + 1;
	vq->avail_ring = vq->avail_flags + 2;
	vq->used_event = vq->avail_ring + n;
	vq->used_flags = (volatile uint16_t *)vq->used_mem;
	vq->used_idx = vq->used_flags + 1;
	vq->used_ring = (volatile struct virtq_used_elem *)(vq->used_mem + 4);
	vq->avail_event = (volatile uint16_t *)(vq->used_mem + 4 + 8 * n);
	vq->indirect = virtio_has(d, VIRTIO_RING_F_INDIRECT_DESC);
	vq->event_idx = virtio_has(d, VIRTIO_RING_F_EVENT_IDX);
	for (unsigned i = 0; i < n; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = (uint16_t)n;
	/* We poll: ask the device not to interrupt (a hint; with EVENT_IDX, an event far ahead). */
	if (vq->event_idx)
		*vq->used_event = 0x8000;
	else
		*vq->avail_flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	if (d->pci) {
		uint64_t c = d->common;

		mmio_write16(c + VPCI_Q_SIZE, (uint16_t)n);
		mmio_write16(c + VPCI_Q_MSIX, 0xffff);	/* no vector: we poll */
		mmio_write32(c + VPCI_Q_DESC, (uint32_t)(uint64_t)vq->desc);
		mmio_write32(c + VPCI_Q_DESC + 4, (uint32_t)((uint64_t)vq->desc >> 32));
		mmio_write32(c + VPCI_Q_DRIVER, (uint32_t)(uint64_t)vq->avail_mem);
		mmio_write32(c + VPCI_Q_DRIVER + 4, (uint32_t)((uint64_t)vq->avail_mem >> 32));
		mmio_write32(c + VPCI_Q_DEVICE, (uint32_t)(uint64_t)vq->used_mem);
		mmio_write32(c + VPCI_Q_DEVICE + 4, (uint32_t)((uint64_t)vq->used_mem >> 32));
		vq->notify_addr = d->notify + (uint64_t)mmio_read16(c + VPCI_Q_NOTIFY_OFF) * d->notify_mult;
		mmio_write16(c + VPCI_Q_ENABLE, 1);
	} else {
		reg_write(d, VIRTIO_MMIO_QUEUE_NUM, n);
		reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(uint64_t)vq->desc);
		reg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)((uint64_t)vq->desc >> 32));
		reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(uint64_t)vq->avail_mem);
		reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((uint64_t)vq->avail_mem >> 32));
		reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(uint64_t)vq->used_mem);
		reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((uint64_t)vq->used_mem >> 32));
		reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	if (queue_ready(d) != 1) {
		printf("virtio: queue %u of device %u did not become ready\n", index, d->device_id);
		return -1;
	}
	return (int)n;
}

static uint16_t fill_desc(struct virtq_desc *d, const struct virtq_buf *b)
{
	d->addr = (uint64_t)b->addr;
	d->len = b->len;
	d->flags = b->write ? VIRTQ_DESC_F_WRITE : 0;
	return d->flags;
}

int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool use_indirect)
{
	uint16_t head = vq->free_head, idx, last = head;
	bool indirect = use_indirect && vq->indirect && n > 0 && n <= VIRTQ_INDIRECT_MAX;
	unsigned need = indirect ? 1 : n;

	if (n == 0 || need > vq->num_free)
		return -1;
	if (indirect) {
		struct virtq_desc *t = vq->ind_tables[head];

		for (unsigned i = 0; i < n; i++) {
			fill_desc(&t[i], &bufs[i]);
			if (i + 1 < n) {
				t[i].flags |= VIRTQ_DESC_F_NEXT;
				t[i].next = (uint16_t)(i + 1);
			} else {
				t[i].next = 0;
			}
		}
		vq->desc[head].addr = (uint64_t)t;
		vq->desc[head].len = n * sizeof(struct virtq_desc);
		vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
		vq->free_head = vq->desc[head].next;
	} else {
		idx = head;
		for (unsigned i = 0; i < n; i++) {
			struct virtq_desc *d = &vq->desc[idx];

			last = idx;
			fill_desc(d, &bufs[i]);
			if (i + 1 < n)
				d->flags |= VIRTQ_DESC_F_NEXT;
			idx = d->next;	/* free-list link doubles as the chain link */
		}
		vq->free_head = vq->desc[last].next;
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->chain_len[head] = (uint16_t)need;

	vq->avail_ring[vq->next_avail & (vq->size - 1)] = head;
	barrier();	/* ring entry before the index (x86 keeps stores in order) */
	vq->next_avail++;
	*vq->avail_idx = vq->next_avail;
	return head;
}

void virtq_kick(struct virtq *vq)
{
	uint16_t new_idx = vq->next_avail, old_idx = vq->kicked_avail;
	bool need;

	if (new_idx == old_idx)
		return;
	/* Our avail->idx store must be visible before we read what the device asked for. */
	mb();
	vq->kicked_avail = new_idx;
	if (vq->event_idx) {
		uint16_t ev = *vq->avail_event;

		/* Notify when the device's avail_event lies in [old_idx, new_idx) (2.7.10). */
		need = (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old_idx);
	} else {
		need = !(*vq->used_flags & VIRTQ_USED_F_NO_NOTIFY);
	}
	if (need)
		virtq_notify(vq);
	else
		vq->kicks_skipped++;
}

void virtq_notify(struct virtq *vq)
{
	if (vq->dev->pci)
		mmio_write16(vq->notify_addr, vq->index);
	else
		reg_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
	vq->notifies++;
}

bool virtio_wait_status(const struct virtio_dev *d, uint32_t bits, uint64_t ms)
{
	uint64_t start = rdtsc(), limit = ms * virtio_tsc_per_ms();

	/* One exit per look: poll about every 20 us of TSC, not in a tight loop. */
	while ((virtio_status(d) & bits) != bits) {
		if (rdtsc() - start > limit)
			return false;
		for (uint64_t t = rdtsc(); rdtsc() - t < virtio_tsc_per_ms() / 50;)
			pause();
	}
	return true;
}

bool virtq_poll(struct virtq *vq, uint32_t *id, uint32_t *len)
{
	volatile struct virtq_used_elem *e;
	uint32_t head, n;

	if (*vq->used_idx == vq->last_used)
		return false;
	barrier();	/* the index before the element (x86 keeps loads in order) */
	e = &vq->used_ring[vq->last_used & (vq->size - 1)];
	head = e->id;
	if (len)
		*len = e->len;
	if (id)
		*id = head;
	vq->last_used++;
	if (vq->event_idx)
		*vq->used_event = (uint16_t)(vq->last_used + 0x8000);
	vq->completions++;

	if (head >= vq->size || !vq->chain_len[head])
		fail("virtio: device %u queue %u returned id %u that is not in flight",
		     vq->dev->device_id, vq->index, head);
	/* Return the chain to the free list. */
	n = vq->chain_len[head];
	vq->chain_len[head] = 0;
	{
		uint16_t tail = (uint16_t)head;

		for (uint32_t i = 1; i < n; i++)
			tail = vq->desc[tail].next;
		vq->desc[tail].next = vq->free_head;
	}
	vq->free_head = (uint16_t)head;
	vq->num_free = (uint16_t)(vq->num_free + n);
	return true;
}

bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len)
{
	uint64_t start = rdtsc(), now, limit = virtio_timeout_ms * virtio_tsc_per_ms();
	uint64_t status_every = 100 * virtio_tsc_per_ms(), status_at = start + status_every;
	/* A spin cap too, in case the TSC misbehaves: far beyond any sane timeout. */
	uint64_t spins = 0, max_spins = virtio_timeout_ms * 1000000;

	for (;;) {
		if (virtq_poll(vq, id, len))
			return true;
		if ((++spins & 1023) == 0) {
			now = rdtsc();
			if (now - start > limit || spins > max_spins)
				return false;
			/* A device that gave up says so in Status; look every 100 ms (one exit). */
			if ((int64_t)(now - status_at) > 0) {
				status_at = now + status_every;
				if (virtio_status(vq->dev) & VIRTIO_STATUS_NEEDS_RESET)
					return virtq_poll(vq, id, len);
			}
		}
		pause();
	}
}

uint32_t virtq_xfer(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool use_indirect)
{
	uint32_t id, len;
	int head;

	if (virtq_in_flight(vq))
		fail("virtio: virtq_xfer with requests in flight");
	head = virtq_add(vq, bufs, n, use_indirect);
	if (head < 0)
		fail("virtio: device %u queue %u: no room for %u buffers", vq->dev->device_id, vq->index, n);
	virtq_kick(vq);
	if (!virtq_wait(vq, &id, &len))
		fail("virtio: device %u queue %u: no completion (timeout %lu ms; status 0x%x%s, used idx %u, avail idx %u)",
		     vq->dev->device_id, vq->index, virtio_timeout_ms, virtio_status(vq->dev),
		     virtio_status(vq->dev) & VIRTIO_STATUS_NEEDS_RESET ? " NEEDS_RESET" : "",
		     *vq->used_idx, vq->next_avail);
	if (id != (uint32_t)head)
		fail("virtio: device %u queue %u completed id %u, expected %d", vq->dev->device_id, vq->index, id, head);
	return len;
}
