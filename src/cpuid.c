#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/cpuid.h"
#include "kvmrun/log.h"

#define CPUID_MAX_ENTRIES 512

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

#define ECX	2
#define EDX	3
#define EBX	1

/* QEMU's names for the bits; at most 32 (the config's masks). */
const struct cpuid_feature cpuid_features[] = {
	{ "x2apic", 1, 0, ECX, 21 },		{ "tsc-deadline", 1, 0, ECX, 24 },
	{ "pcid", 1, 0, ECX, 17 },		{ "invpcid", 7, 0, EBX, 10 },
	{ "la57", 7, 0, ECX, 16 },		{ "pku", 7, 0, ECX, 3 },
	{ "umip", 7, 0, ECX, 2 },		{ "rdtscp", 0x80000001, 0, EDX, 27 },
	{ "rdpid", 7, 0, ECX, 22 },		{ "smep", 7, 0, EBX, 7 },
	{ "smap", 7, 0, EBX, 20 },		{ "fsgsbase", 7, 0, EBX, 0 },
	{ "erms", 7, 0, EBX, 9 },		{ "rdrand", 1, 0, ECX, 30 },
	{ "rdseed", 7, 0, EBX, 18 },		{ "popcnt", 1, 0, ECX, 23 },
	{ "movbe", 1, 0, ECX, 22 },		{ "pdpe1gb", 0x80000001, 0, EDX, 26 },
	{ "hypervisor", 1, 0, ECX, 31 },
};
const unsigned cpuid_nr_features = sizeof(cpuid_features) / sizeof(cpuid_features[0]);

_Static_assert(sizeof(cpuid_features) / sizeof(cpuid_features[0]) <= 32, "masks are 32 bits");

int cpuid_feature_find(const char *name)
{
	for (unsigned i = 0; i < cpuid_nr_features; i++) {
		const char *a = cpuid_features[i].name, *b = name;

		/* QEMU reads tsc_deadline as tsc-deadline. */
		while (*a && (*a == *b || (*a == '-' && *b == '_'))) {
			a++;
			b++;
		}
		if (!*a && !*b)
			return (int)i;
	}
	return -ENOENT;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, unsigned reg)
{
	return reg == 0 ? &e->eax : reg == EBX ? &e->ebx : reg == ECX ? &e->ecx : &e->edx;
}

uint32_t cpuid_apply_features(struct kvm_cpuid2 *model, struct kvm_cpuid2 *supported,
			      bool tsc_deadline, uint32_t on, uint32_t off)
{
	uint32_t left_off = 0;

	for (unsigned i = 0; i < cpuid_nr_features; i++) {
		const struct cpuid_feature *f = &cpuid_features[i];
		struct kvm_cpuid_entry2 *e = cpuid_find(model, f->function, f->index);
		struct kvm_cpuid_entry2 *s = cpuid_find(supported, f->function, f->index);
		uint32_t bit = 1u << f->bit;
		bool offered = s && (*entry_reg(s, f->reg) & bit);

		/* KVM's LAPIC emulates the deadline timer; older KVMs say so only by capability. */
		if (!strcmp(f->name, "tsc-deadline"))
			offered |= tsc_deadline;
		if ((off >> i) & 1) {
			if (e)
				*entry_reg(e, f->reg) &= ~bit;
		} else if ((on >> i) & 1) {
			if (e && offered)
				*entry_reg(e, f->reg) |= bit;
			else
				left_off |= 1u << i;
		}
	}
	return left_off;
}

struct kvm_cpuid2 *cpuid_model_create(int kvm_fd, bool pvm, uint32_t on, uint32_t off)
{
	size_t size = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c, *supported;
	uint32_t left_off;

	c = calloc(1, size);
	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		return NULL;
	}
	if (!on && !off) {
		if (pvm)
			cpuid_restrict_for_pvm(c);
		return c;
	}
	/* Asked-for features come from KVM's own table, on top of what PVM leaves. */
	supported = malloc(size);
	if (!supported) {
		free(c);
		return NULL;
	}
	memcpy(supported, c, size);
	if (pvm)
		cpuid_restrict_for_pvm(c);
	left_off = cpuid_apply_features(c, supported,
					ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0,
					on, off);
	free(supported);
	for (unsigned i = 0; i < cpuid_nr_features; i++)
		if ((left_off >> i) & 1)
			log_info("-cpu +%s: KVM on this host does not offer it; the guest goes without",
				 cpuid_features[i].name);
	return c;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

/* N vCPUs are N cores of one package, one thread each; APIC id = vCPU id. */
void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned id, unsigned nr_vcpus)
{
	unsigned core_bits = bits_for(nr_vcpus);
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 1, 0);
	if (e) {
		e->ebx &= 0x0000ffff;
		e->ebx |= (id & 0xff) << 24;
		/* Addressable ids in the package: 8 bits, saturating past 128 vCPUs. */
		e->ebx |= ((1u << core_bits) > 0xff ? 0xffu : (1u << core_bits)) << 16;
		if (nr_vcpus > 1)
			e->edx |= 1u << 28;	/* HTT: the field above is valid */
		else
			e->edx &= ~(1u << 28);
	}
	/* Deterministic cache parameters: cores per package in EAX[31:26]. */
	for (unsigned i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 4 && (e->eax & 0x1f)) {
			e->eax &= 0x03ffffff;
			e->eax |= (((1u << core_bits) - 1) & 0x3f) << 26;
			e->eax &= ~(0xfffu << 14);	/* one thread shares each cache */
		}
	}
	/* Extended topology: level 0 SMT (1 thread), level 1 core (N), then invalid. */
	for (unsigned leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
		for (unsigned sub = 0; sub < 8; sub++) {
			e = cpuid_find(c, leaf, sub);
			if (!e || !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
				break;
			e->edx = id;
			if (sub == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | sub;
			} else if (sub == 1) {
				e->eax = core_bits;
				e->ebx = nr_vcpus;
				e->ecx = (2u << 8) | sub;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = sub;
			}
		}
	}
	e = cpuid_find(c, 0x80000008, 0);
	if (e) {
		e->ecx &= ~0xf0ffu;
		e->ecx |= (nr_vcpus - 1) & 0xff;
		e->ecx |= core_bits << 12;
	}
}

/*
 * PVM runs guest kernel code in KVM's instruction emulator, which lacks
 * xsave/xrstor, cmpxchg16b, clac/stac, popcnt and most SSE4+/AVX encodings.
 * Linux follows CPUID when it picks its instructions, so hide what the
 * emulator cannot run (measured list in PLATFORM.md).  Measured here: PVM
 * honours this for leaves 0xd and 0x80000001 but reports the host's ECX/EDX
 * for leaves 1 and 7 whatever is set (save leaf 1's x2apic and tsc-deadline
 * bits, which follow this table: measured 2026-12-05), which is why Linux
 * guests also get PVM_LINUX_ARGS (boot.h) on their command line.
 */
void cpuid_restrict_for_pvm(struct kvm_cpuid2 *c)
{
	/* Leaf 1 ECX: keep SSE3 (0) and the hypervisor bit (31), tsc-deadline (24). */
	const uint32_t leaf1_ecx_keep = (1u << 0) | (1u << 24) | (1u << 31);
	/* Leaf 0x80000001 EDX: drop 1 GiB pages (26) and rdtscp (27). */
	const uint32_t ext_edx_drop = (1u << 26) | (1u << 27);

	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ecx &= leaf1_ecx_keep;
			break;
		case 7:		/* structured extended features: fsgsbase, bmi, smap, erms, ... */
			e->ebx = 0;
			e->ecx = 0;
			e->edx = 0;
			if (e->index == 0)
				e->eax = 0;
			break;
		case 0xd:	/* XSAVE state components */
		case 0x12:	/* SGX */
		case 0x14:	/* processor trace */
		case 0x19:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0x80000001:
			e->ecx &= 1u;	/* lahf_lm only: no abm/lzcnt, sse4a, prefetchw, ... */
			e->edx &= ~ext_edx_drop;
			break;
		default:
			break;
		}
	}
}
