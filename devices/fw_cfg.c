/*
 * QEMU's firmware configuration interface, the traditional (non-DMA) I/O
 * port form (QEMU docs/specs/fw_cfg.rst): a 16-bit selector write at 0x510
 * picks an item and resets the read offset; each byte read at 0x511 returns
 * the item's next byte, zero past its end or for an item that does not exist.
 * kvm-unit-tests reads the CPU count and RAM size here.  Items are computed
 * from the machine on read; the selector and offset are the only state.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define FW_CFG_STATE_VERSION	1
#define FW_CFG_ID_TRADITIONAL	0x1	/* ID bit 0: the port interface; no DMA bit */

/* Writes item key's bytes into buf (at most cap); returns its length, 0 if none. */
static uint32_t item_bytes(const struct fw_cfg *c, uint16_t key, uint8_t *buf, uint32_t cap)
{
	uint64_t v;
	uint32_t n;

	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		v = FW_CFG_ID_TRADITIONAL;
		n = 4;
		break;
	case FW_CFG_RAM_SIZE:
		v = c->ram_size;
		n = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		v = c->nr_cpus;
		n = 2;
		break;
	default:
		return 0;
	}
	for (uint32_t i = 0; i < n && i < cap; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	return n;
}

void fw_cfg_init(struct fw_cfg *c, uint16_t nr_cpus, uint64_t ram_size)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->nr_cpus = nr_cpus;
	c->ram_size = ram_size;
}

void fw_cfg_destroy(struct fw_cfg *c)
{
	pthread_mutex_destroy(&c->lock);
}

void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct fw_cfg *c = opaque;
	uint8_t item[FW_CFG_ITEM_MAX];
	uint32_t n;

	pthread_mutex_lock(&c->lock);
	if (offset == 0) {
		/* The selector is a 16-bit register; reads of it return all-ones. */
		if (is_write && len == 2) {
			c->regs.selector = (uint16_t)(data[0] | data[1] << 8);
			c->regs.offset = 0;
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (is_write) {
		/* Writes through the data port were removed from QEMU 2.4: ignored. */
		pthread_mutex_unlock(&c->lock);
		return;
	}
	n = item_bytes(c, c->regs.selector, item, sizeof(item));
	/* A wider read streams consecutive bytes, each advancing the offset. */
	for (uint32_t i = 0; i < len; i++) {
		data[i] = c->regs.offset < n ? item[c->regs.offset] : 0;
		if (c->regs.offset < n)
			c->regs.offset++;
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- save, restore, reset ---- */

int fw_cfg_save(const struct fw_cfg *c, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&c->lock;

	pthread_mutex_lock(lock);
	state_put_u16(w, c->regs.selector);
	state_put_u32(w, c->regs.offset);
	pthread_mutex_unlock(lock);
	return w->err;
}

int fw_cfg_restore(struct fw_cfg *c, struct state_reader *r, uint16_t version)
{
	struct fw_cfg_regs n;

	if (version != FW_CFG_STATE_VERSION)
		state_reader_fail(r);
	n.selector = state_get_u16(r);
	/* The offset never passes the longest item: it stops at the item's end. */
	n.offset = state_get_u32_below(r, FW_CFG_ITEM_MAX + 1);
	if (!r->err && state_reader_finish(r))
		state_reader_fail(r);
	pthread_mutex_lock(&c->lock);
	if (r->err)
		memset(&c->regs, 0, sizeof(c->regs));
	else
		c->regs = n;
	pthread_mutex_unlock(&c->lock);
	return r->err;
}

void fw_cfg_reset(struct fw_cfg *c)
{
	pthread_mutex_lock(&c->lock);
	memset(&c->regs, 0, sizeof(c->regs));
	pthread_mutex_unlock(&c->lock);
}

VM_DEVICE_OPS_DEFINE(fw_cfg, "fw-cfg", FW_CFG_STATE_VERSION);
