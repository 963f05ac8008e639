/*
 * Shared by the libFuzzer targets: a reader that turns the fuzz input into
 * values (running out yields zeroes), guest memory over exact-size heap
 * buffers (so that AddressSanitizer sees any access past a region), and a
 * check that aborts with a message when a property of the code under test
 * does not hold.
 */
#ifndef KVMRUN_FUZZ_COMMON_H
#define KVMRUN_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t in_u8(struct fuzz_in *in);
uint16_t in_u16(struct fuzz_in *in);
uint32_t in_u32(struct fuzz_in *in);
uint64_t in_u64(struct fuzz_in *in);
/* Copies up to n bytes (the rest of dst is zeroed); returns how many came from the input. */
size_t in_bytes(struct fuzz_in *in, void *dst, size_t n);

/* Guest RAM: region 0 at gpa 0, optionally region 1 at gpa1 (a separate heap buffer). */
void fuzz_mem_init(struct guest_mem *mem, uint64_t size0, uint64_t gpa1, uint64_t size1);
void fuzz_mem_clear(struct guest_mem *mem);
void fuzz_mem_free(struct guest_mem *mem);
/* Is [p, p + len) inside one region's host buffer? */
bool fuzz_mem_contains(const struct guest_mem *mem, const void *p, uint64_t len);

/* vm_irq_ops entries for targets that offer no ioeventfds or irqfds: -ENOSYS. */
int fuzz_no_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
		      int fd, bool assign);
int fuzz_no_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign);

/*
 * Every log line, debug ones included, is formatted and written: their
 * arguments are hostile too.  tools/fuzz.sh runs with -close_fd_mask=2, so
 * they go to /dev/null while sanitizer and fuzz_fail() reports still show.
 */
void fuzz_log_everything(void);

/* A property of the code under test that must hold: print where and why, then abort. */
#define FUZZ_CHECK(cond, ...)							\
	do {									\
		if (!(cond))							\
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);	\
	} while (0)

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

#endif
