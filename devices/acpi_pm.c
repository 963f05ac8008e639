/*
 * The ACPI fixed-hardware registers the FADT announces: PM1a status/enable,
 * PM1a control (SLP_TYP + SLP_EN = power off) and the reset register.
 * SCI_EN reads as set: the machine is always in ACPI mode.
 */
#include <string.h>

#include "kvmrun/devices.h"

#define PM1_CNT_SCI_EN		0x0001
#define PM1_CNT_SLP_TYP_SHIFT	10
#define PM1_CNT_SLP_TYP_MASK	0x1c00
#define PM1_CNT_SLP_EN		0x2000
#define PM1_STS_WAK		0x8000

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
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_init(struct acpi_pm *pm, struct vm_stop *stop)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->stop = stop;
	pm->regs.pm1_cnt = PM1_CNT_SCI_EN;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}
