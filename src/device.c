/* The device registry (see device.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/device.h"

int machine_desc_cmdline(struct machine_desc *m, const char *fmt, ...)
{
	size_t room = sizeof(m->cmdline) - m->cmdline_len;
	va_list ap;
	int n;

	if (room < 2)
		return -E2BIG;
	m->cmdline[m->cmdline_len] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(m->cmdline + m->cmdline_len + 1, room - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room - 1) {
		m->cmdline[m->cmdline_len] = 0;
		return -E2BIG;
	}
	m->cmdline_len += 1 + (size_t)n;
	return 0;
}

void device_list_init(struct device_list *l)
{
	memset(l, 0, sizeof(*l));
}

struct vm_device *device_list_find(struct device_list *l, const char *name)
{
	for (unsigned i = 0; i < l->nr; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

int device_list_add(struct device_list *l, const struct vm_device_ops *ops, void *dev,
		    const char *name)
{
	struct vm_device *d;

	if (strlen(name) >= DEVICE_NAME_MAX || device_list_find(l, name)) {
		ops->destroy(dev);
		return strlen(name) >= DEVICE_NAME_MAX ? -ENAMETOOLONG : -EEXIST;
	}
	if (l->nr == l->cap) {
		unsigned cap = l->cap ? 2 * l->cap : 16;

		d = realloc(l->v, cap * sizeof(*d));
		if (!d) {
			ops->destroy(dev);
			return -ENOMEM;
		}
		l->v = d;
		l->cap = cap;
	}
	d = &l->v[l->nr++];
	d->ops = ops;
	d->dev = dev;
	snprintf(d->name, sizeof(d->name), "%s", name);
	return 0;
}

void device_list_destroy(struct device_list *l)
{
	while (l->nr) {
		struct vm_device *d = &l->v[--l->nr];

		d->ops->destroy(d->dev);
	}
	free(l->v);
	device_list_init(l);
}

int device_list_start(struct device_list *l)
{
	for (unsigned i = 0; i < l->nr; i++) {
		int r = l->v[i].ops->start ? l->v[i].ops->start(l->v[i].dev) : 0;

		if (r)
			return r;
	}
	return 0;
}

void device_list_pause(struct device_list *l)
{
	for (unsigned i = 0; i < l->nr; i++)
		if (l->v[i].ops->pause)
			l->v[i].ops->pause(l->v[i].dev);
}

void device_list_resume(struct device_list *l)
{
	for (unsigned i = l->nr; i-- > 0;)
		if (l->v[i].ops->resume)
			l->v[i].ops->resume(l->v[i].dev);
}

void device_list_stop(struct device_list *l)
{
	for (unsigned i = 0; i < l->nr; i++)
		if (l->v[i].ops->stop)
			l->v[i].ops->stop(l->v[i].dev);
}

void device_list_reset(struct device_list *l)
{
	for (unsigned i = 0; i < l->nr; i++)
		if (l->v[i].ops->reset)
			l->v[i].ops->reset(l->v[i].dev);
}

int device_list_describe(struct device_list *l, struct machine_desc *m)
{
	for (unsigned i = 0; i < l->nr; i++) {
		int r = l->v[i].ops->describe ? l->v[i].ops->describe(l->v[i].dev, m) : 0;

		if (r)
			return r;
	}
	return 0;
}

static void put_string(struct state_writer *w, const char *s)
{
	size_t n = strlen(s);

	state_put_u8(w, (uint8_t)n);
	state_put_bytes(w, s, n);
}

/* Reads a string written by put_string and compares it with want. */
static bool string_is(struct state_reader *r, const char *want)
{
	char buf[256];
	uint8_t n = state_get_u8(r);

	state_get_bytes(r, buf, n);
	buf[n] = 0;
	return !r->err && !strcmp(buf, want);
}

int device_save_one(const struct vm_device_ops *ops, void *dev, struct state_writer *w)
{
	int r = ops->save(dev, w);

	return r ? r : w->err;
}

int device_restore_one(const struct vm_device_ops *ops, void *dev, const void *data, size_t len)
{
	struct state_reader r;
	int ret;

	state_reader_init(&r, data, len);
	ret = ops->restore(dev, &r, ops->state_version);
	return ret ? ret : state_reader_finish(&r);
}

int device_list_save(struct device_list *l, struct state_writer *w)
{
	state_put_u32(w, l->nr);
	for (unsigned i = 0; i < l->nr; i++) {
		struct vm_device *d = &l->v[i];
		size_t len_at;
		uint64_t len;
		int r;

		put_string(w, d->name);
		put_string(w, d->ops->kind);
		state_put_u16(w, d->ops->state_version);
		len_at = w->len;
		state_put_u64(w, 0);		/* the record's length, filled in below */
		r = device_save_one(d->ops, d->dev, w);
		if (r)
			return r;
		len = w->len - len_at - 8;
		for (unsigned b = 0; b < 8; b++)
			w->data[len_at + b] = (uint8_t)(len >> (8 * b));
	}
	return w->err;
}

int device_list_restore(struct device_list *l, struct state_reader *r, char *err, size_t errlen)
{
	uint32_t nr = state_get_u32(r);

	if (r->err || nr != l->nr) {
		snprintf(err, errlen, "the saved machine has %u devices, this one %u", nr, l->nr);
		return -EINVAL;
	}
	for (unsigned i = 0; i < l->nr; i++) {
		struct vm_device *d = &l->v[i];
		uint16_t version;
		uint64_t len;
		int ret;

		if (!string_is(r, d->name) || !string_is(r, d->ops->kind)) {
			snprintf(err, errlen, "device %u is not %s (%s) in the saved machine", i,
				 d->name, d->ops->kind);
			return -EINVAL;
		}
		version = state_get_u16(r);
		len = state_get_u64(r);
		if (r->err || len > r->len - r->off) {
			snprintf(err, errlen, "%s: saved state is truncated", d->name);
			return -EINVAL;
		}
		if (version == 0 || version > d->ops->state_version) {
			snprintf(err, errlen, "%s: saved state version %u, this kvmrun reads up to %u",
				 d->name, version, d->ops->state_version);
			return -EINVAL;
		}
		struct state_reader rec;

		state_reader_init(&rec, r->data + r->off, (size_t)len);
		ret = d->ops->restore(d->dev, &rec, version);
		if (!ret)
			ret = state_reader_finish(&rec);
		if (ret) {
			snprintf(err, errlen, "%s: saved state is corrupt", d->name);
			return ret;
		}
		r->off += (size_t)len;
	}
	return state_reader_finish(r) ? -EINVAL : 0;
}
