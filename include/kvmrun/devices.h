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


#define ACPI_PM1_PWRBTN		0x0100	/* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */

struct acpi_pm_regs {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
};

struct acpi_pm {
	struct acpi_pm_regs regs;
	pthread_mutex_t lock;
	struct vm_stop *stop;
	struct irq_line sci;		/* raised while a status bit and its enable are set */
};

void acpi_pm_init(struct acpi_pm *pm, struct vm_stop *stop);
/* Wires the SCI (ACPI_SCI_IRQ, level triggered); without it the SCI goes nowhere. */
void acpi_pm_set_sci(struct acpi_pm *pm, struct irq_line sci);
/* The fixed power button is pressed: PWRBTN_STS, and the SCI when PWRBTN_EN.  Any thread. */
void acpi_pm_power_button(struct acpi_pm *pm);
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

struct rtc_regs {
	uint8_t index;			/* below CMOS_SIZE: the NMI-mask bit is not kept */
	uint8_t cmos[CMOS_SIZE];	/* clock fields are computed on read */
	int64_t offset;			/* guest time minus host time, seconds */
};

struct rtc_cmos {
	struct rtc_regs regs;
	pthread_mutex_t lock;
	int64_t (*now)(void);		/* host UTC seconds; tests plug in their own */
};

void rtc_cmos_init(struct rtc_cmos *rtc, int64_t (*now)(void));
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

#endif
