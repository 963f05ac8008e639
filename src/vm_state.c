/*
 * The VM-wide part of KVM's state as one record: the two PICs and the IOAPIC
 * of the in-kernel irqchip (zeros and no IOAPIC pins with the split
 * irqchip, whose IOAPIC is a device), the PIT (unless the machine has none),
 * and kvmclock.  Restore reads and checks the whole record before it sets anything.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/log.h"
#include "kvmrun/vcpu_state.h"
#include "kvmrun/vm.h"

#define PIT_FLAGS_KNOWN		(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)
#define CLOCK_FLAGS_KNOWN	(KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)
#define PIT_MAX_COUNT		0x10000	/* a count of 0 loads as 65536 */
#define PIT_MAX_MODE		5
#define PIT_MODE_UNSET		0xff	/* KVM's PIT after reset, before the guest programs it */
#define PIT_MAX_RW		3	/* latch, LSB, MSB, LSB then MSB */
#define PIT_MAX_RW_STATE	4	/* KVM's LSB, MSB, WORD0, WORD1 */
#define PIC_MAX_INIT_STATE	3	/* waiting for ICW1..ICW4 */
/*
 * In the PIT flags word, never a KVM flag: the machine has no PIT (--no-pit)
 * and no channel state follows.  Records from before --no-pit never set it.
 */
#define PIT_FLAG_ABSENT		(1u << 31)

struct vm_snap {
	struct kvm_irqchip pic[2];	/* master, slave */
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	bool has_pit;
	bool split;			/* no in-kernel PICs and IOAPIC: IOAPIC pins 0 */
	struct kvm_clock_data clock;
};

static int vm_get(struct vm *vm, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vm->fd, req, arg) < 0) {
		int e = errno;

		log_err("%s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

static void put_pic(struct state_writer *w, const struct kvm_pic_state *p)
{
	const uint8_t f[] = {
		p->last_irr, p->irr, p->imr, p->isr, p->priority_add, p->irq_base,
		p->read_reg_select, p->poll, p->special_mask, p->init_state, p->auto_eoi,
		p->rotate_on_auto_eoi, p->special_fully_nested_mode, p->init4, p->elcr,
		p->elcr_mask,
	};

	for (unsigned i = 0; i < sizeof(f); i++)
		state_put_u8(w, f[i]);
}

static void put_pit_channel(struct state_writer *w, const struct kvm_pit_channel_state *ch)
{
	/* count_load_time is host time: KVM_SET_PIT2 reloads each count from now. */
	state_put_u32(w, ch->count);
	state_put_u16(w, ch->latched_count);
	state_put_u8(w, ch->count_latched);
	state_put_u8(w, ch->status_latched);
	state_put_u8(w, ch->status);
	state_put_u8(w, ch->read_state);
	state_put_u8(w, ch->write_state);
	state_put_u8(w, ch->write_latch);
	state_put_u8(w, ch->rw_mode);
	state_put_u8(w, ch->mode);
	state_put_u8(w, ch->bcd);
	state_put_u8(w, ch->gate);
}

int vm_kvm_state_save(struct vm *vm, struct state_writer *w)
{
	struct vm_snap s;
	int r = vm_pit_wait(vm);

	if (r)
		return r;

	memset(&s, 0, sizeof(s));
	s.pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s.split = vm->cfg->irqchip == IRQCHIP_SPLIT;
	for (unsigned i = 0; i < 2 && !r && !s.split; i++)
		r = vm_get(vm, KVM_GET_IRQCHIP, &s.pic[i], "KVM_GET_IRQCHIP (PIC)");
	if (!r && !s.split)
		r = vm_get(vm, KVM_GET_IRQCHIP, &s.ioapic, "KVM_GET_IRQCHIP (IOAPIC)");
	if (!r && !vm->cfg->no_pit)
		r = vm_get(vm, KVM_GET_PIT2, &s.pit, "KVM_GET_PIT2");
	if (!r)
		r = vm_get(vm, KVM_GET_CLOCK, &s.clock, "KVM_GET_CLOCK");
	if (r)
		return r;

	for (unsigned i = 0; i < 2; i++)
		put_pic(w, &s.pic[i].chip.pic);
	state_put_u64(w, s.ioapic.chip.ioapic.base_address);
	state_put_u32(w, s.ioapic.chip.ioapic.ioregsel);
	state_put_u32(w, s.ioapic.chip.ioapic.id);
	state_put_u32(w, s.ioapic.chip.ioapic.irr);
	state_put_u32(w, s.split ? 0 : KVM_IOAPIC_NUM_PINS);
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS && !s.split; i++)
		state_put_u64(w, s.ioapic.chip.ioapic.redirtbl[i].bits);
	if (vm->cfg->no_pit) {
		state_put_u32(w, PIT_FLAG_ABSENT);
	} else {
		state_put_u32(w, s.pit.flags);
		for (unsigned i = 0; i < 3; i++)
			put_pit_channel(w, &s.pit.channels[i]);
	}
	state_put_u64(w, s.clock.clock);
	state_put_u32(w, s.clock.flags);
	state_put_u64(w, s.clock.realtime);
	return w->err;
}

struct rd {
	struct state_reader *r;
	char *err;
	size_t errlen;
	bool said;
};

static void __attribute__((format(printf, 2, 3))) refuse(struct rd *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	state_reader_fail(c->r);
	if (c->said)
		return;
	c->said = true;
	n = snprintf(c->err, c->errlen, "KVM VM state: ");
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static uint8_t get_max(struct rd *c, uint8_t max, const char *what)
{
	uint8_t v = state_get_u8(c->r);

	if (!c->r->err && v > max)
		refuse(c, "%s %u out of range (at most %u)", what, v, max);
	return v;
}

static void get_pic(struct rd *c, struct kvm_pic_state *p)
{
	struct state_reader *r = c->r;

	p->last_irr = state_get_u8(r);
	p->irr = state_get_u8(r);
	p->imr = state_get_u8(r);
	p->isr = state_get_u8(r);
	p->priority_add = get_max(c, 7, "PIC priority");
	p->irq_base = state_get_u8(r);
	p->read_reg_select = state_get_bool(r);
	p->poll = state_get_bool(r);
	p->special_mask = state_get_bool(r);
	p->init_state = get_max(c, PIC_MAX_INIT_STATE, "PIC init state");
	p->auto_eoi = state_get_bool(r);
	p->rotate_on_auto_eoi = state_get_bool(r);
	p->special_fully_nested_mode = state_get_bool(r);
	p->init4 = state_get_bool(r);
	p->elcr = state_get_u8(r);
	p->elcr_mask = state_get_u8(r);
}

static void get_pit_channel(struct rd *c, struct kvm_pit_channel_state *ch)
{
	struct state_reader *r = c->r;

	ch->count = state_get_u32(r);
	if (!r->err && ch->count > PIT_MAX_COUNT)
		refuse(c, "PIT count %u out of range", ch->count);
	ch->latched_count = state_get_u16(r);
	ch->count_latched = get_max(c, PIT_MAX_RW, "PIT latch mode");
	ch->status_latched = state_get_bool(r);
	ch->status = state_get_u8(r);
	ch->read_state = get_max(c, PIT_MAX_RW_STATE, "PIT read state");
	ch->write_state = get_max(c, PIT_MAX_RW_STATE, "PIT write state");
	ch->write_latch = state_get_u8(r);
	ch->rw_mode = get_max(c, PIT_MAX_RW, "PIT access mode");
	ch->mode = state_get_u8(r);
	if (!r->err && ch->mode > PIT_MAX_MODE && ch->mode != PIT_MODE_UNSET)
		refuse(c, "PIT mode %u out of range (at most %u)", ch->mode, PIT_MAX_MODE);
	ch->bcd = state_get_bool(r);
	ch->gate = state_get_bool(r);
}

static int vm_set(struct rd *c, struct vm *vm, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vm->fd, req, arg) < 0) {
		int e = errno;

		refuse(c, "%s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

/*
 * The irqchip and the PIT before the vCPUs (whose LAPICs may have
 * interrupts from them pending), kvmclock last: KVM_SET_CLOCK makes the
 * guest's clock read the saved value from now on, so the guest sees no jump
 * over the time it spent saved.  Call it right before the vCPUs' restore.
 */
/* Reads and checks the whole record into s; 0 or -EINVAL with the line said. */
static int snap_read(struct rd *c, struct vm_snap *s)
{
	struct state_reader *r = c->r;
	uint32_t pins;
	int ret;

	memset(s, 0, sizeof(*s));
	s->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	for (unsigned i = 0; i < 2; i++)
		get_pic(c, &s->pic[i].chip.pic);
	s->ioapic.chip.ioapic.base_address = state_get_u64(r);
	s->ioapic.chip.ioapic.ioregsel = state_get_u32(r);
	s->ioapic.chip.ioapic.id = state_get_u32(r);
	s->ioapic.chip.ioapic.irr = state_get_u32(r);
	pins = state_get_u32(r);
	s->split = !r->err && pins == 0;
	if (!r->err && pins != KVM_IOAPIC_NUM_PINS && !s->split)
		refuse(c, "an IOAPIC with %u pins in the record, this one has %u", pins,
		       KVM_IOAPIC_NUM_PINS);
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS && !r->err && !s->split; i++)
		s->ioapic.chip.ioapic.redirtbl[i].bits = state_get_u64(r);
	s->pit.flags = state_get_u32(r);
	s->has_pit = s->pit.flags != PIT_FLAG_ABSENT;
	if (!r->err && s->has_pit && (s->pit.flags & ~(uint32_t)PIT_FLAGS_KNOWN))
		refuse(c, "unknown PIT flags 0x%x", s->pit.flags);
	for (unsigned i = 0; i < 3 && s->has_pit; i++)
		get_pit_channel(c, &s->pit.channels[i]);
	s->clock.clock = state_get_u64(r);
	s->clock.flags = state_get_u32(r);
	if (!r->err && (s->clock.flags & ~(uint32_t)CLOCK_FLAGS_KNOWN))
		refuse(c, "unknown kvmclock flags 0x%x", s->clock.flags);
	s->clock.realtime = state_get_u64(r);
	ret = state_reader_finish(r);
	if (ret) {
		if (!c->said)
			refuse(c, "snapshot record truncated or corrupt");
		return ret;
	}

	return 0;
}

int vm_kvm_state_check(struct state_reader *r, char *err, size_t errlen)
{
	struct rd c = { .r = r, .err = err, .errlen = errlen };
	struct vm_snap s;

	if (errlen)
		err[0] = '\0';
	return snap_read(&c, &s);
}

int vm_kvm_state_restore(struct vm *vm, struct state_reader *r, char *err, size_t errlen)
{
	struct rd c = { .r = r, .err = err, .errlen = errlen };
	struct kvm_clock_data clock;
	struct vm_snap s;
	int ret = vm_pit_wait(vm);

	if (ret)
		return ret;

	if (errlen)
		err[0] = '\0';
	ret = snap_read(&c, &s);
	if (ret)
		return ret;
	/* The snapshot's configuration built this machine: a mismatch is a corrupt file. */
	if (s.has_pit == vm->cfg->no_pit) {
		refuse(&c, "the record has %s, this machine %s", s.has_pit ? "a PIT" : "no PIT",
		       vm->cfg->no_pit ? "has none" : "has one");
		return -EINVAL;
	}
	if (s.split != (vm->cfg->irqchip == IRQCHIP_SPLIT)) {
		refuse(&c, "the record is of the %s irqchip, this machine has the %s one",
		       s.split ? "split" : "in-kernel",
		       vm->cfg->irqchip == IRQCHIP_SPLIT ? "split" : "in-kernel");
		return -EINVAL;
	}
	ret = 0;
	for (unsigned i = 0; i < 2 && !ret && !s.split; i++)
		ret = vm_set(&c, vm, KVM_SET_IRQCHIP, &s.pic[i], "KVM_SET_IRQCHIP (PIC)");
	if (!ret && !s.split)
		ret = vm_set(&c, vm, KVM_SET_IRQCHIP, &s.ioapic, "KVM_SET_IRQCHIP (IOAPIC)");
	if (!ret && s.has_pit)
		ret = vm_set(&c, vm, KVM_SET_PIT2, &s.pit, "KVM_SET_PIT2");
	if (!ret) {
		/* Only the value: the realtime and host TSC pairs describe the saving host. */
		memset(&clock, 0, sizeof(clock));
		clock.clock = s.clock.clock;
		ret = vm_set(&c, vm, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
	}
	return ret;
}
