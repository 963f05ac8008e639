/*
 * Token-bucket rate limits for devices (--disk ...,iops=,bps=; --net
 * ...,pps=,bps=): the device asks before it takes the next request from
 * the guest and defers it while the limit says wait; nothing is dropped.
 *
 * Each bucket refills at its rate and holds at most RATE_LIMIT_WINDOW_MS
 * worth of tokens, plus a one-time burst that is spent first and never
 * refills.  A request may overdraw the bucket (a 1 MiB write under a 64 KiB/s
 * cap goes through, then nothing for 16 s): the average over time is the
 * rate whatever the request sizes, and no request is too large to pass.
 * Rate 0 means no limit for that bucket.
 */
#ifndef KVMRUN_RATELIMIT_H
#define KVMRUN_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATE_LIMIT_WINDOW_MS	20	/* refilled tokens kept at most: this long at the rate */

struct token_bucket {
	uint64_t rate;		/* tokens per second, 0: unlimited */
	uint64_t burst;		/* one-time burst left (spent first, not refilled) */
	int64_t tokens;		/* refilled tokens; negative: debt from an overdraw */
	uint64_t last_ns;	/* when tokens were last brought up to date */
};

/* What a device is limited to: operations (requests, frames) and bytes. */
struct rate_limit_params {
	uint64_t ops, bytes;		/* per second, 0: unlimited */
	uint64_t ops_burst, bytes_burst;	/* one-time extra */
};

struct rate_limiter {
	struct token_bucket ops, bytes;
	/* Statistics: time a device had work waiting for tokens, how often it waited. */
	uint64_t throttled_ns, throttled_since, throttle_events;
	bool throttled;
};

static inline bool rate_limit_params_set(const struct rate_limit_params *p)
{
	return p->ops || p->bytes;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limit_params *p,
		       uint64_t now_ns);
/* New limits, keeping the statistics (the control socket); the buckets start full. */
void rate_limiter_set(struct rate_limiter *rl, const struct rate_limit_params *p,
		      uint64_t now_ns);
/*
 * May the device take a request now?  0: yes; else the nanoseconds until it
 * may (the device arms a timer and stops taking requests; the time counts
 * as throttled).
 */
uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t now_ns);
/* The device took a request of this many operations and bytes. */
void rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, uint64_t now_ns);
/* Throttled time so far, including a wait in progress. */
uint64_t rate_limiter_throttled_ns(const struct rate_limiter *rl, uint64_t now_ns);

#endif
