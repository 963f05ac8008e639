/* Token buckets for device rate limits (ratelimit.h). */
#include <string.h>

#include "kvmrun/ratelimit.h"

#define NS_PER_S	1000000000ULL

static void bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	b->rate = rate;
	b->burst = rate ? burst : 0;
	b->tokens = (int64_t)(rate * RATE_LIMIT_WINDOW_MS / 1000);
	b->last_ns = now_ns;
}

static int64_t bucket_cap(const struct token_bucket *b)
{
	int64_t cap = (int64_t)(b->rate * RATE_LIMIT_WINDOW_MS / 1000);

	return cap > 0 ? cap : 1;
}

static void refill(struct token_bucket *b, uint64_t now_ns)
{
	uint64_t dt = now_ns > b->last_ns ? now_ns - b->last_ns : 0;
	uint64_t add;

	if (!b->rate)
		return;
	/* Whole tokens only; the remainder of the interval stays for the next refill. */
	add = (uint64_t)((unsigned __int128)dt * b->rate / NS_PER_S);
	if (!add)
		return;
	b->last_ns += (uint64_t)((unsigned __int128)add * NS_PER_S / b->rate);
	b->tokens += (int64_t)add;
	if (b->tokens > bucket_cap(b)) {
		b->tokens = bucket_cap(b);
		b->last_ns = now_ns;
	}
}

/* Nanoseconds until the bucket has a token (0: it has one now). */
static uint64_t bucket_wait(struct token_bucket *b, uint64_t now_ns)
{
	if (!b->rate || b->burst)
		return 0;
	refill(b, now_ns);
	if (b->tokens > 0)
		return 0;
	/* 1 - tokens more are needed; the refill counts from last_ns. */
	uint64_t need = (uint64_t)(1 - b->tokens);
	uint64_t at = b->last_ns + (uint64_t)(((unsigned __int128)need * NS_PER_S + b->rate - 1) / b->rate);

	return at > now_ns ? at - now_ns : 1;
}

static void bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->rate)
		return;
	refill(b, now_ns);
	if (b->burst) {
		uint64_t from_burst = n < b->burst ? n : b->burst;

		b->burst -= from_burst;
		n -= from_burst;
	}
	/* Debt is bounded by what one request can be: int64 holds any of them. */
	b->tokens -= (int64_t)n;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limit_params *p, uint64_t now_ns)
{
	memset(rl, 0, sizeof(*rl));
	rate_limiter_set(rl, p, now_ns);
}

void rate_limiter_set(struct rate_limiter *rl, const struct rate_limit_params *p, uint64_t now_ns)
{
	bucket_init(&rl->ops, p->ops, p->ops_burst, now_ns);
	bucket_init(&rl->bytes, p->bytes, p->bytes_burst, now_ns);
}

uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t now_ns)
{
	uint64_t a = bucket_wait(&rl->ops, now_ns), b = bucket_wait(&rl->bytes, now_ns);
	uint64_t wait = a > b ? a : b;

	if (wait && !rl->throttled) {
		rl->throttled = true;
		rl->throttled_since = now_ns;
		rl->throttle_events++;
	} else if (!wait && rl->throttled) {
		rl->throttled = false;
		rl->throttled_ns += now_ns - rl->throttled_since;
	}
	return wait;
}

void rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, uint64_t now_ns)
{
	bucket_take(&rl->ops, ops, now_ns);
	bucket_take(&rl->bytes, bytes, now_ns);
}

uint64_t rate_limiter_throttled_ns(const struct rate_limiter *rl, uint64_t now_ns)
{
	return rl->throttled_ns + (rl->throttled ? now_ns - rl->throttled_since : 0);
}
