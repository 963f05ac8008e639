/* The device-state byte format (see state.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/state.h"

void state_writer_init(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void state_writer_free(struct state_writer *w)
{
	free(w->data);
	memset(w, 0, sizeof(*w));
}

static uint8_t *reserve(struct state_writer *w, size_t n)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->err = -ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		p = realloc(w->data, cap);
		if (!p) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->data = p;
		w->cap = cap;
	}
	p = w->data + w->len;
	w->len += n;
	return p;
}

static void put_le(struct state_writer *w, uint64_t v, unsigned n)
{
	uint8_t *p = reserve(w, n);

	for (unsigned i = 0; p && i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void state_put_u8(struct state_writer *w, uint8_t v) { put_le(w, v, 1); }
void state_put_u16(struct state_writer *w, uint16_t v) { put_le(w, v, 2); }
void state_put_u32(struct state_writer *w, uint32_t v) { put_le(w, v, 4); }
void state_put_u64(struct state_writer *w, uint64_t v) { put_le(w, v, 8); }
void state_put_bool(struct state_writer *w, bool v) { put_le(w, v ? 1 : 0, 1); }

void state_put_bytes(struct state_writer *w, const void *src, size_t n)
{
	uint8_t *p = reserve(w, n);

	if (p && n)
		memcpy(p, src, n);
}

void state_reader_init(struct state_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

static const uint8_t *take(struct state_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		r->err = -EINVAL;
		return NULL;
	}
	p = r->data + r->off;
	r->off += n;
	return p;
}

static uint64_t get_le(struct state_reader *r, unsigned n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;

	for (unsigned i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t state_get_u8(struct state_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t state_get_u16(struct state_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t state_get_u32(struct state_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t state_get_u64(struct state_reader *r) { return get_le(r, 8); }

bool state_get_bool(struct state_reader *r)
{
	uint8_t v = state_get_u8(r);

	if (v > 1)
		state_reader_fail(r);
	return v == 1;
}

void state_get_bytes(struct state_reader *r, void *dst, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p && n)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

uint32_t state_get_u32_below(struct state_reader *r, uint32_t limit)
{
	uint32_t v = state_get_u32(r);

	if (v >= limit) {
		state_reader_fail(r);
		return 0;
	}
	return v;
}

void state_reader_fail(struct state_reader *r)
{
	if (!r->err)
		r->err = -EINVAL;
}

int state_reader_finish(const struct state_reader *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? 0 : -EINVAL;
}
