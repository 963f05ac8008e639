/*
 * CMOS RTC: reads the date and time (BCD, 24-hour) with the usual
 * update-in-progress dance and prints it as ISO 8601 UTC; the test compares
 * it with the host's clock.  Then it sets the clock a year ahead and checks
 * the RTC keeps that, and that CMOS RAM holds a byte.
 */
#include "guest.h"

static unsigned bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 15);
}

static void read_time(unsigned t[6])
{
	while (cmos(0x0a) & 0x80)
		pause();
	t[0] = bcd(cmos(0x32)) * 100 + bcd(cmos(0x09));
	t[1] = bcd(cmos(0x08));
	t[2] = bcd(cmos(0x07));
	t[3] = bcd(cmos(0x04));
	t[4] = bcd(cmos(0x02));
	t[5] = bcd(cmos(0x00));
}

void test_main(void)
{
	unsigned t[6], u[6];

	check(!(cmos(0x0b) & 0x04) && (cmos(0x0b) & 0x02), "RTC not in BCD 24-hour mode");
	check(cmos(0x0d) & 0x80, "RTC battery flag (register D) is clear");
	read_time(t);
	printf("rtc: %04u-%02u-%02uT%02u:%02u:%02uZ\n", t[0], t[1], t[2], t[3], t[4], t[5]);

	/* Set the year one ahead, with SET held while writing. */
	cmos_write(0x0b, cmos(0x0b) | 0x80);
	cmos_write(0x09, (uint8_t)((((t[0] + 1) % 100) / 10) << 4 | ((t[0] + 1) % 10)));
	cmos_write(0x0b, cmos(0x0b) & 0x7f);
	read_time(u);
	check(u[0] == t[0] + 1, "RTC year %u after setting %u", u[0], t[0] + 1);

	cmos_write(0x40, 0x5a);
	check(cmos(0x40) == 0x5a, "CMOS RAM lost a byte");
}
