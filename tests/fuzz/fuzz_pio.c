/*
 * The port-I/O bus as vm.c builds it (src/bus.c dispatch; devices/
 * serial8250.c, i8042.c, debug_exit.c, acpi_pm.c, rtc_cmos.c, the POST port
 * and the PCI host bridge's configuration ports): any port, any width,
 * including accesses that straddle a device's range.
 *
 * Input: a stream of accesses: u8 op (0x80: write, 0x40: a raw 16-bit port
 * instead of a device's base + offset, 0x03: width 1/2/4/4), the port, u32
 * value; before them a u32 for the host clock the RTC reads (x4 seconds).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/acpi.h"
#include "kvmrun/bus.h"
#include "kvmrun/devices.h"
#include "kvmrun/pci.h"

#define MAX_OPS	1024

static int64_t clock_now;
static unsigned line_sets;

/* The RTC's clock is in nanoseconds: the input's low bits pick the phase within the second. */
static int64_t fake_now(void)
{
	return clock_now;
}

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)level;
	FUZZ_CHECK(gsi == COM1_IRQ || gsi == I8042_KBD_IRQ || gsi == I8042_AUX_IRQ, "irq %u", gsi);
	line_sets++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	return 0;
}

static const uint16_t bases[] = { COM1_BASE, I8042_DATA_PORT, I8042_CMD_PORT, DEBUG_EXIT_PORT,
				  POST_PORT, ACPI_PM_BASE, RTC_PORT, PCI_CONFIG_ADDRESS };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t widths[] = { 1, 2, 4, 4 };	/* all a port access can be */
	struct fuzz_in in = { data, size };
	struct serial8250 serial;
	struct i8042 kbd;
	struct debug_exit dbg;
	struct acpi_pm pm;
	struct rtc_cmos rtc;
	struct pci_bus pci;
	struct vm_stop stop;
	struct bus pio;
	int r;

	/* Any time from 1970 to the year 2242 (in nanoseconds, within int64_t). */
	clock_now = (int64_t)in_u32(&in) * 2 * 1000000000LL;
	clock_now += (int64_t)(in_u32(&in) % 1000000000u);
	line_sets = 0;
	if (vm_stop_init(&stop))
		abort();
	serial8250_init(&serial, NULL, (struct irq_line){ irq_set, NULL, COM1_IRQ }, NULL, NULL);
	i8042_init(&kbd, &stop, (struct irq_line){ irq_set, NULL, I8042_KBD_IRQ },
		   (struct irq_line){ irq_set, NULL, I8042_AUX_IRQ });
	dbg.stop = &stop;
	acpi_pm_init(&pm, &stop);
	rtc_cmos_init(&rtc, fake_now);
	pci_bus_init(&pci);
	bus_init(&pio, "pio");
	r = bus_register(&pio, COM1_BASE, SERIAL_NR_REGS, serial8250_io, &serial, "serial");
	r = r ? r : bus_register(&pio, I8042_DATA_PORT, 1, i8042_data_io, &kbd, "i8042");
	r = r ? r : bus_register(&pio, I8042_CMD_PORT, 1, i8042_cmd_io, &kbd, "i8042");
	r = r ? r : bus_register(&pio, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io, &dbg,
				 "debug-exit");
	r = r ? r : bus_register(&pio, POST_PORT, 1, ignore_io, NULL, "post");
	r = r ? r : bus_register(&pio, ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io, &pm, "acpi-pm");
	r = r ? r : bus_register(&pio, RTC_PORT, RTC_NR_PORTS, rtc_cmos_io, &rtc, "rtc");
	r = r ? r : bus_register(&pio, PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS, pci_config_io, &pci,
				 "pci");
	if (r)
		abort();

	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = in_u8(&in);
		uint32_t len = widths[op & 3];
		uint64_t port;
		uint32_t v;
		uint8_t *b = malloc(len);
		bool claimed;

		if (op & 0x40) {
			port = in_u16(&in);
		} else {
			uint8_t i = in_u8(&in);

			port = bases[i % (sizeof(bases) / sizeof(bases[0]))] + (i >> 5);
		}
		v = in_u32(&in);
		if (!b)
			abort();
		memset(b, 0, len);
		memcpy(b, &v, len < 4 ? len : 4);
		claimed = bus_dispatch(&pio, port, b, len, op & 0x80);
		if (!claimed && !(op & 0x80))
			for (uint32_t i = 0; i < len; i++)
				FUZZ_CHECK(b[i] == 0xff, "unclaimed read of port 0x%llx gave 0x%02x",
					   (unsigned long long)port, b[i]);
		free(b);
		FUZZ_CHECK(kbd.regs.q_count <= I8042_QUEUE && kbd.regs.q_head < I8042_QUEUE,
			   "i8042 queue %u at %u", kbd.regs.q_count, kbd.regs.q_head);
		FUZZ_CHECK(serial.regs.rx_count <= SERIAL_FIFO, "serial FIFO %u",
			   serial.regs.rx_count);
	}

	bus_destroy(&pio);
	pci_bus_destroy(&pci);
	rtc_cmos_destroy(&rtc);
	acpi_pm_destroy(&pm);
	i8042_destroy(&kbd);
	serial8250_destroy(&serial);
	vm_stop_destroy(&stop);
	return 0;
}
