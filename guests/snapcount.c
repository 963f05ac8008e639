/*
 * A guest to snapshot, restore and migrate: every vCPU counts in CPL3 (native
 * speed on PVM hosts); the BSP counts with interrupts on and takes periodic
 * LAPIC timer ticks, and every period= ticks prints one line
 *
 *   seq S ticks T cpu0 C0 cpu1 C1 ...
 *
 * with S one more than the line before, after checking that every vCPU's
 * counter moved since the last line (else FAIL and debug-exit).  Across a
 * snapshot and restore the lines must go on with the next S, and the counts
 * and ticks from where they were.
 *
 * Command line: cpus=N (vCPUs to expect, default 1), lines=N (PASS after
 * line N; 0, the default, runs forever), period=N (ticks per line, default
 * 10), tick_us=N (LAPIC timer period, default 10000), snap_at=K (after line K
 * write SNAPSHOT_PORT and print what reading it back says: "snapshot: saved",
 * "snapshot: restored" or "snapshot: none").
 */
#include "guest.h"

#define SNAPSHOT_PORT	0x5f0	/* include/kvmrun/snapshot.h */
#define TICK_VEC	0x40
#define STACK_SIZE	16384

struct counter {
	volatile uint64_t n;
	uint8_t pad[56];	/* one cache line per vCPU */
};

static struct counter count[MAX_CPUS] __attribute__((aligned(64)));
static uint8_t user_stacks[MAX_CPUS][STACK_SIZE] __attribute__((aligned(16)));
static volatile uint64_t ticks;
static volatile unsigned online = 1;
static uint64_t cpus = 1, lines, period = 10, tick_us = 10000, snap_at;

static void tick(struct frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

static void ap_count(long index)
{
	volatile uint64_t *n = &count[index].n;

	for (;;)
		(*n)++;
}

static void snapshot_here(void)
{
	uint8_t r;

	outb(SNAPSHOT_PORT, 1);
	r = inb(SNAPSHOT_PORT);
	if (r == 0)
		printf("snapshot: none\n");
	else if (r == 1)
		printf("snapshot: saved\n");
	else if (r == 2)
		printf("snapshot: restored\n");
	else
		fail("snapshot port 0x%x read 0x%x (expected 0, 1 or 2)", SNAPSHOT_PORT, r);
}

/* Builds and prints one report line in a single printf: the serial port sees it whole. */
static void report(uint64_t seq, uint64_t t, const uint64_t *now)
{
	char line[40 + MAX_CPUS * 32];
	int len = snprintf(line, sizeof(line), "seq %lu ticks %lu", seq, t);

	for (unsigned i = 0; i < cpus; i++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " cpu%u %lu", i, now[i]);
	printf("%s\n", line);
}

static void bsp_count(long unused)
{
	volatile uint64_t *n = &count[0].n;
	uint64_t last_ticks = ticks, seq = 0;
	uint64_t prev[MAX_CPUS], now[MAX_CPUS];

	(void)unused;
	for (unsigned i = 0; i < cpus; i++)
		prev[i] = count[i].n;
	for (;;) {
		uint64_t t;

		(*n)++;
		t = ticks;
		if (t - last_ticks < period)
			continue;
		seq++;
		for (unsigned i = 0; i < cpus; i++)
			now[i] = count[i].n;
		for (unsigned i = 0; i < cpus; i++)
			check(now[i] > prev[i], "seq %lu: cpu%u did not count (%lu, before %lu) in %lu ticks",
			      seq, i, now[i], prev[i], t - last_ticks);
		report(seq, t, now);
		for (unsigned i = 0; i < cpus; i++)
			prev[i] = now[i];
		last_ticks = t;
		if (seq == snap_at)
			snapshot_here();
		if (seq == lines)
			pass();
	}
}

void test_ap_main(unsigned index)
{
	if (index >= cpus)
		return;		/* more vCPUs than cpus= says: the BSP notices the count */
	__atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
	user_jump(ap_count, (long)index, user_stacks[index] + STACK_SIZE, false);
}

void test_main(void)
{
	uint64_t start;

	cmdline_u64("cpus", &cpus);
	cmdline_u64("lines", &lines);
	cmdline_u64("period", &period);
	cmdline_u64("tick_us", &tick_us);
	cmdline_u64("snap_at", &snap_at);
	check(cpus >= 1 && cpus <= MAX_CPUS, "cpus=%lu: expected 1 to %u", cpus, MAX_CPUS);
	check(period >= 1, "period= must be at least 1");
	check(tick_us >= 100 && tick_us <= 1000000, "tick_us=%lu: expected 100 to 1000000", tick_us);

	lapic_write(LAPIC_SVR, 0x1ff);
	if (cpus > 1) {
		smp_start_aps();
		start = rdtsc();
		/* APs start in emulated real mode on PVM hosts: allow ~30 s at 3 GHz. */
		while (online < cpus && rdtsc() - start < 90000000000ULL)
			pause();
		check(online == cpus, "%u of %lu vCPUs came up", online, cpus);
	}
	printf("snapcount: %lu vCPUs counting in CPL3, a tick every %lu us, a line every %lu ticks\n",
	       cpus, tick_us, period);

	idt_set(TICK_VEC, tick);
	lapic_write(LAPIC_TIMER_DCR, 0x0b);				/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, TICK_VEC | (1u << 17));		/* periodic */
	lapic_write(LAPIC_TIMER_ICR, (uint32_t)(tick_us * 1000));	/* KVM's APIC bus: 1 GHz */
	user_jump(bsp_count, 0, user_stacks[0] + STACK_SIZE, true);
}
