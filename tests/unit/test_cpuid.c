/* Unit tests for the guest CPUID model: PVM restrictions, topology, -cpu features. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define BIT(n) (1u << (n))

static struct kvm_cpuid2 *c;

static void add(unsigned function, unsigned index, uint32_t flags, uint32_t eax, uint32_t ebx,
		uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

/* A plausible host CPUID with every feature bit set where it matters. */
static void setup(void)
{
	c = calloc(1, sizeof(*c) + 32 * sizeof(c->entries[0]));
	ck_assert_ptr_nonnull(c);
	add(0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(1, 0, 0, 0x000906ea, 0x0b100800, 0xffffffff, 0xffffffff);
	add(4, 0, SIG, 0xfc004121, 0x01c0003f, 0x3f, 0);	/* L1d, 64 cores, 2 threads */
	add(4, 1, SIG, 0xfc004122, 0x01c0003f, 0x3f, 0);
	add(4, 2, SIG, 0xfc01c143, 0x03c0003f, 0x3ff, 0);
	add(4, 3, SIG, 0, 0, 0, 0);				/* end of cache list */
	add(7, 0, SIG, 2, 0xffffffff, 0xffffffff, 0xffffffff);
	add(7, 1, SIG, 0x00000030, 0, 0, 0);
	add(0xb, 0, SIG, 1, 2, 0x100, 0x55);
	add(0xb, 1, SIG, 7, 16, 0x201, 0x55);
	add(0xb, 2, SIG, 0, 0, 2, 0x55);
	add(0xd, 0, SIG, 0x2e7, 0x340, 0x340, 0);
	add(0xd, 1, SIG, 0xf, 0x340, 0x1900, 0);
	add(0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	add(0x80000001, 0, 0, 0, 0, 0xffffffff, 0xffffffff);
	add(0x80000008, 0, 0, 0x3027, 0, 0x0000ffff, 0);
}

static void teardown(void)
{
	free(c);
}

static struct kvm_cpuid_entry2 *get(unsigned function, unsigned index)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);

	ck_assert_msg(e != NULL, "leaf 0x%x.%u missing", function, index);
	return e;
}

/* ---- cpuid_find ---- */

START_TEST(test_find)
{
	ck_assert_uint_eq(get(7, 1)->eax, 0x30);
	ck_assert_uint_eq(get(0xb, 2)->ecx, 2);
	ck_assert_ptr_null(cpuid_find(c, 0xb, 3));
	ck_assert_ptr_null(cpuid_find(c, 0x40000000, 0));
	/* Without the significant-index flag any index matches. */
	ck_assert_ptr_eq(cpuid_find(c, 1, 5), cpuid_find(c, 1, 0));
	ck_assert_ptr_eq(cpuid_find(c, 0x80000001, 0xffffffff), &c->entries[14]);
}
END_TEST

/* ---- PVM restrictions ---- */

START_TEST(test_restrict_leaf1_ecx)
{
	uint32_t ecx;

	cpuid_restrict_for_pvm(c);
	ecx = get(1, 0)->ecx;
	ck_assert_uint_eq(ecx, BIT(0) | BIT(24) | BIT(31));
	ck_assert(!(ecx & BIT(26)));	/* xsave */
	ck_assert(!(ecx & BIT(23)));	/* popcnt */
	ck_assert(!(ecx & BIT(13)));	/* cmpxchg16b */
	ck_assert(!(ecx & BIT(20)));	/* sse4.2 */
	ck_assert(!(ecx & BIT(30)));	/* rdrand */
	/* Other registers of leaf 1 untouched. */
	ck_assert_uint_eq(get(1, 0)->edx, 0xffffffff);
	ck_assert_uint_eq(get(1, 0)->eax, 0x000906ea);
}
END_TEST

START_TEST(test_restrict_keeps_absent_bits_absent)
{
	/* Bits the host lacks stay off: the mask only removes. */
	get(1, 0)->ecx = BIT(31) | BIT(5);
	cpuid_restrict_for_pvm(c);
	ck_assert_uint_eq(get(1, 0)->ecx, BIT(31));
}
END_TEST

START_TEST(test_restrict_leaf7)
{
	cpuid_restrict_for_pvm(c);
	ck_assert_uint_eq(get(7, 0)->ebx, 0);
	ck_assert_uint_eq(get(7, 0)->ecx, 0);
	ck_assert_uint_eq(get(7, 0)->edx, 0);
	ck_assert_uint_eq(get(7, 0)->eax, 0);	/* no further subleaves */
	ck_assert_uint_eq(get(7, 1)->ebx, 0);
	ck_assert_uint_eq(get(7, 1)->ecx, 0);
	ck_assert_uint_eq(get(7, 1)->edx, 0);
}
END_TEST

START_TEST(test_restrict_xsave_leaf)
{
	cpuid_restrict_for_pvm(c);
	for (unsigned i = 0; i < 2; i++) {
		struct kvm_cpuid_entry2 *e = get(0xd, i);

		ck_assert_uint_eq(e->eax, 0);
		ck_assert_uint_eq(e->ebx, 0);
		ck_assert_uint_eq(e->ecx, 0);
		ck_assert_uint_eq(e->edx, 0);
	}
}
END_TEST

START_TEST(test_restrict_ext_leaf)
{
	struct kvm_cpuid_entry2 *e;

	cpuid_restrict_for_pvm(c);
	e = get(0x80000001, 0);
	ck_assert(!(e->edx & BIT(26)));		/* 1 GiB pages */
	ck_assert(!(e->edx & BIT(27)));		/* rdtscp */
	ck_assert(e->edx & BIT(29));		/* lm */
	ck_assert(e->edx & BIT(20));		/* nx */
	ck_assert(e->edx & BIT(11));		/* syscall */
	ck_assert_uint_eq(e->edx, 0xffffffff & ~(BIT(26) | BIT(27)));
	ck_assert_uint_eq(e->ecx, 1);		/* lahf_lm only */
}
END_TEST

START_TEST(test_restrict_leaves_others)
{
	cpuid_restrict_for_pvm(c);
	ck_assert_uint_eq(get(0, 0)->ebx, 0x756e6547);
	ck_assert_uint_eq(get(0xb, 1)->ebx, 16);
	ck_assert_uint_eq(get(0x80000008, 0)->eax, 0x3027);
	ck_assert_uint_eq(get(4, 0)->eax, 0xfc004121);
}
END_TEST

START_TEST(test_restrict_idempotent)
{
	struct kvm_cpuid2 *copy;
	size_t sz = sizeof(*c) + c->nent * sizeof(c->entries[0]);

	cpuid_restrict_for_pvm(c);
	copy = malloc(sz);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, c, sz);
	cpuid_restrict_for_pvm(c);
	ck_assert_mem_eq(copy, c, sz);
	free(copy);
}
END_TEST

/* ---- topology ---- */

START_TEST(test_topology_3_of_4)
{
	struct kvm_cpuid_entry2 *e;

	cpuid_set_topology(c, 3, 4);
	e = get(1, 0);
	ck_assert_uint_eq(e->ebx >> 24, 3);		/* initial APIC id */
	ck_assert_uint_ge((e->ebx >> 16) & 0xff, 4);	/* logical processors */
	ck_assert_uint_eq(e->ebx & 0xffff, 0x0800);	/* brand/clflush kept */
	ck_assert(e->edx & BIT(28));			/* HTT */

	e = get(0xb, 0);
	ck_assert_uint_eq(e->eax, 0);
	ck_assert_uint_eq(e->ebx, 1);
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 1);	/* SMT level */
	ck_assert_uint_eq(e->ecx & 0xff, 0);
	ck_assert_uint_eq(e->edx, 3);

	e = get(0xb, 1);
	ck_assert_uint_eq(e->eax, 2);			/* shift to the package id */
	ck_assert_uint_eq(e->ebx, 4);
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 2);	/* core level */
	ck_assert_uint_eq(e->ecx & 0xff, 1);
	ck_assert_uint_eq(e->edx, 3);

	e = get(0xb, 2);				/* invalid level */
	ck_assert_uint_eq(e->ebx, 0);
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 0);
	ck_assert_uint_eq(e->ecx & 0xff, 2);
	ck_assert_uint_eq(e->edx, 3);
}
END_TEST

START_TEST(test_topology_single)
{
	struct kvm_cpuid_entry2 *e;

	cpuid_set_topology(c, 0, 1);
	e = get(1, 0);
	ck_assert(!(e->edx & BIT(28)));
	ck_assert_uint_eq(e->ebx >> 24, 0);
	ck_assert_uint_eq(get(0xb, 1)->ebx, 1);
	ck_assert_uint_eq(get(0xb, 1)->eax, 0);
	ck_assert_uint_eq(get(0xb, 0)->edx, 0);
	/* Leaf 4: no other cores share the package, no other threads share a cache. */
	ck_assert_uint_eq(get(4, 0)->eax >> 26, 0);
	ck_assert_uint_eq((get(4, 0)->eax >> 14) & 0xfff, 0);
	ck_assert_uint_eq(get(4, 0)->eax & 0x3fff, 0x0121);	/* cache type/level kept */
	ck_assert_uint_eq(get(0x80000008, 0)->ecx & 0xff, 0);
}
END_TEST

START_TEST(test_topology_non_power_of_two)
{
	struct kvm_cpuid_entry2 *e;

	cpuid_set_topology(c, 4, 5);
	e = get(1, 0);
	ck_assert_uint_eq(e->ebx >> 24, 4);
	ck_assert_uint_ge((e->ebx >> 16) & 0xff, 5);
	ck_assert_uint_eq(get(0xb, 1)->eax, 3);	/* 5 ids need 3 bits */
	ck_assert_uint_eq(get(0xb, 1)->ebx, 5);
	ck_assert_uint_eq(get(0xb, 1)->edx, 4);
	ck_assert_uint_eq(get(4, 1)->eax >> 26, 7);	/* 8 core ids - 1 */
	ck_assert_uint_eq(get(0x80000008, 0)->ecx & 0xff, 4);
	ck_assert_uint_eq((get(0x80000008, 0)->ecx >> 12) & 0xf, 3);
}
END_TEST

START_TEST(test_topology_rewrites_previous)
{
	/* Called per vCPU on a copy, or again on the same table: no stale bits. */
	cpuid_set_topology(c, 7, 8);
	cpuid_set_topology(c, 1, 2);
	ck_assert_uint_eq(get(1, 0)->ebx >> 24, 1);
	ck_assert_uint_eq((get(1, 0)->ebx >> 16) & 0xff, 2);
	ck_assert_uint_eq(get(0xb, 0)->edx, 1);
	ck_assert_uint_eq(get(0xb, 1)->eax, 1);
	ck_assert_uint_eq(get(0x80000008, 0)->ecx & 0xff, 1);
	ck_assert_uint_eq((get(0x80000008, 0)->ecx >> 12) & 0xf, 1);
}
END_TEST

START_TEST(test_topology_max_id_field)
{
	cpuid_set_topology(c, 254, 255);
	ck_assert_uint_eq(get(1, 0)->ebx >> 24, 254);
	ck_assert_uint_eq(get(0xb, 0)->edx, 254);
	ck_assert_uint_eq(get(0xb, 1)->ebx, 255);
	ck_assert_uint_eq(get(0xb, 1)->eax, 8);
	ck_assert_uint_eq(get(0x80000008, 0)->ecx & 0xff, 254);
}
END_TEST

START_TEST(test_topology_many_vcpus_leaf1_count)
{
	cpuid_set_topology(c, 0, 200);
	ck_assert(get(1, 0)->edx & BIT(28));
	ck_assert_uint_ge((get(1, 0)->ebx >> 16) & 0xff, 200);
}
END_TEST

START_TEST(test_topology_leaf_1f)
{
	/* Leaf 0x1f, when present, gets the same levels as 0xb. */
	add(0x1f, 0, SIG, 9, 9, 9, 9);
	add(0x1f, 1, SIG, 9, 9, 9, 9);
	add(0x1f, 2, SIG, 9, 9, 9, 9);
	cpuid_set_topology(c, 2, 3);
	ck_assert_uint_eq(get(0x1f, 0)->ebx, 1);
	ck_assert_uint_eq(get(0x1f, 0)->edx, 2);
	ck_assert_uint_eq(get(0x1f, 1)->eax, 2);
	ck_assert_uint_eq(get(0x1f, 1)->ebx, 3);
	ck_assert_uint_eq((get(0x1f, 1)->ecx >> 8) & 0xff, 2);
	ck_assert_uint_eq(get(0x1f, 2)->ebx, 0);
}
END_TEST

START_TEST(test_topology_missing_leaves)
{
	/* A table without leaves 1, 0xb and 0x80000008 must not be written out of bounds. */
	c->nent = 0;
	add(0, 0, 0, 0xd, 0, 0, 0);
	cpuid_set_topology(c, 1, 2);
	ck_assert_uint_eq(c->nent, 1);
	ck_assert_uint_eq(c->entries[0].eax, 0xd);
	cpuid_restrict_for_pvm(c);
	ck_assert_uint_eq(c->entries[0].eax, 0xd);
}
END_TEST

START_TEST(test_topology_then_restrict_keeps_topology)
{
	cpuid_set_topology(c, 3, 4);
	cpuid_restrict_for_pvm(c);
	ck_assert_uint_eq(get(1, 0)->ebx >> 24, 3);
	ck_assert(get(1, 0)->edx & BIT(28));
	ck_assert_uint_eq(get(0xb, 1)->ebx, 4);
}
END_TEST

/* ---- -cpu +F / -F (cpuid_features) ---- */

static int feat(const char *name)
{
	int i = cpuid_feature_find(name);

	ck_assert_msg(i >= 0, "%s not in the table", name);
	return i;
}

#define F(name) (1u << feat(name))

START_TEST(test_feature_table)
{
	ck_assert_uint_le(cpuid_nr_features, 32);
	for (unsigned i = 0; i < cpuid_nr_features; i++) {
		const struct cpuid_feature *f = &cpuid_features[i];

		ck_assert_int_eq(cpuid_feature_find(f->name), (int)i);
		ck_assert_uint_le(f->reg, 3);
		ck_assert_uint_lt(f->bit, 32);
		for (unsigned j = 0; j < i; j++)
			ck_assert_msg(cpuid_features[j].function != f->function ||
				      cpuid_features[j].index != f->index ||
				      cpuid_features[j].reg != f->reg || cpuid_features[j].bit != f->bit,
				      "%s and %s are one bit", cpuid_features[j].name, f->name);
	}
	/* The ones kvm-unit-tests asks for, where the SDM puts them. */
	ck_assert_uint_eq(cpuid_features[feat("x2apic")].bit, 21);
	ck_assert_uint_eq(cpuid_features[feat("tsc-deadline")].bit, 24);
	ck_assert_uint_eq(cpuid_features[feat("invpcid")].function, 7);
	ck_assert_int_eq(feat("tsc_deadline"), feat("tsc-deadline"));
	ck_assert_int_eq(cpuid_feature_find("X2APIC"), -ENOENT);
	ck_assert_int_eq(cpuid_feature_find("x2api"), -ENOENT);
	ck_assert_int_eq(cpuid_feature_find("x2apicx"), -ENOENT);
	ck_assert_int_eq(cpuid_feature_find("vmx"), -ENOENT);
	ck_assert_int_eq(cpuid_feature_find(""), -ENOENT);
}
END_TEST

/* supported: KVM's table, with pcid (leaf 1 ECX 17) and tsc-deadline not offered. */
static struct kvm_cpuid2 *supported_without_pcid(void)
{
	size_t size = sizeof(*c) + 32 * sizeof(c->entries[0]);
	struct kvm_cpuid2 *s = malloc(size);

	ck_assert_ptr_nonnull(s);
	memcpy(s, c, size);
	s->entries[1].ecx &= ~(BIT(17) | BIT(24));
	return s;
}

START_TEST(test_apply_on_where_offered)
{
	struct kvm_cpuid2 *s = supported_without_pcid();
	uint32_t left;

	cpuid_restrict_for_pvm(c);
	ck_assert(!(get(1, 0)->ecx & BIT(21)));
	ck_assert(!(get(7, 0)->ebx & BIT(10)));
	left = cpuid_apply_features(c, s, false, F("x2apic") | F("invpcid") | F("rdtscp") | F("la57"), 0);
	ck_assert_uint_eq(left, 0);
	ck_assert(get(1, 0)->ecx & BIT(21));
	ck_assert(get(7, 0)->ebx & BIT(10));
	ck_assert(get(7, 0)->ecx & BIT(16));
	ck_assert(get(0x80000001, 0)->edx & BIT(27));
	/* Nothing else came back. */
	ck_assert_uint_eq(get(1, 0)->ecx, BIT(0) | BIT(21) | BIT(24) | BIT(31));
	ck_assert_uint_eq(get(7, 0)->ebx, BIT(10));
	ck_assert_uint_eq(get(7, 0)->ecx, BIT(16));
	free(s);
}
END_TEST

START_TEST(test_apply_left_off)
{
	struct kvm_cpuid2 *s = supported_without_pcid();
	uint32_t left;

	get(1, 0)->ecx = 0;
	left = cpuid_apply_features(c, s, false, F("pcid") | F("x2apic") | F("tsc-deadline"), 0);
	ck_assert_uint_eq(left, F("pcid") | F("tsc-deadline"));
	ck_assert_uint_eq(get(1, 0)->ecx, BIT(21));
	free(s);
}
END_TEST

START_TEST(test_apply_tsc_deadline_by_capability)
{
	struct kvm_cpuid2 *s = supported_without_pcid();

	get(1, 0)->ecx = 0;
	ck_assert_uint_eq(cpuid_apply_features(c, s, true, F("tsc-deadline"), 0), 0);
	ck_assert_uint_eq(get(1, 0)->ecx, BIT(24));
	free(s);
}
END_TEST

START_TEST(test_apply_off)
{
	struct kvm_cpuid2 *s = supported_without_pcid();

	ck_assert_uint_eq(cpuid_apply_features(c, s, true, 0, F("x2apic") | F("tsc-deadline") |
					       F("pcid") | F("umip") | F("pdpe1gb")), 0);
	ck_assert_uint_eq(get(1, 0)->ecx, ~(BIT(17) | BIT(21) | BIT(24)));
	ck_assert_uint_eq(get(7, 0)->ecx, ~BIT(2));
	ck_assert_uint_eq(get(0x80000001, 0)->edx, ~BIT(26));
	free(s);
}
END_TEST

START_TEST(test_apply_missing_leaf)
{
	struct kvm_cpuid2 *s = supported_without_pcid();

	/* A model without leaf 7 (a function number no feature uses). */
	get(7, 0)->function = 0x4fffffff;
	ck_assert_uint_eq(cpuid_apply_features(c, s, false, F("invpcid") | F("x2apic"), F("umip")),
			  F("invpcid"));
	free(s);
}
END_TEST

static Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc;

	tc = tcase_create("pvm");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_restrict_leaf1_ecx);
	tcase_add_test(tc, test_restrict_keeps_absent_bits_absent);
	tcase_add_test(tc, test_restrict_leaf7);
	tcase_add_test(tc, test_restrict_xsave_leaf);
	tcase_add_test(tc, test_restrict_ext_leaf);
	tcase_add_test(tc, test_restrict_leaves_others);
	tcase_add_test(tc, test_restrict_idempotent);
	suite_add_tcase(s, tc);

	tc = tcase_create("topology");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_topology_3_of_4);
	tcase_add_test(tc, test_topology_single);
	tcase_add_test(tc, test_topology_non_power_of_two);
	tcase_add_test(tc, test_topology_rewrites_previous);
	tcase_add_test(tc, test_topology_max_id_field);
	tcase_add_test(tc, test_topology_many_vcpus_leaf1_count);
	tcase_add_test(tc, test_topology_leaf_1f);
	tcase_add_test(tc, test_topology_missing_leaves);
	tcase_add_test(tc, test_topology_then_restrict_keeps_topology);
	suite_add_tcase(s, tc);

	tc = tcase_create("features");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_feature_table);
	tcase_add_test(tc, test_apply_on_where_offered);
	tcase_add_test(tc, test_apply_left_off);
	tcase_add_test(tc, test_apply_tsc_deadline_by_capability);
	tcase_add_test(tc, test_apply_off);
	tcase_add_test(tc, test_apply_missing_leaf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpuid_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
