/*
 * The PCI model a PC guest expects, from inside: ECAM and 64-bit BARs,
 * with an entropy device (virtio-rng over virtio-pci) as the function.
 *
 * ECAM (0xe0000000, bus 0): every dword of the 256-byte space of every slot
 * reads the same through ECAM as through ports 0xCF8/0xCFC; past 256 bytes
 * a function reads 0 up to 4 KiB, a missing one all-ones; functions 1-7 are
 * missing; a byte write through ECAM (the interrupt line) and a word write
 * (the command register) are seen through the ports, and the other way.
 *
 * 64-bit BAR: BAR 0 of the device says 64-bit memory; sizing both dwords
 * gives its size (32 KiB, upper dword all-ones); the guest moves it into the
 * 64-bit window above RAM and 4 GiB, the device's registers then answer
 * there (and nothing at the old address), entropy is read through it; moved
 * over RAM (outside every window) it decodes nowhere and RAM stays RAM;
 * moved back it works again.
 *
 * Command line: win64=ADDR (the 64-bit window's base, from the test).
 */
#include "virtio.h"

#define ECAM_BASE	0xe0000000ULL
#define PCI_CMD		0x04
#define PCI_CMD_MEM	0x02

static struct virtio_dev dev;
static struct virtq vq;
static uint8_t buf[64];

static volatile uint32_t *ecam32(unsigned slot, unsigned fn, unsigned off)
{
	return (volatile uint32_t *)(ECAM_BASE + ((uint64_t)slot << 15) + ((uint64_t)fn << 12) + off);
}

static void check_ecam(void)
{
	unsigned present = 0;

	for (unsigned slot = 0; slot < 32; slot++) {
		bool here = pci_cfg_read32(slot, 0) != 0xffffffffu;

		for (unsigned off = 0; off < 256; off += 4) {
			uint32_t a = pci_cfg_read32(slot, off), b = *ecam32(slot, 0, off);

			check(a == b, "pci-ecam: 00:%02x.0 +0x%x: ports 0x%x, ECAM 0x%x", slot, off, a, b);
		}
		for (unsigned off = 256; off < 4096; off += 4) {
			uint32_t v = *ecam32(slot, 0, off);

			check(v == (here ? 0 : 0xffffffffu),
			      "pci-ecam: 00:%02x.0 extended +0x%x reads 0x%x", slot, off, v);
		}
		for (unsigned fn = 1; fn < 8; fn++)
			check(*ecam32(slot, fn, 0) == 0xffffffffu, "pci-ecam: 00:%02x.%u exists", slot, fn);
		present += here;
	}
	check(present >= 2, "pci-ecam: %u functions on bus 0", present);
	printf("pci-ecam: ECAM matches ports 0xCF8/0xCFC on all 32 slots (%u functions), "
	       "extended space reads 0\n", present);

	/* Writes: a byte and a word through ECAM, seen through the ports; and back. */
	volatile uint8_t *line = (volatile uint8_t *)ecam32(dev.slot, 0, 0x3c);
	volatile uint16_t *cmd = (volatile uint16_t *)ecam32(dev.slot, 0, PCI_CMD);
	uint8_t old_line = *line;
	uint16_t old_cmd = *cmd;

	*line = 0x5a;
	check(pci_cfg_read8(dev.slot, 0x3c) == 0x5a, "pci-ecam: ECAM byte write not seen");
	pci_cfg_write8(dev.slot, 0x3c, 0xa5);
	check(*line == 0xa5, "pci-ecam: port byte write not seen through ECAM");
	*line = old_line;
	*cmd = (uint16_t)(old_cmd & ~PCI_CMD_MEM);
	check(pci_cfg_read16(dev.slot, PCI_CMD) == (old_cmd & ~PCI_CMD_MEM),
	      "pci-ecam: ECAM word write to the command register not seen");
	/* Memory decoding off: BAR 0 answers nothing. */
	check(mmio_read32(dev.common) == 0xffffffffu, "pci-ecam: BAR decodes with memory space off");
	*cmd = old_cmd;
	printf("pci-ecam: writes through ECAM take effect (interrupt line, memory space enable)\n");
}

static uint64_t bar0(void)
{
	return (uint64_t)pci_cfg_read32(dev.slot, 0x14) << 32 | (pci_cfg_read32(dev.slot, 0x10) & ~0xfu);
}

static void bar0_set(uint64_t addr)
{
	uint16_t cmd = pci_cfg_read16(dev.slot, PCI_CMD);

	pci_cfg_write16(dev.slot, PCI_CMD, (uint16_t)(cmd & ~PCI_CMD_MEM));
	pci_cfg_write32(dev.slot, 0x10, (uint32_t)addr);
	pci_cfg_write32(dev.slot, 0x14, (uint32_t)(addr >> 32));
	pci_cfg_write16(dev.slot, PCI_CMD, cmd | PCI_CMD_MEM);
}

/* Device setup and one request through wherever BAR 0 is now. */
static void use_device(const char *where)
{
	uint32_t id, len;
	struct virtq_buf b = { buf, sizeof(buf), true };

	check(virtio_find(VIRTIO_ID_RNG, 0, &dev) == 0, "pci-ecam: no entropy device %s", where);
	check(virtio_init(&dev, 0) == 0, "pci-ecam: device initialization failed %s", where);
	check(virtq_setup(&dev, &vq, 0, 16) > 0, "pci-ecam: queue setup failed %s", where);
	virtio_driver_ok(&dev);
	memset(buf, 0, sizeof(buf));
	check(virtq_add(&vq, &b, 1, false) >= 0, "pci-ecam: ring full");
	virtq_kick(&vq);
	check(virtq_wait(&vq, &id, &len), "pci-ecam: request not completed %s", where);
	check(len == sizeof(buf), "pci-ecam: %u bytes of entropy %s", len, where);
}

static void check_bar64(uint64_t win64)
{
	uint32_t lo = pci_cfg_read32(dev.slot, 0x10);
	uint64_t low = bar0(), high = win64 + 0x100000, size;

	check((lo & 0xf) == 0x4, "pci-ecam: BAR 0 flags 0x%x, expected 64-bit memory", lo & 0xf);
	check(low >= 0xc0000000ULL && low < 0x100000000ULL, "pci-ecam: BAR 0 at 0x%lx", low);

	/* Sizing: all-ones into both dwords, decoding off. */
	uint16_t cmd = pci_cfg_read16(dev.slot, PCI_CMD);

	pci_cfg_write16(dev.slot, PCI_CMD, (uint16_t)(cmd & ~PCI_CMD_MEM));
	pci_cfg_write32(dev.slot, 0x10, 0xffffffffu);
	pci_cfg_write32(dev.slot, 0x14, 0xffffffffu);
	check((pci_cfg_read32(dev.slot, 0x10) & 0xf) == 0x4, "pci-ecam: sizing changed BAR 0's flags");
	check(pci_cfg_read32(dev.slot, 0x14) == 0xffffffffu, "pci-ecam: upper dword sized 0x%x",
	      pci_cfg_read32(dev.slot, 0x14));
	size = ~bar0() + 1;
	check(size == 0x8000, "pci-ecam: BAR 0 sized 0x%lx, expected 0x8000", size);
	pci_cfg_write32(dev.slot, 0x10, (uint32_t)low);
	pci_cfg_write32(dev.slot, 0x14, 0);
	pci_cfg_write16(dev.slot, PCI_CMD, cmd);
	printf("pci-ecam: BAR 0 is 64-bit, 0x%lx bytes at 0x%lx\n", size, low);

	/* Above 4 GiB, in the 64-bit window. */
	bar0_set(high);
	check(bar0() == high, "pci-ecam: BAR 0 reads 0x%lx after the move to 0x%lx", bar0(), high);
	check(mmio_read32(low) == 0xffffffffu, "pci-ecam: the old address still decodes");
	use_device("above 4 GiB");
	check(dev.common >= high && dev.common < high + size, "pci-ecam: common config at 0x%lx",
	      dev.common);
	printf("pci-ecam: BAR 0 moved to 0x%lx (64-bit window): %u bytes of entropy through it\n",
	       high, (unsigned)sizeof(buf));

	/* Over RAM, outside every window: it decodes nowhere and RAM stays RAM. */
	volatile uint32_t *ram = (volatile uint32_t *)0x08000000ULL;

	*ram = 0x1234abcd;
	bar0_set(0x08000000ULL);
	check(mmio_read32(high) == 0xffffffffu, "pci-ecam: BAR 0 still decodes at 0x%lx", high);
	check(*ram == 0x1234abcd, "pci-ecam: RAM under a BAR reads 0x%x", *ram);
	printf("pci-ecam: BAR 0 over RAM decodes nowhere, RAM is untouched\n");

	bar0_set(low);
	use_device("back below 4 GiB");
	printf("pci-ecam: moved back to 0x%lx, it works there again\n", low);
}

void test_main(void)
{
	uint64_t win64 = 0;

	check(cmdline_u64("win64", &win64) && win64 >= 0x100000000ULL,
	      "pci-ecam: win64= (the 64-bit window) missing");
	check(virtio_find(VIRTIO_ID_RNG, 0, &dev) == 0 && dev.pci,
	      "pci-ecam: no entropy device on virtio-pci");
	check_ecam();
	check_bar64(win64);
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "pci-ecam: device needs reset");
	pass();
}
