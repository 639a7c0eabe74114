/*
 * The pre-copy policy, after Xen's simple_precopy_policy but driven by
 * measurements instead of fixed page counts: stop when the pages still
 * dirty would cross the wire within the downtime limit at the bandwidth
 * the last round achieved. Give up on converging when the dirty set has
 * stopped shrinking for a few rounds (the guest dirties memory as fast as
 * we send it), or at the round limit; in both cases the caller stops and
 * copies, and reports the real downtime.
 */
#include "migration/policy.h"

#include "common/clock.h"
#include "migration/format/stream_format.h"

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
	    st->dirty_pages > st->prev_dirty_pages - st->prev_dirty_pages / 8)
		return st->stalled_rounds + 1;
	return 0;
}

enum precopy_action precopy_decide(const struct precopy_stats *st)
{
	if (precopy_expected_downtime_ns(st) <= st->downtime_limit_ns)
		return PRECOPY_STOP_FITS;
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
