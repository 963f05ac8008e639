/*
 * A guest that dirties its RAM as fast as it can and checks it, for live
 * migration: each pass P writes every 4 KiB page I of mb= MiB with words
 * derived from (I, P) and records the page's checksum and pass in arrays
 * elsewhere; after every pass all pages are checked word by word against
 * their pass and checksum.  A page the migration lost or sent stale shows
 * up as "FAIL: page I word W expected X got Y".  Runs in CPL3 (native on
 * PVM hosts); with cpus=N every vCPU writes and checks its share.
 *
 * Command line: mb=N (default 64, at most 512), passes=N (PASS after pass N;
 * 0, the default, runs forever), cpus=N (vCPUs, default 1), spin=N (pause
 * loops after each page written, to slow the dirty rate; default 0),
 * corrupt_at=N (flip a bit of page 5 after writing pass N: the check must fail).
 * Prints "pass N verified (M MiB)" after each pass.
 */
#include "guest.h"

#define PAGE		4096
#define WORDS		(PAGE / 8)
#define MAX_MB		512
#define MAX_PAGES	(MAX_MB * 256)
#define STACK_SIZE	16384
#define K1		0x9e3779b97f4a7c15ULL

extern uint8_t __image_end[];

static uint64_t sums[MAX_PAGES];
static uint32_t gens[MAX_PAGES];
static uint8_t user_stacks[MAX_CPUS][STACK_SIZE] __attribute__((aligned(16)));
static uint64_t mb = 64, passes, cpus = 1, spin, corrupt_at;
static uint64_t base, npages;
static volatile unsigned online = 1;
static volatile uint64_t barrier_count, barrier_gen;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t page_seed(uint64_t page, uint64_t pass)
{
	return mix((page << 32) ^ pass ^ K1);
}

static inline uint64_t word_at(uint64_t seed, uint64_t w)
{
	return seed ^ (w * K1) ^ (w << 56);
}

/* Every vCPU in; the last one to arrive lets them all go. */
static void barrier(void)
{
	uint64_t gen = barrier_gen;

	if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_SEQ_CST) == cpus) {
		barrier_count = 0;
		__atomic_store_n(&barrier_gen, gen + 1, __ATOMIC_SEQ_CST);
	} else {
		while (__atomic_load_n(&barrier_gen, __ATOMIC_SEQ_CST) == gen)
			pause();
	}
}

static void write_pages(uint64_t first, uint64_t end, uint64_t pass)
{
	for (uint64_t i = first; i < end; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(base + i * PAGE);
		uint64_t seed = page_seed(i, pass), sum = 0;

		for (uint64_t w = 0; w < WORDS; w++) {
			uint64_t v = word_at(seed, w);

			p[w] = v;
			sum += v;
		}
		sums[i] = sum;
		gens[i] = (uint32_t)pass;
		for (uint64_t s = 0; s < spin; s++)
			pause();
	}
}

static void verify_pages(uint64_t first, uint64_t end, uint64_t pass)
{
	for (uint64_t i = first; i < end; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(base + i * PAGE);
		uint64_t seed, sum = 0;

		check(gens[i] == (uint32_t)pass, "page %lu at 0x%lx: pass %u recorded, expected %lu", i,
		      base + i * PAGE, gens[i], pass);
		seed = page_seed(i, pass);
		for (uint64_t w = 0; w < WORDS; w++) {
			uint64_t v = p[w];

			check(v == word_at(seed, w), "page %lu (0x%lx) word %lu expected 0x%lx got 0x%lx (pass %lu)",
			      i, base + i * PAGE, w, word_at(seed, w), v, pass);
			sum += v;
		}
		check(sum == sums[i], "page %lu (0x%lx) checksum expected 0x%lx got 0x%lx (pass %lu)", i,
		      base + i * PAGE, sums[i], sum, pass);
	}
}

static void dirty(long cpu)
{
	uint64_t share = (npages + cpus - 1) / cpus;
	uint64_t first = (uint64_t)cpu * share, end = first + share;

	if (end > npages)
		end = npages;
	if (first > end)
		first = end;
	for (uint64_t n = 1;; n++) {
		write_pages(first, end, n);
		if (n == corrupt_at && cpu == 0)	/* the checker's own test: it must notice */
			((volatile uint64_t *)(base + 5 * PAGE))[3] ^= 1ULL << 40;
		barrier();
		verify_pages(first, end, n);
		barrier();
		if (cpu == 0) {
			printf("pass %lu verified (%lu MiB)\n", n, mb);
			if (n == passes)
				pass();
		}
	}
}

void test_ap_main(unsigned index)
{
	if (index >= cpus)
		return;
	__atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
	user_jump(dirty, (long)index, user_stacks[index] + STACK_SIZE, false);
}

/* The region must be RAM: inside one usable entry of the memory map. */
static bool is_ram(uint64_t start, uint64_t len)
{
	struct mmap_entry e[32];
	unsigned n = boot_memmap(e, 32);

	for (unsigned i = 0; i < n; i++)
		if (e[i].type == 1 && e[i].addr <= start && start + len <= e[i].addr + e[i].size)
			return true;
	return false;
}

void test_main(void)
{
	uint64_t start;

	cmdline_u64("mb", &mb);
	cmdline_u64("passes", &passes);
	cmdline_u64("cpus", &cpus);
	cmdline_u64("spin", &spin);
	cmdline_u64("corrupt_at", &corrupt_at);
	check(mb >= 1 && mb <= MAX_MB, "mb=%lu: expected 1 to %u", mb, MAX_MB);
	check(cpus >= 1 && cpus <= MAX_CPUS, "cpus=%lu: expected 1 to %u", cpus, MAX_CPUS);
	base = ((uint64_t)__image_end + (2 << 20) - 1) & ~((2ULL << 20) - 1);
	npages = mb * 256;
	check(is_ram(base, mb << 20), "%lu MiB at 0x%lx is not all RAM: give the guest more --memory", mb, base);

	lapic_write(LAPIC_SVR, 0x1ff);
	if (cpus > 1) {
		smp_start_aps();
		start = rdtsc();
		while (online < cpus && rdtsc() - start < 90000000000ULL)
			pause();
		check(online == cpus, "%u of %lu vCPUs came up", online, cpus);
	}
	printf("dirtymem: %lu MiB at 0x%lx, %lu vCPUs writing in CPL3\n", mb, base, cpus);
	user_jump(dirty, 0, user_stacks[0] + STACK_SIZE, false);
}
