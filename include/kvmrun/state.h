/*
 * The byte format device state is saved in: explicit little-endian fields,
 * written one by one (never a memcpy of a struct, so that padding, layout and
 * host byte order never reach a file).  A writer grows its buffer; a reader
 * checks every field against what is left, so a truncated or corrupted
 * record makes it fail instead of reading past its end.  Both latch the first
 * error: a device writes or reads all its fields, then looks at the result.
 */
#ifndef KVMRUN_STATE_H
#define KVMRUN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer {
	uint8_t *data;
	size_t len, cap;
	int err;		/* first error (-ENOMEM), 0 if none */
};

struct state_reader {
	const uint8_t *data;
	size_t len, off;
	int err;		/* first error (-EINVAL: truncated or out of range), 0 if none */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bool(struct state_writer *w, bool v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);

void state_reader_init(struct state_reader *r, const void *data, size_t len);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* Anything but 0 or 1 is corrupt: -EINVAL. */
bool state_get_bool(struct state_reader *r);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
/* A value read must be below limit (an index, a count): else -EINVAL and 0. */
uint32_t state_get_u32_below(struct state_reader *r, uint32_t limit);
/* Marks the record corrupt (a device found an impossible combination). */
void state_reader_fail(struct state_reader *r);
/* 0 when every byte was consumed without error, else the error (-EINVAL for leftovers). */
int state_reader_finish(const struct state_reader *r);

#endif
