/*
 * MC146818 real-time clock and CMOS memory behind ports 0x70 (index, bit 7
 * masks NMIs) and 0x71 (data).  The clock is the host's UTC time plus an
 * offset the guest sets by writing the time with SET held in register B.
 * The once-a-second update is the host's second boundary: UIP reads set from
 * 244 us before it until the update cycle is over, and register C collects
 * the alarm (AF) and update-ended (UF) flags of the seconds that passed,
 * raising IRQ 8 where AIE or UIE enable them.  No periodic interrupt (PF).
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
#define A_DIVIDER_MASK	0x70
#define B_SET		0x80
#define B_AIE		0x20
#define B_UIE		0x10
#define B_IRQ_ENABLES	0x78	/* PIE, AIE, UIE, SQWE */
#define C_IRQF		0x80
#define C_AF		0x20
#define C_UF		0x10
#define REG_SEC_ALARM	0x01
#define REG_MIN_ALARM	0x03
#define REG_HOUR_ALARM	0x05
#define ALARM_ANY	0xc0	/* the two top bits set: "don't care" */

#define NS_PER_S	INT64_C(1000000000)
/* MC146818A with a 32.768 kHz time base: UIP rises 244 us before the update, which takes 1984 us. */
#define UIP_BEFORE_NS	INT64_C(244000)
#define UPDATE_NS	INT64_C(1984000)
#define DAY_S		86400
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

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* The guest's clock, in whole seconds since the epoch. */
static int64_t guest_seconds(struct rtc_cmos *rtc)
{
	return floor_div(rtc->now(), NS_PER_S) + rtc->regs.offset;
}

/* Fills the clock registers from host time + offset. */
static void latch_time(struct rtc_cmos *rtc)
{
	struct rtc_regs *r = &rtc->regs;
	time_t t = (time_t)guest_seconds(rtc);
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
	r->offset = (int64_t)timegm(&tm) - floor_div(rtc->now(), NS_PER_S);
	/* The jump to the new time is no update: flags count from here. */
	r->flags_s = guest_seconds(rtc);
}

/* Does second t of the guest's clock match the alarm registers? */
static bool alarm_matches(const struct rtc_regs *r, int64_t t)
{
	int64_t sod = t - floor_div(t, DAY_S) * DAY_S;
	uint8_t s = r->cmos[REG_SEC_ALARM], m = r->cmos[REG_MIN_ALARM], h = r->cmos[REG_HOUR_ALARM];
	unsigned hour;

	if ((s & ALARM_ANY) != ALARM_ANY && from_reg(r, s) != (unsigned)(sod % 60))
		return false;
	if ((m & ALARM_ANY) != ALARM_ANY && from_reg(r, m) != (unsigned)(sod / 60 % 60))
		return false;
	if ((h & ALARM_ANY) == ALARM_ANY)
		return true;
	hour = from_reg(r, h & 0x7f);
	if (!(r->cmos[REG_B] & B_24H))
		hour = hour % 12 + ((h & 0x80) ? 12 : 0);
	return hour == (unsigned)(sod / 3600);
}

/* The first second after t the alarm matches, or INT64_MAX: it repeats daily if at all. */
static int64_t next_alarm(const struct rtc_regs *r, int64_t t)
{
	for (int64_t i = 1; i <= DAY_S; i++)
		if (alarm_matches(r, t + i))
			return t + i;
	return INT64_MAX;
}

/* Is the clock updating once a second (normal divider, SET clear)? */
static bool updating(const struct rtc_regs *r)
{
	return (r->cmos[REG_A] & A_DIVIDER_MASK) == A_DIVIDER_32K && !(r->cmos[REG_B] & B_SET);
}

/* C's flags for the updates since flags_s, and IRQ 8 from them; lock held. */
static void update_flags(struct rtc_cmos *rtc)
{
	struct rtc_regs *r = &rtc->regs;
	int64_t now = guest_seconds(rtc);

	if (updating(r) && now > r->flags_s) {
		r->cmos[REG_C] |= C_UF;
		if (next_alarm(r, r->flags_s) <= now)
			r->cmos[REG_C] |= C_AF;
	}
	r->flags_s = now;
	if (r->cmos[REG_C] & r->cmos[REG_B] & (C_AF | C_UF))
		r->cmos[REG_C] |= C_IRQF;
	irq_line_set(&rtc->irq, (r->cmos[REG_C] & C_IRQF) != 0);
}

static void changed(struct rtc_cmos *rtc)
{
	if (rtc->changed)
		rtc->changed(rtc->changed_opaque);
}

/* UIP: from 244 us before each second's update to the update's end. */
static bool update_in_progress(struct rtc_cmos *rtc)
{
	int64_t frac = rtc->now() % NS_PER_S;

	if (frac < 0)
		frac += NS_PER_S;
	return updating(&rtc->regs) && (frac >= NS_PER_S - UIP_BEFORE_NS || frac < UPDATE_NS);
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
		if (idx == REG_C)
			update_flags(rtc);
		data[0] = r->cmos[idx];
		if (idx == REG_A && update_in_progress(rtc))
			data[0] |= A_UIP;
		if (idx == REG_C) {
			/* Reading C acknowledges its flags and drops IRQ 8. */
			r->cmos[REG_C] = 0;
			irq_line_set(&rtc->irq, 0);
		}
		pthread_mutex_unlock(&rtc->lock);
		return;
	}
	switch (idx) {
	case REG_A:
		update_flags(rtc);
		r->cmos[REG_A] = data[0] & 0x7f;	/* UIP is read-only */
		r->flags_s = guest_seconds(rtc);
		changed(rtc);
		break;
	case REG_B:
		/* Flags up to now under the old enables; the new ones count from here. */
		update_flags(rtc);
		if ((r->cmos[REG_B] & B_SET) && !(data[0] & B_SET)) {
			r->cmos[REG_B] = data[0];
			store_time(rtc);
		} else {
			if (!(r->cmos[REG_B] & B_SET) && (data[0] & B_SET))
				latch_time(rtc);	/* freeze the current time for editing */
			r->cmos[REG_B] = data[0];
		}
		/* A flag already in C raises IRQ 8 the moment its enable is set. */
		update_flags(rtc);
		changed(rtc);
		break;
	case REG_C:
	case REG_D:
		break;		/* read-only */
	case REG_SEC_ALARM: case REG_MIN_ALARM: case REG_HOUR_ALARM:
		update_flags(rtc);
		r->cmos[idx] = data[0];
		changed(rtc);
		break;
	default:
		r->cmos[idx] = data[0];
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
}

int64_t rtc_cmos_next_event(struct rtc_cmos *rtc)
{
	struct rtc_regs *r = &rtc->regs;
	int64_t next = INT64_MAX, now;

	pthread_mutex_lock(&rtc->lock);
	now = guest_seconds(rtc);
	if (updating(r) && (r->cmos[REG_B] & B_UIE))
		next = now + 1;
	if (updating(r) && (r->cmos[REG_B] & B_AIE)) {
		int64_t a = next_alarm(r, now);

		next = a < next ? a : next;
	}
	/* Guest seconds to host nanoseconds: the update is at the host's second boundary. */
	if (next != INT64_MAX)
		next = (next - r->offset) * NS_PER_S;
	pthread_mutex_unlock(&rtc->lock);
	return next;
}

bool rtc_cmos_tick(struct rtc_cmos *rtc)
{
	bool alarm;

	pthread_mutex_lock(&rtc->lock);
	alarm = !(rtc->regs.cmos[REG_C] & C_AF);
	update_flags(rtc);
	alarm = alarm && (rtc->regs.cmos[REG_C] & C_AF);
	pthread_mutex_unlock(&rtc->lock);
	return alarm;
}

void rtc_cmos_connect(struct rtc_cmos *rtc, struct irq_line irq, void (*cb)(void *opaque),
		      void *opaque)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->irq = irq;
	rtc->changed = cb;
	rtc->changed_opaque = opaque;
	irq_line_set(&rtc->irq, (rtc->regs.cmos[REG_C] & C_IRQF) != 0);
	pthread_mutex_unlock(&rtc->lock);
}

static int64_t host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
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
	rtc->regs.flags_s = guest_seconds(rtc);
}

void rtc_cmos_destroy(struct rtc_cmos *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

/* ---- save, restore, reset ---- */

/* 1: index, CMOS bytes, offset.  2: and the second C's flags were last set for. */
#define RTC_STATE_VERSION	2

static bool regs_valid(const struct rtc_regs *r, int64_t guest_now)
{
	/*
	 * UIP is never stored, C has only AF, UF and IRQF, D always reports valid
	 * RAM and time; the flags' second is near the clock (both offsets bounded).
	 */
	return r->index < CMOS_SIZE && !(r->cmos[REG_A] & A_UIP) &&
	       !(r->cmos[REG_C] & ~(C_IRQF | C_AF | C_UF)) && r->cmos[REG_D] == D_VRT &&
	       r->offset >= -RTC_OFFSET_MAX && r->offset <= RTC_OFFSET_MAX &&
	       r->flags_s >= guest_now - 4 * RTC_OFFSET_MAX &&
	       r->flags_s <= guest_now + 4 * RTC_OFFSET_MAX;
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
	state_put_u64(w, (uint64_t)r->flags_s);
	pthread_mutex_unlock(lock);
	return w->err;
}

int rtc_cmos_restore(struct rtc_cmos *rtc, struct state_reader *r, uint16_t version)
{
	struct rtc_regs n = { 0 };

	if (version < 1 || version > RTC_STATE_VERSION)
		state_reader_fail(r);
	n.index = state_get_u8(r);
	state_get_bytes(r, n.cmos, CMOS_SIZE);
	n.offset = (int64_t)state_get_u64(r);
	/* Out of range, the sums with the host's seconds below would overflow. */
	if (n.offset < -RTC_OFFSET_MAX || n.offset > RTC_OFFSET_MAX)
		state_reader_fail(r);
	if (!r->err)
		n.flags_s = floor_div(rtc->now(), NS_PER_S) + n.offset;
	/* Version 1 had no flags: C was always 0, and they count from now. */
	if (version >= 2)
		n.flags_s = (int64_t)state_get_u64(r);
	else if (n.cmos[REG_C])
		state_reader_fail(r);
	/* The record is this device's alone: bytes left over are corruption too. */
	if (!r->err && (state_reader_finish(r) ||
			!regs_valid(&n, floor_div(rtc->now(), NS_PER_S) + n.offset)))
		state_reader_fail(r);

	pthread_mutex_lock(&rtc->lock);
	if (r->err) {
		regs_power_on(&rtc->regs);
		rtc->regs.flags_s = guest_seconds(rtc);
	} else {
		rtc->regs = n;
	}
	irq_line_set(&rtc->irq, (rtc->regs.cmos[REG_C] & C_IRQF) != 0);
	changed(rtc);
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
	rtc->regs.flags_s = guest_seconds(rtc);
	irq_line_set(&rtc->irq, 0);
	changed(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

VM_DEVICE_OPS_DEFINE(rtc_cmos, "rtc-cmos", RTC_STATE_VERSION);
