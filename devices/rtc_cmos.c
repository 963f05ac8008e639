/*
 * MC146818 real-time clock and CMOS memory behind ports 0x70 (index, bit 7
 * masks NMIs) and 0x71 (data).  The clock is the host's UTC time plus an
 * offset the guest sets by writing the time with SET held in register B.
 * No periodic, alarm or update interrupts: register C reads as 0.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmrun/devices.h"

#define REG_SEC		0x00
#define REG_MIN		0x02
#define REG_HOUR	0x04
#define REG_WDAY	0x06
#define REG_MDAY	0x07
#define REG_MON		0x08
#define REG_YEAR	0x09
#define REG_A		0x0a
#define REG_B		0x0b
#define REG_C		0x0c
#define REG_D		0x0d
#define REG_CENTURY	0x32

#define A_DIVIDER_32K	0x20
#define A_RATE_1K	0x06
#define A_UIP		0x80
#define B_SET		0x80
#define B_IRQ_ENABLES	0x78	/* PIE, AIE, UIE, SQWE */
#define B_BINARY	0x04
#define B_24H		0x02
#define D_VRT		0x80
#define INDEX_NMI_MASK	0x80

/*
 * Further from the host's time than any date the registers can express
 * (binary year and century up to 255): a larger saved offset is corrupt, and
 * host time plus it cannot overflow.
 */
#define RTC_OFFSET_MAX	(INT64_C(1) << 40)

static bool is_clock_reg(unsigned r)
{
	return r <= REG_YEAR || r == REG_CENTURY;
}

static uint8_t to_reg(const struct rtc_regs *r, unsigned v)
{
	return (r->cmos[REG_B] & B_BINARY) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_reg(const struct rtc_regs *r, uint8_t v)
{
	return (r->cmos[REG_B] & B_BINARY) ? v : (unsigned)((v >> 4) * 10 + (v & 0x0f));
}

static uint8_t hour_to_reg(const struct rtc_regs *r, unsigned h)
{
	unsigned h12;

	if (r->cmos[REG_B] & B_24H)
		return to_reg(r, h);
	h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_reg(r, h12) | (h >= 12 ? 0x80 : 0));
}

/* Fills the clock registers from host time + offset. */
static void latch_time(struct rtc_cmos *rtc)
{
	struct rtc_regs *r = &rtc->regs;
	time_t t = (time_t)(rtc->now() + r->offset);
	struct tm tm;

	gmtime_r(&t, &tm);
	r->cmos[REG_SEC] = to_reg(r, (unsigned)tm.tm_sec);
	r->cmos[REG_MIN] = to_reg(r, (unsigned)tm.tm_min);
	r->cmos[REG_HOUR] = hour_to_reg(r, (unsigned)tm.tm_hour);
	r->cmos[REG_WDAY] = to_reg(r, (unsigned)tm.tm_wday + 1);
	r->cmos[REG_MDAY] = to_reg(r, (unsigned)tm.tm_mday);
	r->cmos[REG_MON] = to_reg(r, (unsigned)tm.tm_mon + 1);
	r->cmos[REG_YEAR] = to_reg(r, (unsigned)(tm.tm_year % 100));
	r->cmos[REG_CENTURY] = to_reg(r, (unsigned)(1900 + tm.tm_year) / 100);
}

/* The guest set the clock: remember how far its time is from the host's. */
static void store_time(struct rtc_cmos *rtc)
{
	struct rtc_regs *r = &rtc->regs;
	struct tm tm = { 0 };
	unsigned hour = from_reg(r, r->cmos[REG_HOUR] & 0x7f);

	if (!(r->cmos[REG_B] & B_24H)) {
		hour %= 12;
		if (r->cmos[REG_HOUR] & 0x80)
			hour += 12;
	}
	tm.tm_sec = (int)from_reg(r, r->cmos[REG_SEC]);
	tm.tm_min = (int)from_reg(r, r->cmos[REG_MIN]);
	tm.tm_hour = (int)hour;
	tm.tm_mday = (int)from_reg(r, r->cmos[REG_MDAY]);
	tm.tm_mon = (int)from_reg(r, r->cmos[REG_MON]) - 1;
	tm.tm_year = (int)(from_reg(r, r->cmos[REG_CENTURY]) * 100 +
			   from_reg(r, r->cmos[REG_YEAR])) - 1900;
	r->offset = (int64_t)timegm(&tm) - rtc->now();
}

void rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc_cmos *rtc = opaque;
	struct rtc_regs *r = &rtc->regs;
	unsigned idx;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 0) {
		/* No NMIs come from here, so their mask bit is not kept. */
		if (is_write)
			r->index = data[0] & (uint8_t)~INDEX_NMI_MASK;
		else
			memset(data, 0xff, len);
		pthread_mutex_unlock(&rtc->lock);
		return;
	}
	idx = r->index;
	if (!is_write) {
		memset(data, 0, len);
		if (is_clock_reg(idx) && !(r->cmos[REG_B] & B_SET))
			latch_time(rtc);
		data[0] = r->cmos[idx];
		if (idx == REG_C)
			r->cmos[REG_C] = 0;	/* reading C acknowledges its flags */
		pthread_mutex_unlock(&rtc->lock);
		return;
	}
	switch (idx) {
	case REG_A:
		r->cmos[REG_A] = data[0] & 0x7f;	/* UIP is read-only */
		break;
	case REG_B:
		if ((r->cmos[REG_B] & B_SET) && !(data[0] & B_SET)) {
			r->cmos[REG_B] = data[0];
			store_time(rtc);
		} else {
			if (!(r->cmos[REG_B] & B_SET) && (data[0] & B_SET))
				latch_time(rtc);	/* freeze the current time for editing */
			r->cmos[REG_B] = data[0];
		}
		break;
	case REG_C:
	case REG_D:
		break;		/* read-only */
	default:
		r->cmos[idx] = data[0];
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
}

static int64_t host_now(void)
{
	return (int64_t)time(NULL);
}

static void regs_power_on(struct rtc_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->cmos[REG_A] = A_DIVIDER_32K | A_RATE_1K;
	r->cmos[REG_B] = B_24H;
	r->cmos[REG_D] = D_VRT;
}

void rtc_cmos_init(struct rtc_cmos *rtc, int64_t (*now)(void))
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = now ? now : host_now;
	regs_power_on(&rtc->regs);
}

void rtc_cmos_destroy(struct rtc_cmos *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

/* ---- save, restore, reset ---- */

#define RTC_STATE_VERSION	1

static bool regs_valid(const struct rtc_regs *r)
{
	/* UIP never sets, C has no flags to show, D always reports valid RAM and time. */
	return r->index < CMOS_SIZE && !(r->cmos[REG_A] & A_UIP) && r->cmos[REG_C] == 0 &&
	       r->cmos[REG_D] == D_VRT && r->offset >= -RTC_OFFSET_MAX &&
	       r->offset <= RTC_OFFSET_MAX;
}

int rtc_cmos_save(const struct rtc_cmos *rtc, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&rtc->lock;
	const struct rtc_regs *r = &rtc->regs;

	pthread_mutex_lock(lock);
	state_put_u8(w, r->index);
	state_put_bytes(w, r->cmos, CMOS_SIZE);
	/* The offset, not a time: the restored clock runs on from the host's. */
	state_put_u64(w, (uint64_t)r->offset);
	pthread_mutex_unlock(lock);
	return w->err;
}

int rtc_cmos_restore(struct rtc_cmos *rtc, struct state_reader *r, uint16_t version)
{
	struct rtc_regs n = { 0 };

	if (version != RTC_STATE_VERSION)
		state_reader_fail(r);
	n.index = state_get_u8(r);
	state_get_bytes(r, n.cmos, CMOS_SIZE);
	n.offset = (int64_t)state_get_u64(r);
	/* The record is this device's alone: bytes left over are corruption too. */
	if (!r->err && (state_reader_finish(r) || !regs_valid(&n)))
		state_reader_fail(r);

	pthread_mutex_lock(&rtc->lock);
	if (r->err)
		regs_power_on(&rtc->regs);
	else
		rtc->regs = n;
	pthread_mutex_unlock(&rtc->lock);
	return r->err;
}

/*
 * What the chip's RESET pin does (MC146818 datasheet): the interrupt enables
 * and flags clear; the battery-backed clock, its format and the RAM stay, as
 * a guest that set the time and rebooted expects.
 */
void rtc_cmos_reset(struct rtc_cmos *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->regs.index = 0;
	rtc->regs.cmos[REG_B] &= (uint8_t)~B_IRQ_ENABLES;
	rtc->regs.cmos[REG_C] = 0;
	pthread_mutex_unlock(&rtc->lock);
}

VM_DEVICE_OPS_DEFINE(rtc_cmos, "rtc-cmos", RTC_STATE_VERSION);
