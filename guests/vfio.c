/*
 * A passed-through PCI function as the guest sees it (--vfio): finds the
 * function whose ids are expect_vendor= and expect_device= (decimal) on bus
 * 0, prints its config header, sizes its BARs the way a driver does
 * (all-ones, read back, restore) and checks them against kvmrun's windows,
 * walks its capability list, and reads the first dword of every memory BAR
 * below 4 GiB (the guest's page tables cover that much).  With expect_rom=1
 * (--vfio DEVICE,rom=on) it sizes the expansion ROM, turns it on and checks
 * the option ROM signature (0x55 0xaa) at its start; otherwise the ROM must
 * be hidden.
 */
#include "guest.h"
#include "virtio.h"

#define WINDOW_BASE	0xc0000000ULL
#define WINDOW_END	0xe0000000ULL

void test_main(void)
{
	uint64_t vendor = 0, device = 0, want_rom = 0;
	unsigned slot;

	check(cmdline_u64("expect_vendor", &vendor) && cmdline_u64("expect_device", &device),
	      "expect_vendor= and expect_device= are needed");
	virtio_pci_list();
	for (slot = 1; slot < 32; slot++)
		if (pci_cfg_read32(slot, 0) == ((uint32_t)device << 16 | (uint32_t)vendor))
			break;
	check(slot < 32, "no function %04lx:%04lx on bus 0", vendor, device);
	printf("vfio: 00:%02x.0 %04lx:%04lx class %06x header %02x pin %u line %u\n", slot, vendor,
	       device, pci_cfg_read32(slot, 8) >> 8, pci_cfg_read8(slot, 0x0e),
	       pci_cfg_read8(slot, 0x3d), pci_cfg_read8(slot, 0x3c));
	cmdline_u64("expect_rom", &want_rom);
	if (want_rom) {
		uint32_t rom = pci_cfg_read32(slot, 0x30), size;

		pci_cfg_write32(slot, 0x30, 0xfffff800);
		size = ~(pci_cfg_read32(slot, 0x30) & ~0x7ffu) + 1;
		check(rom && size >= 2048 && !(rom & (size - 1)) && rom >= WINDOW_BASE &&
		      rom + (uint64_t)size <= WINDOW_END, "ROM at 0x%x, size 0x%x: not in the window",
		      rom, size);
		pci_cfg_write32(slot, 0x30, rom | 1);
		uint32_t sig = mmio_read32(rom) & 0xffff;

		pci_cfg_write32(slot, 0x30, rom);
		printf("vfio: ROM at 0x%x size 0x%x signature 0x%04x\n", rom, size, sig);
		check(sig == 0xaa55, "the ROM does not start with 0x55 0xaa");
	} else {
		check(pci_cfg_read32(slot, 0x30) == 0, "the expansion ROM is visible");
	}
	unsigned bars = 0;

	for (unsigned b = 0; b < 6; b++) {
		unsigned off = 0x10 + 4 * b;
		uint32_t lo = pci_cfg_read32(slot, off), hi = 0, szlo, szhi = 0xffffffff;
		bool is64 = (lo & 7) == 4;

		pci_cfg_write32(slot, off, 0xffffffff);
		szlo = pci_cfg_read32(slot, off);
		pci_cfg_write32(slot, off, lo);
		if (is64) {
			hi = pci_cfg_read32(slot, off + 4);
			pci_cfg_write32(slot, off + 4, 0xffffffff);
			szhi = pci_cfg_read32(slot, off + 4);
			pci_cfg_write32(slot, off + 4, hi);
		}
		if (!(szlo & ~0xfu))
			continue;
		uint64_t addr = (lo & ~0xfULL) | (uint64_t)hi << 32;
		uint64_t size = ~(((uint64_t)szhi << 32 | (szlo & ~0xfu)) | (is64 ? 0 : ~0ULL << 32)) + 1;

		check(!(lo & 1), "BAR %u is an I/O BAR", b);
		check(addr && !(addr & (size - 1)), "BAR %u at 0x%lx is not aligned to 0x%lx", b, addr,
		      size);
		check((addr >= WINDOW_BASE && addr + size <= WINDOW_END) || addr >= (1ULL << 32),
		      "BAR %u at 0x%lx is outside kvmrun's windows", b, addr);
		printf("vfio: BAR %u at 0x%lx size 0x%lx%s%s", b, addr, size, is64 ? " 64-bit" : "",
		       lo & 8 ? " prefetchable" : "");
		if (addr + 4 <= (1ULL << 32))
			printf(", first dword 0x%08x", mmio_read32(addr));
		printf("\n");
		bars++;
		if (is64)
			b++;
	}
	check(bars, "the function shows no memory BAR");
	if (pci_cfg_read16(slot, 6) & 0x10) {
		uint8_t p = pci_cfg_read8(slot, 0x34) & ~3u;

		for (unsigned hops = 0; p >= 0x40 && hops < 48; hops++) {
			printf("vfio: capability 0x%02x at 0x%02x\n", pci_cfg_read8(slot, p), p);
			p = pci_cfg_read8(slot, p + 1) & ~3u;
		}
	}
	pass();
}
