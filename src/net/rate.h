/*
 * A transmit rate limit (xl's vif rate=): a token bucket, pure and
 * clock-free (the caller passes the time), so its behaviour is unit
 * tested to the byte.
 *
 * Credit accrues continuously at bytes_per_s and is capped at one
 * interval's worth, or at RATE_BURST_MIN if that is more (as Xen's
 * netback allows a 128 KiB burst: a limit below one large frame per
 * interval must not stop the interface for good). A frame goes when
 * the credit covers it and takes its size from the credit; otherwise
 * the caller waits for the time rate_take() returns and asks again.
 */
#ifndef GODWIT_NET_RATE_H
#define GODWIT_NET_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define RATE_BURST_MIN (128u * 1024)

struct rate_bucket {
	uint64_t bytes_per_s; /* 0: no limit */
	uint64_t cap; /* most credit ever held, bytes */
	uint64_t credit; /* bytes that may go now */
	uint64_t last_ns; /* when credit was last brought up to date */
	uint64_t carry; /* accrual remainder, bytes * 1e9 (no drift) */
};

/*
 * A bucket for bytes_per_s (0: unlimited) with a credit interval of
 * interval_us, full at now_ns (a guest may start with a burst).
 */
void rate_init(struct rate_bucket *b, uint64_t bytes_per_s,
	       uint32_t interval_us, uint64_t now_ns);
/*
 * May len bytes go at now_ns? 0: yes, and the credit is taken. Else the
 * nanoseconds until the credit will cover them (nothing is taken).
 * Time that goes backwards counts as none.
 */
uint64_t rate_take(struct rate_bucket *b, uint64_t len, uint64_t now_ns);
static inline bool rate_limited(const struct rate_bucket *b)
{
	return b->bytes_per_s != 0;
}

#endif
