/*
 * The ACPI fixed-hardware registers the FADT announces: PM1a status/enable,
 * PM1a control (SLP_TYP + SLP_EN: S5 powers off, S3 sleeps) and the reset
 * register.  SCI_EN reads as set: the machine is always in ACPI mode.  The
 * fixed power button (QMP system_powerdown) sets PWRBTN_STS, the RTC alarm
 * RTC_STS; the SCI is raised while a status bit and its enable are both set.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define PM1_CNT_SCI_EN		0x0001
#define PM1_CNT_SLP_TYP_SHIFT	10
#define PM1_CNT_SLP_TYP_MASK	0x1c00
#define PM1_CNT_SLP_EN		0x2000
/* Status bits this model ever sets. */
#define PM1_STS_KNOWN		(ACPI_PM1_WAK | ACPI_PM1_PWRBTN | ACPI_PM1_RTC)

/* The SCI follows the status and enable bits; called with the lock held. */
static void update_sci(struct acpi_pm *pm)
{
	irq_line_set(&pm->sci, (pm->regs.pm1_sts & pm->regs.pm1_en &
				(ACPI_PM1_PWRBTN | ACPI_PM1_RTC)) != 0);
}

static void store(uint8_t *reg_bytes, unsigned off, const uint8_t *data, uint32_t len,
		  unsigned reg_len)
{
	for (uint32_t i = 0; i < len && off + i < reg_len; i++)
		reg_bytes[off + i] = data[i];
}

void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	struct acpi_pm_regs *r = &pm->regs;
	uint8_t bytes[ACPI_PM_LEN];
	uint16_t sts;

	pthread_mutex_lock(&pm->lock);
	memcpy(bytes + 0, &r->pm1_sts, 2);
	memcpy(bytes + 2, &r->pm1_en, 2);
	memcpy(bytes + 4, &r->pm1_cnt, 2);
	bytes[6] = 0;
	bytes[7] = 0xff;
	if (!is_write) {
		memset(data, 0xff, len);
		for (uint32_t i = 0; i < len && offset + i < ACPI_PM_LEN; i++)
			data[i] = bytes[offset + i];
		pthread_mutex_unlock(&pm->lock);
		return;
	}
	switch (offset) {
	case 0: case 1:
		/* Status bits are write-one-to-clear. */
		sts = 0;
		store((uint8_t *)&sts, (unsigned)offset, data, len, 2);
		r->pm1_sts &= (uint16_t)~sts;
		break;
	case 2: case 3:
		store((uint8_t *)&r->pm1_en, (unsigned)offset - 2, data, len, 2);
		break;
	case 4: case 5:
		store((uint8_t *)&r->pm1_cnt, (unsigned)offset - 4, data, len, 2);
		if ((r->pm1_cnt & PM1_CNT_SLP_EN) &&
		    ((r->pm1_cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) == ACPI_S5_TYPE)
			vm_stop_request(pm->stop, STOP_POWEROFF, 0);
		if ((r->pm1_cnt & PM1_CNT_SLP_EN) && pm->sleep &&
		    ((r->pm1_cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) == ACPI_S3_TYPE)
			pm->sleep(pm->sleep_opaque);
		/* SLP_EN is write-only; SCI_EN stays set. */
		r->pm1_cnt = (uint16_t)((r->pm1_cnt & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN);
		break;
	case 6:
		if (data[0] == ACPI_RESET_VALUE)
			vm_stop_request(pm->stop, STOP_RESET, 0);
		break;
	default:
		break;
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->regs.pm1_sts |= ACPI_PM1_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_set_sleep(struct acpi_pm *pm, void (*sleep)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&pm->lock);
	pm->sleep = sleep;
	pm->sleep_opaque = opaque;
	pthread_mutex_unlock(&pm->lock);
}

bool acpi_pm_rtc_alarm(struct acpi_pm *pm)
{
	bool wake;

	pthread_mutex_lock(&pm->lock);
	pm->regs.pm1_sts |= ACPI_PM1_RTC;
	wake = pm->regs.pm1_en & ACPI_PM1_RTC;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return wake;
}

void acpi_pm_woke(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->regs.pm1_sts |= ACPI_PM1_WAK;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_set_sci(struct acpi_pm *pm, struct irq_line sci)
{
	pthread_mutex_lock(&pm->lock);
	pm->sci = sci;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void regs_power_on(struct acpi_pm_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->pm1_cnt = PM1_CNT_SCI_EN;
}

void acpi_pm_init(struct acpi_pm *pm, struct vm_stop *stop)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->stop = stop;
	regs_power_on(&pm->regs);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

/* ---- save, restore, reset ---- */

/*
 * 1: PM1 status, enable, control.  2: the same fields; status bits other
 * than PWRBTN_STS and WAK_STS are refused, and the SCI is driven from them.
 * 3: RTC_STS too.
 */
#define ACPI_PM_STATE_VERSION	3

int acpi_pm_save(const struct acpi_pm *pm, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&pm->lock;

	pthread_mutex_lock(lock);
	state_put_u16(w, pm->regs.pm1_sts);
	state_put_u16(w, pm->regs.pm1_en);
	state_put_u16(w, pm->regs.pm1_cnt);
	pthread_mutex_unlock(lock);
	return w->err;
}

int acpi_pm_restore(struct acpi_pm *pm, struct state_reader *r, uint16_t version)
{
	struct acpi_pm_regs n;

	if (version < 1 || version > ACPI_PM_STATE_VERSION)
		state_reader_fail(r);
	n.pm1_sts = state_get_u16(r);
	n.pm1_en = state_get_u16(r);
	n.pm1_cnt = state_get_u16(r);
	/* SCI_EN always reads set and SLP_EN is write-only: never stored otherwise. */
	if ((n.pm1_cnt & (PM1_CNT_SCI_EN | PM1_CNT_SLP_EN)) != PM1_CNT_SCI_EN)
		state_reader_fail(r);
	/* No version-2 device sets other status bits; version 3 adds RTC_STS. */
	if (version >= 2 && (n.pm1_sts & ~PM1_STS_KNOWN))
		state_reader_fail(r);
	if (version == 2 && (n.pm1_sts & ACPI_PM1_RTC))
		state_reader_fail(r);
	/* The record is this device's alone: bytes left over are corruption too. */
	if (!r->err && state_reader_finish(r))
		state_reader_fail(r);

	pthread_mutex_lock(&pm->lock);
	if (r->err)
		regs_power_on(&pm->regs);
	else
		pm->regs = n;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return r->err;
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	regs_power_on(&pm->regs);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

VM_DEVICE_OPS_DEFINE(acpi_pm, "acpi-pm", ACPI_PM_STATE_VERSION);
