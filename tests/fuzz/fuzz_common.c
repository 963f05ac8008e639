#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/log.h"

uint8_t in_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t in_u16(struct fuzz_in *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | in_u8(in) << 8);
}

uint32_t in_u32(struct fuzz_in *in)
{
	uint32_t lo = in_u16(in);

	return lo | (uint32_t)in_u16(in) << 16;
}

uint64_t in_u64(struct fuzz_in *in)
{
	uint64_t lo = in_u32(in);

	return lo | (uint64_t)in_u32(in) << 32;
}

size_t in_bytes(struct fuzz_in *in, void *dst, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, n - k);
	in->p += k;
	in->n -= k;
	return k;
}

void fuzz_mem_init(struct guest_mem *mem, uint64_t size0, uint64_t gpa1, uint64_t size1)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->region[0] = (struct mem_region){ 0, size0, calloc(1, size0) };
	mem->nr_regions = 1;
	if (size1) {
		mem->region[1] = (struct mem_region){ gpa1, size1, calloc(1, size1) };
		mem->nr_regions = 2;
	}
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (!mem->region[i].host)
			abort();
	mem->map = mem->region[0].host;
	mem->map_size = size0;
	mem->total = size0 + size1;
}

void fuzz_mem_clear(struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		memset(mem->region[i].host, 0, mem->region[i].size);
}

void fuzz_mem_free(struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		free(mem->region[i].host);
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
}

bool fuzz_mem_contains(const struct guest_mem *mem, const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		uintptr_t b = (uintptr_t)mem->region[i].host;

		if (a >= b && len <= mem->region[i].size && a - b <= mem->region[i].size - len)
			return true;
	}
	return false;
}

void fuzz_log_everything(void)
{
	log_threshold = LOG_DEBUG;
}

/* The sanitizer runtime's report channel: still open under -close_fd_mask=2. */
void __sanitizer_report_error_summary(const char *summary);

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s:%d: property failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	__sanitizer_report_error_summary(msg);
	abort();
}

int fuzz_no_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
		      int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	return -ENOSYS;
}

int fuzz_no_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
	return -ENOSYS;
}
