/* The library of kvmrun's freestanding test guests (64-bit, identity mapped). */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Debug-exit values: kvmrun (and QEMU's isa-debug-exit) exit with (V << 1) | 1. */
#define GUEST_PASS	0x10	/* exit status 33 */
#define GUEST_FAIL	0x11	/* exit status 35 */
#define DEBUG_EXIT_PORT	0xf4

#define COM1		0x3f8
#define MAX_CPUS	64

struct frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vec, err, rip, cs, rflags, rsp, ss;
};

typedef void (*irq_handler_t)(struct frame *f);

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
/* CMOS/RTC register REG through the index port 0x70 and the data port 0x71. */
static inline uint8_t cmos(uint8_t reg) { outb(0x70, reg); return inb(0x71); }
static inline void cmos_write(uint8_t reg, uint8_t v) { outb(0x70, reg); outb(0x71, v); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

/* libc-like pieces */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void puts_raw(const char *s);

/* Ending the test */
__attribute__((noreturn)) void guest_exit(uint32_t value);
__attribute__((noreturn)) void pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);
#define check(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

/* Boot information, whichever protocol delivered it */
const char *boot_protocol(void);	/* "pvh" or "multiboot" */
const char *boot_cmdline(void);		/* without the kernel name multiboot puts first */
bool cmdline_get(const char *key, char *buf, size_t len);
bool cmdline_u64(const char *key, uint64_t *v);
struct mmap_entry { uint64_t addr, size; uint32_t type; };
unsigned boot_memmap(struct mmap_entry *e, unsigned max);

/* Interrupts */
void idt_set(unsigned vec, irq_handler_t h);
void idt_load(void);

/* Local APIC (xAPIC MMIO) */
#define LAPIC_BASE	0xfee00000ULL
#define LAPIC_ID	0x020
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_TIMER_ICR	0x380
#define LAPIC_TIMER_CCR	0x390
#define LAPIC_TIMER_DCR	0x3e0
static inline uint32_t lapic_read(uint32_t off) { return mmio_read32(LAPIC_BASE + off); }
static inline void lapic_write(uint32_t off, uint32_t v) { mmio_write32(LAPIC_BASE + off, v); }
static inline unsigned lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

/* CPL3: runs fn(arg) in user mode (IOPL 3, interrupts off) on stack_top. */
long user_call(long (*fn)(long), long arg, void *stack_top);
/*
 * CPL3 for good: jumps to fn(arg) in user mode (IOPL 3) on stack_top and never
 * comes back; fn must not return (it ends the test or loops).  With irqs,
 * interrupts are on in user mode and land on the current kernel stack (the
 * TSS is the BSP's: APs must pass false).
 */
__attribute__((noreturn)) void user_jump(void (*fn)(long), long arg, void *stack_top, bool irqs);
static inline unsigned current_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* SMP */
extern const uint8_t ap_tramp_start[], ap_tramp_end[];
#define AP_TRAMPOLINE	0x8000
/* Starts all other CPUs (INIT, SIPI, SIPI); they run test_ap_main(index). */
void smp_start_aps(void);

/* Each test provides test_main(); SMP tests also test_ap_main(). */
void test_main(void);
void test_ap_main(unsigned index);

/* Spin lock for output from several CPUs */
void lock_acquire(volatile int *l);
void lock_release(volatile int *l);

#endif
