/* Test-guest runtime: serial output, printf, boot info, IDT/TSS, exceptions, SMP start. */
#include "guest.h"

#define PVH_MAGIC	0x336ec578u
#define MB_MAGIC	0x2badb002u

extern uint32_t boot_magic, boot_info;
extern uint64_t gdt_tss[2];
extern const uint8_t isr_stubs[];
extern const uint8_t user_return_point[];
__attribute__((noreturn)) void user_resume(long ret);
void guest_start_bsp(void);
void guest_start_ap(unsigned index);
void isr_dispatch(struct frame *f);

/* ---- small libc ---- */

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (size_t)-1);
}

/* ---- serial output ---- */

static volatile int print_lock;

void lock_acquire(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			pause();
}

void lock_release(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void serial_putc(char c)
{
	/* Wait for THR empty, as a driver for real hardware must. */
	while (!(inb(COM1 + 5) & 0x20))
		pause();
	outb(COM1, (uint8_t)c);
}

void puts_raw(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

struct outbuf { char *p; size_t size, len; };

static void put(struct outbuf *o, char c)
{
	if (o->len + 1 < o->size)
		o->p[o->len] = c;
	o->len++;
}

static void put_num(struct outbuf *o, uint64_t v, unsigned base, int width, char pad, bool neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';
		const char *s;
		uint64_t u;
		int64_t d;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			d = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(&o, d < 0 ? (uint64_t)-d : (uint64_t)d, 10, width, pad, d < 0);
			break;
		case 'u':
		case 'x':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			put_num(&o, u, *fmt == 'u' ? 10 : 16, width, pad, false);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 's':
			for (s = va_arg(ap, const char *); s && *s; s++)
				put(&o, *s);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '?');
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lock_acquire(&print_lock);
	puts_raw(buf);
	lock_release(&print_lock);
	return n;
}

/* ---- ending ---- */

void guest_exit(uint32_t value)
{
	outl(DEBUG_EXIT_PORT, value);
	/* Without a debug-exit device: stop here. */
	for (;;) {
		cli();
		hlt();
	}
}

void pass(void)
{
	printf("PASS\n");
	guest_exit(GUEST_PASS);
}

void fail(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("FAIL: %s\n", buf);
	guest_exit(GUEST_FAIL);
}

/* ---- boot information ---- */

struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct pvh_memmap { uint64_t addr, size; uint32_t type, reserved; };

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
} __attribute__((packed));
struct mb_mmap { uint32_t size; uint64_t addr, len; uint32_t type; } __attribute__((packed));

/* EAX is undefined at a PVH entry (QEMU's PVH ROM leaves the multiboot magic there): look at EBX first. */
static bool is_pvh(void)
{
	return boot_info && ((struct pvh_start_info *)(uint64_t)boot_info)->magic == PVH_MAGIC;
}

static bool is_multiboot(void)
{
	return !is_pvh() && boot_magic == MB_MAGIC;
}

const char *boot_protocol(void)
{
	if (is_pvh())
		return "pvh";
	return is_multiboot() ? "multiboot" : "unknown";
}

const char *boot_cmdline(void)
{
	const char *c = "";

	if (is_multiboot()) {
		struct mb_info *mb = (struct mb_info *)(uint64_t)boot_info;

		if (!(mb->flags & (1u << 2)) || !mb->cmdline)
			return "";
		c = (const char *)(uint64_t)mb->cmdline;
		/* Multiboot loaders put the kernel's name first. */
		while (*c && *c != ' ')
			c++;
		while (*c == ' ')
			c++;
	} else if (is_pvh()) {
		struct pvh_start_info *si = (struct pvh_start_info *)(uint64_t)boot_info;

		if (si->cmdline_paddr)
			c = (const char *)si->cmdline_paddr;
	}
	return c;
}

bool cmdline_get(const char *key, char *buf, size_t len)
{
	const char *c = boot_cmdline();
	size_t klen = strlen(key);

	while (*c) {
		while (*c == ' ')
			c++;
		if (!strncmp(c, key, klen) && c[klen] == '=') {
			size_t n = 0;

			c += klen + 1;
			while (*c && *c != ' ' && n + 1 < len)
				buf[n++] = *c++;
			buf[n] = 0;
			return true;
		}
		while (*c && *c != ' ')
			c++;
	}
	return false;
}

bool cmdline_u64(const char *key, uint64_t *v)
{
	char buf[32];
	uint64_t x = 0;

	if (!cmdline_get(key, buf, sizeof(buf)) || !buf[0])
		return false;
	for (char *p = buf; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return true;
}

unsigned boot_memmap(struct mmap_entry *e, unsigned max)
{
	unsigned n = 0;

	if (is_multiboot()) {
		struct mb_info *mb = (struct mb_info *)(uint64_t)boot_info;
		uint64_t p, end;

		if (!(mb->flags & (1u << 6)))
			return 0;
		p = mb->mmap_addr;
		end = p + mb->mmap_length;
		while (p < end && n < max) {
			struct mb_mmap *m = (struct mb_mmap *)p;

			e[n++] = (struct mmap_entry){ m->addr, m->len, m->type };
			p += m->size + 4;
		}
	} else if (is_pvh()) {
		struct pvh_start_info *si = (struct pvh_start_info *)(uint64_t)boot_info;
		struct pvh_memmap *m = (struct pvh_memmap *)si->memmap_paddr;

		for (; n < si->memmap_entries && n < max; n++)
			e[n] = (struct mmap_entry){ m[n].addr, m[n].size, m[n].type };
	}
	return n;
}

/* ---- IDT, TSS, exceptions ---- */

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2, reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap;
	/*
	 * All ports open to CPL3.  IOPL 3 alone is not enough on PVM hosts: user
	 * mode runs on the hardware with the host's IOPL, and KVM's emulator then
	 * consults this bitmap.  The byte after it must be all-ones.
	 */
	uint8_t iobitmap[65536 / 8];
	uint8_t iobitmap_end;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static irq_handler_t handlers[256];
struct tss64 tss __attribute__((aligned(16)));

void idt_set(unsigned vec, irq_handler_t h)
{
	uint64_t stub = (uint64_t)isr_stubs + vec * 16;

	handlers[vec] = h;
	idt[vec] = (struct idt_entry){
		.off0 = (uint16_t)stub, .sel = 0x18, .ist = 0,
		.type = 0x8e,		/* present, DPL 0, 64-bit interrupt gate */
		.off1 = (uint16_t)(stub >> 16), .off2 = (uint32_t)(stub >> 32),
	};
}

void idt_load(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) p = {
		sizeof(idt) - 1, (uint64_t)idt,
	};
	__asm__ volatile("lidt %0" :: "m"(p));
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?", "#TS", "#NP",
	"#SS", "#GP", "#PF", "?", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void unexpected(struct frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	fail("unexpected %s %lu at rip 0x%lx (cpl %lu, error 0x%lx, cr2 0x%lx)",
	     f->vec < 32 && exc_names[f->vec] ? exc_names[f->vec] : "interrupt",
	     f->vec, f->rip, f->cs & 3, f->err, cr2);
}

void isr_dispatch(struct frame *f)
{
	/* The way back from user_call(): ud2 at user_return_point in CPL3. */
	if (f->vec == 6 && (f->cs & 3) == 3 && f->rip == (uint64_t)user_return_point)
		user_resume((long)f->rax);
	if (handlers[f->vec])
		handlers[f->vec](f);
	else if (f->vec == 0xff)
		return;		/* spurious LAPIC interrupt: no EOI */
	else
		unexpected(f);
}

static void tss_init(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	tss.iomap = __builtin_offsetof(struct tss64, iobitmap);
	tss.iobitmap_end = 0xff;
	gdt_tss[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
		     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt_tss[1] = base >> 32;
	__asm__ volatile("ltr %w0" :: "r"(0x30));
}

/* ---- CPL3 for good ---- */

static void user_fn_returned(void)
{
	fail("a user_jump() function returned");
}

void user_jump(void (*fn)(long), long arg, void *stack_top, bool irqs)
{
	/* A call frame's alignment, with a return address that reports the mistake. */
	uint64_t *sp = (uint64_t *)((uint64_t)stack_top & ~15ULL) - 1;
	uint64_t rsp;

	*sp = (uint64_t)user_fn_returned;
	if (irqs) {
		__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
		tss.rsp0 = (rsp - 256) & ~15ULL;	/* below this frame, which is never returned to */
	}
	__asm__ volatile("pushq $0x23\n\t"		/* user data */
			 "pushq %0\n\t"
			 "pushq %1\n\t"
			 "pushq $0x2b\n\t"		/* user code, 64-bit */
			 "pushq %2\n\t"
			 "iretq"
			 :: "r"(sp), "r"(irqs ? 0x3202ULL : 0x3002ULL), "r"(fn), "D"(arg) : "memory");
	__builtin_unreachable();
}

/* ---- SMP ---- */

static void delay_loop(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		pause();
}

void smp_start_aps(void)
{
	memcpy((void *)AP_TRAMPOLINE, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
	lapic_write(LAPIC_ICR_HI, 0);
	/* INIT to all but self, then two start-up IPIs pointing at the trampoline page. */
	lapic_write(LAPIC_ICR_LO, 0x000c4500);
	delay_loop(1000);
	lapic_write(LAPIC_ICR_LO, 0x000c4600 | (AP_TRAMPOLINE >> 12));
	delay_loop(200);
	lapic_write(LAPIC_ICR_LO, 0x000c4600 | (AP_TRAMPOLINE >> 12));
}

__attribute__((weak)) void test_ap_main(unsigned index)
{
	(void)index;
}

void guest_start_ap(unsigned index)
{
	idt_load();
	test_ap_main(index);
	for (;;) {
		cli();
		hlt();
	}
}

void guest_start_bsp(void)
{
	for (unsigned v = 0; v < 32; v++)
		idt_set(v, NULL);
	idt_load();
	tss_init();
	if (!is_multiboot() && !is_pvh())
		fail("unknown boot protocol (eax 0x%x, ebx 0x%x)", boot_magic, boot_info);
	test_main();
	pass();
}
