/*
 * Platform devices (devices/).  Each is a bus handler over a plain state
 * struct, with save/restore/reset over that struct and a registry ops table
 * (X_device_ops) whose destroy also frees the calloc'ed device.  Records are
 * state_version 1; restore takes the whole reader as the device's record and
 * refuses (-EINVAL) one the device could never have saved, leaving the device
 * in its power-on state.
 */
#ifndef KVMRUN_DEVICES_H
#define KVMRUN_DEVICES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/pci.h"
#include "kvmrun/sink.h"
#include "kvmrun/state.h"
#include "kvmrun/stop.h"

/* ---- 8250/16550A UART ---- */

#define COM1_BASE	0x3f8
#define COM1_IRQ	4
#define SERIAL_NR_REGS	8
#define SERIAL_FIFO	16

/* Register state, kept apart from host resources so it can be saved. */
struct serial_regs {
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	bool thr_ipending;	/* THR-empty interrupt waiting to be seen in IIR */
	uint8_t rx[SERIAL_FIFO];
	uint8_t rx_head, rx_count;
	bool irq_level;
};

struct serial8250 {
	struct serial_regs regs;
	pthread_mutex_t lock;
	struct out_sink *out;		/* where transmitted bytes go; NULL: discarded */
	struct irq_line irq;
	void (*rx_space)(void *opaque);	/* the guest made room in the RX FIFO */
	void *rx_space_opaque;
	uint64_t tx_bytes;
};

/* out: the VM's output the UART writes to (shared, not owned), or NULL. */
void serial8250_init(struct serial8250 *s, struct out_sink *out, struct irq_line irq,
		     void (*rx_space)(void *), void *rx_space_opaque);
void serial8250_destroy(struct serial8250 *s);
void serial8250_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);
/* Offers host input; returns how many bytes the RX FIFO took. */
size_t serial8250_rx_push(struct serial8250 *s, const uint8_t *buf, size_t n);
int serial8250_save(const struct serial8250 *s, struct state_writer *w);
/* Drives the IRQ line to the restored level and offers the FIFO's room to rx_space. */
int serial8250_restore(struct serial8250 *s, struct state_reader *r, uint16_t version);
void serial8250_reset(struct serial8250 *s);
/* "serial8250" */
extern const struct vm_device_ops serial8250_device_ops;

/* ---- debug-exit port (QEMU isa-debug-exit compatible) ---- */

#define DEBUG_EXIT_PORT	0xf4
#define DEBUG_EXIT_LEN	4

struct debug_exit {
	struct vm_stop *stop;
};

void debug_exit_init(struct debug_exit *d, struct vm_stop *stop);
void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);
/* No guest-visible state: an empty record. */
extern const struct vm_device_ops debug_exit_device_ops;	/* "debug-exit" */

/* ---- i8042 keyboard controller (reset line and probes) ---- */

#define I8042_DATA_PORT		0x60
#define I8042_CMD_PORT		0x64
#define I8042_KBD_IRQ		1
#define I8042_AUX_IRQ		12
#define I8042_QUEUE		16

struct i8042_regs {
	uint8_t status;
	uint8_t ctr;		/* controller configuration ("command byte") */
	uint8_t pending_cmd;	/* command waiting for its data byte, or 0 */
	uint8_t outport;
	uint8_t queue[I8042_QUEUE];
	uint8_t q_head, q_count;
	bool q_aux[I8042_QUEUE];
	bool kbd_level, aux_level;
};

struct i8042 {
	struct i8042_regs regs;
	pthread_mutex_t lock;
	struct vm_stop *stop;
	struct irq_line kbd_irq, aux_irq;
};

void i8042_init(struct i8042 *k, struct vm_stop *stop, struct irq_line kbd_irq,
		struct irq_line aux_irq);
void i8042_destroy(struct i8042 *k);
/* Bus handlers for the data port (0x60) and the command/status port (0x64). */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write);
int i8042_save(const struct i8042 *k, struct state_writer *w);
/* Drives both IRQ lines to the levels the restored queue implies. */
int i8042_restore(struct i8042 *k, struct state_reader *r, uint16_t version);
void i8042_reset(struct i8042 *k);
extern const struct vm_device_ops i8042_device_ops;	/* "i8042" */

/* ---- ACPI PM1a event/control block and reset register ---- */

/* The PM register block the FADT points at. */
#define ACPI_PM_BASE		0x600
#define ACPI_PM1_EVT		(ACPI_PM_BASE + 0)	/* status (2) + enable (2) */
#define ACPI_PM1_CNT		(ACPI_PM_BASE + 4)	/* 2 bytes */
#define ACPI_RESET_PORT		(ACPI_PM_BASE + 6)	/* 1 byte */
#define ACPI_PM_LEN		8
#define ACPI_RESET_VALUE	0x01
#define ACPI_SCI_IRQ		9
#define ACPI_S5_TYPE		5	/* SLP_TYP for soft-off, as \_S5 says */
#define ACPI_S3_TYPE		1	/* SLP_TYP for suspend to RAM, as \_S3 says (QEMU's value) */

#define ACPI_PM1_PWRBTN		0x0100	/* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define ACPI_PM1_RTC		0x0400	/* RTC_STS, RTC_EN: the RTC alarm (wakes from S3) */
#define ACPI_PM1_WAK		0x8000	/* WAK_STS: the machine woke from a sleep state */

struct acpi_pm_regs {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
};

struct acpi_pm {
	struct acpi_pm_regs regs;
	pthread_mutex_t lock;
	struct vm_stop *stop;
	struct irq_line sci;		/* raised while a status bit and its enable are set */
	/* SLP_TYP S3 with SLP_EN: the VM goes to sleep (lock held: no call back in). */
	void (*sleep)(void *opaque);
	void *sleep_opaque;
};

void acpi_pm_init(struct acpi_pm *pm, struct vm_stop *stop);
/* Wires the SCI (ACPI_SCI_IRQ, level triggered); without it the SCI goes nowhere. */
void acpi_pm_set_sci(struct acpi_pm *pm, struct irq_line sci);
/* The fixed power button is pressed: PWRBTN_STS, and the SCI when PWRBTN_EN.  Any thread. */
void acpi_pm_power_button(struct acpi_pm *pm);
/* Makes S3 available: without it a write of SLP_TYP S3 does nothing. */
void acpi_pm_set_sleep(struct acpi_pm *pm, void (*sleep)(void *opaque), void *opaque);
/* The RTC alarm went off: RTC_STS, and the SCI when RTC_EN.  True when RTC_EN asks it to wake the machine. */
bool acpi_pm_rtc_alarm(struct acpi_pm *pm);
/* The machine woke from S3: WAK_STS. */
void acpi_pm_woke(struct acpi_pm *pm);
void acpi_pm_destroy(struct acpi_pm *pm);
void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
int acpi_pm_save(const struct acpi_pm *pm, struct state_writer *w);
int acpi_pm_restore(struct acpi_pm *pm, struct state_reader *r, uint16_t version);
void acpi_pm_reset(struct acpi_pm *pm);
extern const struct vm_device_ops acpi_pm_device_ops;	/* "acpi-pm" */

/* ---- MC146818 CMOS RTC and NVRAM ---- */

#define RTC_PORT	0x70
#define RTC_NR_PORTS	2
#define CMOS_SIZE	128

#define RTC_IRQ		8

struct rtc_regs {
	uint8_t index;			/* below CMOS_SIZE: the NMI-mask bit is not kept */
	uint8_t cmos[CMOS_SIZE];	/* clock fields and UIP are computed on read */
	int64_t offset;			/* guest time minus host time, seconds */
	int64_t flags_s;		/* guest second up to which C's AF and UF are set */
};

struct rtc_cmos {
	struct rtc_regs regs;
	pthread_mutex_t lock;
	int64_t (*now)(void);		/* host UTC nanoseconds; tests plug in their own */
	struct irq_line irq;		/* IRQ 8: high while C's IRQF is set */
	/* The next event (rtc_cmos_next_event) may have moved: any thread, lock held. */
	void (*changed)(void *opaque);
	void *changed_opaque;
};

void rtc_cmos_init(struct rtc_cmos *rtc, int64_t (*now)(void));
/* Wires IRQ 8 and the callback that re-arms the host timer behind the alarm and update interrupts. */
void rtc_cmos_connect(struct rtc_cmos *rtc, struct irq_line irq, void (*changed)(void *opaque),
		      void *opaque);
/*
 * Host UTC nanoseconds of the next alarm or update-ended interrupt the
 * guest enabled (AIE, UIE), or INT64_MAX: when to call rtc_cmos_tick.
 */
int64_t rtc_cmos_next_event(struct rtc_cmos *rtc);
/* Sets C's flags for the seconds that passed and raises IRQ 8; true when the alarm (AF) went off. */
bool rtc_cmos_tick(struct rtc_cmos *rtc);
void rtc_cmos_destroy(struct rtc_cmos *rtc);
void rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
int rtc_cmos_save(const struct rtc_cmos *rtc, struct state_writer *w);
int rtc_cmos_restore(struct rtc_cmos *rtc, struct state_reader *r, uint16_t version);
/* A machine reset: the battery-backed clock and NVRAM stay, interrupt enables clear. */
void rtc_cmos_reset(struct rtc_cmos *rtc);
extern const struct vm_device_ops rtc_cmos_device_ops;	/* "rtc-cmos" */

/* Port 0x80 (POST codes, I/O delays): accepted and ignored. */
#define POST_PORT	0x80

/* No state; a struct so that the registry has a device to own (bus handler: ignore_io). */
struct post_port {
	int unused;
};

void ignore_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write);
extern const struct vm_device_ops post_port_device_ops;	/* "post-port" */

/* ---- snapshot-request port (devices/snapshot_port.c) ---- */

/* A guest write asks for a snapshot right after that instruction; a read says how it went. */
#define SNAPSHOT_PORT		0x5f0
#define SNAPSHOT_PORT_NONE	0	/* no snapshot taken (none asked for, none possible, failed) */
#define SNAPSHOT_PORT_SAVED	1	/* this run saved it */
#define SNAPSHOT_PORT_RESTORED	2	/* this run was restored from a snapshot */

struct snapshot_port {
	_Atomic uint8_t result;
	void (*request)(void *opaque);	/* NULL: snapshots are not wanted */
	void *opaque;
};

/* request runs on the vCPU thread that wrote the port. */
void snapshot_port_init(struct snapshot_port *p, void (*request)(void *opaque), void *opaque);
void snapshot_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void snapshot_port_done(struct snapshot_port *p, bool saved);
void snapshot_port_restored(struct snapshot_port *p);
extern const struct vm_device_ops snapshot_port_device_ops;	/* "snapshot-port" */

/* ---- reset control register (PIIX/ICH RST_CNT, Linux's reboot=pci) ---- */

#define RESET_CONTROL_PORT	0xcf9

struct reset_control {
	pthread_mutex_t lock;
	uint8_t value;			/* last written SYS_RST/RST_CPU/FULL_RST bits */
	struct vm_stop *stop;
};

void reset_control_init(struct reset_control *rc, struct vm_stop *stop);
void reset_control_destroy(struct reset_control *rc);
void reset_control_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
int reset_control_save(const struct reset_control *rc, struct state_writer *w);
int reset_control_restore(struct reset_control *rc, struct state_reader *r, uint16_t version);
void reset_control_reset(struct reset_control *rc);
extern const struct vm_device_ops reset_control_device_ops;	/* "reset-control" */

/* ---- QEMU fw_cfg, traditional port interface (devices/fw_cfg.c) ---- */

#define FW_CFG_PORT		0x510	/* selector (16-bit write); data at +1 */
#define FW_CFG_NR_PORTS		2
/* Item keys (QEMU docs/specs/fw_cfg.rst); others read as empty. */
#define FW_CFG_SIGNATURE	0x00	/* "QEMU" */
#define FW_CFG_ID		0x01	/* u32 feature bits */
#define FW_CFG_RAM_SIZE		0x03	/* u64 bytes */
#define FW_CFG_NB_CPUS		0x05	/* u16 */
#define FW_CFG_MAX_CPUS		0x0f	/* u16 */
#define FW_CFG_ITEM_MAX		8	/* the longest item kvmrun has */

struct fw_cfg_regs {
	uint16_t selector;
	uint32_t offset;		/* next byte of the selected item */
};

struct fw_cfg {
	struct fw_cfg_regs regs;
	pthread_mutex_t lock;
	uint16_t nr_cpus;		/* the machine, as configured */
	uint64_t ram_size;
};

void fw_cfg_init(struct fw_cfg *c, uint16_t nr_cpus, uint64_t ram_size);
void fw_cfg_destroy(struct fw_cfg *c);
void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
int fw_cfg_save(const struct fw_cfg *c, struct state_writer *w);
int fw_cfg_restore(struct fw_cfg *c, struct state_reader *r, uint16_t version);
void fw_cfg_reset(struct fw_cfg *c);
extern const struct vm_device_ops fw_cfg_device_ops;	/* "fw-cfg" */

/* ---- ACPI PM timer (devices/pm_timer.c) ---- */

#define ACPI_PM_TMR		(ACPI_PM_BASE + 8)	/* PM_TMR_BLK, 4 bytes */
#define ACPI_PM_TMR_LEN		4
#define ACPI_PM_TMR_HZ		3579545u

struct pm_timer {
	_Atomic uint64_t base_ns;	/* host monotonic time at which the count was start */
	_Atomic uint32_t start;
	uint64_t (*now_ns)(void);	/* host monotonic ns; tests plug in their own */
};

void pm_timer_init(struct pm_timer *t, uint64_t (*now_ns)(void));
/* The 32-bit count (TMR_VAL_EXT) now. */
uint32_t pm_timer_count(const struct pm_timer *t);
void pm_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* The record is the count at save time: the restored timer runs on from it. */
int pm_timer_save(const struct pm_timer *t, struct state_writer *w);
int pm_timer_restore(struct pm_timer *t, struct state_reader *r, uint16_t version);
void pm_timer_reset(struct pm_timer *t);
void pm_timer_destroy(struct pm_timer *t);
extern const struct vm_device_ops pm_timer_device_ops;	/* "pm-timer" */

/* ---- QEMU pc-testdev (devices/pc_testdev.c) ---- */

#define PC_TESTDEV_PORT		0xe0	/* 32-bit scratch register, any width */
#define PC_TESTDEV_FLUSH_PORT	0xe4	/* 32-bit write: a guest-physical page to flush */
#define PC_TESTDEV_BYTE_PORT	0xe8	/* the same scratch register, byte lanes */
#define PC_TESTDEV_IRQ_PORT	0x2000	/* 0x2000 + N: write the level of IRQ N */
#define PC_TESTDEV_NR_IRQS	24
#define PC_TESTDEV_MMIO		0xff000000ULL
#define PC_TESTDEV_MMIO_LEN	0x10000

struct pc_testdev_regs {
	uint32_t scratch;
	uint32_t irq_levels;		/* bit N: IRQ N held high by the guest */
	uint8_t mem[PC_TESTDEV_MMIO_LEN];
};

struct pc_testdev {
	struct pc_testdev_regs regs;
	pthread_mutex_t lock;
	struct irq_line irq[PC_TESTDEV_NR_IRQS];
	/* Drops the host mappings of one guest page so the guest refaults it; may be NULL. */
	void (*flush_page)(void *opaque, uint64_t gpa);
	void *flush_opaque;
};

/* irq: the lines behind ports 0x2000-0x2017 (GSIs 0-23). */
void pc_testdev_init(struct pc_testdev *d, const struct irq_line irq[PC_TESTDEV_NR_IRQS],
		     void (*flush_page)(void *, uint64_t), void *flush_opaque);
void pc_testdev_destroy(struct pc_testdev *d);
/* Handlers: 0xe0 and 0xe8 (the scratch register), 0xe4, 0x2000-0x2017, and the MMIO scratch. */
void pc_testdev_scratch_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write);
void pc_testdev_flush_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write);
void pc_testdev_irq_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pc_testdev_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
int pc_testdev_save(const struct pc_testdev *d, struct state_writer *w);
/* Drives the IRQ lines to the restored levels. */
int pc_testdev_restore(struct pc_testdev *d, struct state_reader *r, uint16_t version);
void pc_testdev_reset(struct pc_testdev *d);
extern const struct vm_device_ops pc_testdev_device_ops;	/* "pc-testdev" */

/* ---- QEMU pci-testdev (devices/pci_testdev.c) ---- */

#define PCI_TESTDEV_VENDOR	0x1b36	/* Red Hat, QEMU's devices */
#define PCI_TESTDEV_DEVICE	0x0005
#define PCI_TESTDEV_MEM_SIZE	4096	/* BAR 0 */
#define PCI_TESTDEV_IO_SIZE	256	/* BAR 1 */
#define PCI_TESTDEV_NR_TESTS	3	/* per BAR */

struct pci_testdev_regs {
	uint8_t test[2];		/* the selected test, per BAR */
	uint32_t count[2];		/* the writes it saw since selected */
};

struct pci_testdev {
	struct pci_function fn;		/* first: the bus holds a pointer to it */
	struct pci_testdev_regs regs;
	pthread_mutex_t lock;
};

/* Then pci_bus_add(bus, &d->fn). */
void pci_testdev_init(struct pci_testdev *d);
void pci_testdev_destroy(struct pci_testdev *d);
/* The function's configuration record, then the tests' registers. */
int pci_testdev_save(const struct pci_testdev *d, struct state_writer *w);
int pci_testdev_restore(struct pci_testdev *d, struct state_reader *r, uint16_t version);
void pci_testdev_reset(struct pci_testdev *d);
extern const struct vm_device_ops pci_testdev_device_ops;	/* "pci-testdev" */

#endif
