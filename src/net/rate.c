/*
 * The transmit token bucket (rate.h). Integer arithmetic only: the
 * credit that accrues in an interval is bytes_per_s * ns / 1e9, with the
 * remainder carried, so a long run neither gains nor loses a byte.
 */
#include "net/rate.h"

#define NS_PER_S 1000000000ULL

void rate_init(struct rate_bucket *b, uint64_t bytes_per_s,
	       uint32_t interval_us, uint64_t now_ns)
{
	uint64_t per_interval = bytes_per_s / 1000000 * interval_us +
				bytes_per_s % 1000000 * interval_us / 1000000;

	b->bytes_per_s = bytes_per_s;
	b->cap = per_interval > RATE_BURST_MIN ? per_interval : RATE_BURST_MIN;
	b->credit = b->cap;
	b->last_ns = now_ns;
	b->carry = 0;
}

/* Bring the credit up to now_ns. */
static void rate_refill(struct rate_bucket *b, uint64_t now_ns)
{
	uint64_t dt, whole, part;
	unsigned __int128 acc;

	if (now_ns <= b->last_ns)
		return;
	dt = now_ns - b->last_ns;
	b->last_ns = now_ns;
	if (b->credit >= b->cap) {
		b->carry = 0;
		return;
	}
	acc = (unsigned __int128)dt * b->bytes_per_s + b->carry;
	whole = acc / NS_PER_S > b->cap ? b->cap : (uint64_t)(acc / NS_PER_S);
	part = (uint64_t)(acc % NS_PER_S);
	b->credit = b->cap - b->credit <= whole ? b->cap : b->credit + whole;
	b->carry = b->credit == b->cap ? 0 : part;
}

uint64_t rate_take(struct rate_bucket *b, uint64_t len, uint64_t now_ns)
{
	unsigned __int128 need;

	if (!b->bytes_per_s)
		return 0;
	rate_refill(b, now_ns);
	if (len > b->cap)
		len = b->cap; /* a frame beyond the cap goes on a full bucket */
	if (b->credit >= len) {
		b->credit -= len;
		return 0;
	}
	/* ceil(((len - credit) * 1e9 - carry) / rate), at least 1 ns */
	need = (unsigned __int128)(len - b->credit) * NS_PER_S - b->carry;
	need = (need + b->bytes_per_s - 1) / b->bytes_per_s;
	return need ? (uint64_t)need : 1;
}
