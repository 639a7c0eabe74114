/*
 * The pre-copy policy, after Xen's simple_precopy_policy but driven by
 * measurements instead of fixed page counts: stop when the pages still
 * dirty would cross the wire within the downtime limit at the bandwidth
 * the last round achieved, unless one more round is cheap and would at
 * least halve that wait. Give up on converging when the dirty set has
 * stopped shrinking for a few rounds (the guest dirties memory as fast as
 * we send it), or at the round limit; in both cases the caller stops and
 * copies, and reports the real downtime.
 */
#include "migration/policy.h"

#include <stdbool.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "format/stream_format.h"

uint64_t precopy_expected_downtime_ns(const struct precopy_stats *st)
{
	uint64_t bytes = st->dirty_pages * STREAM_PAGE_SIZE;

	if (!st->bandwidth_bps)
		return UINT64_MAX; /* nothing measured yet */
	/* Huge sets would overflow bytes * NSEC_PER_SEC: divide first. */
	if (bytes > UINT64_MAX / NSEC_PER_SEC)
		return bytes / st->bandwidth_bps * NSEC_PER_SEC +
		       PRECOPY_FIXED_NS;
	return bytes * NSEC_PER_SEC / st->bandwidth_bps + PRECOPY_FIXED_NS;
}

unsigned int precopy_stall_count(const struct precopy_stats *st)
{
	/* Shrinking by less than an eighth counts as no progress. */
	if (st->round >= 2 &&
	    st->dirty_pages > st->sent_pages - st->sent_pages / 8)
		return st->stalled_rounds + 1;
	return 0;
}

/*
 * The rest fits, but another round is worth its time: the rest is not
 * tiny, and the last round dirtied at most half of what it sent, so the
 * guest dirties at most half a page per page we send and the next rest
 * is at most half this one. Such a round costs about the downtime it
 * saves; an idle guest's rest after round 0 (a few thousand pages) then
 * shrinks to a handful instead of being sent with the guest paused.
 */
static bool another_round_pays(const struct precopy_stats *st,
			       uint64_t expected_ns)
{
	return st->round < st->max_rounds &&
	       expected_ns > PRECOPY_FIXED_NS + PRECOPY_SMALL_NS &&
	       st->dirty_pages <= st->sent_pages / 2;
}

enum precopy_action precopy_decide(const struct precopy_stats *st)
{
	uint64_t expected_ns = precopy_expected_downtime_ns(st);

	if (expected_ns <= st->downtime_limit_ns)
		return another_round_pays(st, expected_ns) ? PRECOPY_CONTINUE :
							     PRECOPY_STOP_FITS;
	if (st->round >= st->max_rounds)
		return PRECOPY_STOP_LIMIT;
	if (st->stalled_rounds >= PRECOPY_STALL_ROUNDS)
		return PRECOPY_STOP_STUCK;
	return PRECOPY_CONTINUE;
}

const char *precopy_action_name(enum precopy_action a)
{
	switch (a) {
	case PRECOPY_CONTINUE:
		return "continue";
	case PRECOPY_STOP_FITS:
		return "fits the downtime limit";
	case PRECOPY_STOP_LIMIT:
		return "round limit reached";
	default:
		return "not converging";
	}
}

uint64_t policy_paused_margin_ns(const struct paused_budget *b)
{
	if (b->margin_ns)
		return b->margin_ns;
	return MAX(POLICY_MARGIN_MIN_NS, b->downtime_limit_ns);
}

uint64_t policy_paused_budget_ns(const struct paused_budget *b)
{
	uint64_t copy_ns = b->downtime_limit_ns, floor_ns;

	if (!b->live) {
		/* Divide first: a terabyte times 1e9 overflows. */
		floor_ns =
			b->data_bytes / POLICY_PAUSED_FLOOR_BPS * NSEC_PER_SEC +
			b->data_bytes % POLICY_PAUSED_FLOOR_BPS * NSEC_PER_SEC /
				POLICY_PAUSED_FLOOR_BPS;
		copy_ns = MAX(copy_ns, floor_ns);
	}
	return copy_ns + policy_paused_margin_ns(b);
}

uint64_t policy_chunk_pages(uint64_t bandwidth_bps)
{
	uint64_t pages = bandwidth_bps / 4 / STREAM_PAGE_SIZE;

	if (!bandwidth_bps)
		return POLICY_CHUNK_PAGES_MAX;
	return MIN(MAX(pages, (uint64_t)POLICY_CHUNK_PAGES_MIN),
		   (uint64_t)POLICY_CHUNK_PAGES_MAX);
}

unsigned int policy_query_interval_ms(unsigned int attempt)
{
	return attempt >= 3 ? 5000 : 1000u << attempt;
}
