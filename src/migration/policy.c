/*
 * The pre-copy policy, after Xen's simple_precopy_policy but driven by
 * measurements instead of fixed page counts, in this order:
 *
 * 1. A rest that crosses the wire in a millisecond or so: stop. Nothing
 *    cheaper is to be had (unless the limit is lower still).
 * 2. Another round that shrinks the rest by a quarter or more (the guest
 *    dirties, while the rest is sent, at most 3/4 of what is sent):
 *    continue, even when the rest fits the limit already. The limit is a
 *    ceiling; light guests end with a few milliseconds, not with
 *    whatever round 0 left (which was the case: a third of the runs of a
 *    512 MiB guest with 64 MiB hot stopped after round 0 at 41-67 ms,
 *    the others 3-6 rounds later at 1-5 ms).
 * 3. The rest fits the limit: stop. "Fits" keeps a quarter of the limit
 *    in hand for what the estimate cannot see.
 * 4. It does not, and rounds do not shrink it: by --converge, slow the
 *    dirtying vCPUs (more), switch to post-copy, or fail with the source
 *    running. Never stop and copy over the limit. With nothing to try,
 *    a few rounds of patience first (a guest may calm down).
 *
 * (--postcopy asks for post-copy after round 0: then that, always.)
 *
 * Rates: the rest after a round is the dirty rate times the time its
 * pages take to send. A round's own rate understates a guest that
 * dirtied all it ever does early in the round; the peak rate over a
 * short window (counted with dirty rings) does not.
 */
#include "migration/policy.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

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

uint64_t precopy_next_rest(const struct precopy_stats *st)
{
	uint64_t rate = MAX(st->dirty_rate_pps, st->peak_rate_pps);
	uint64_t bw_pps = st->bandwidth_bps / STREAM_PAGE_SIZE;

	unsigned __int128 next;

	if (!bw_pps)
		return UINT64_MAX;
	/* rate * (dirty / bw_pps) seconds, saturated below "unknown". */
	next = (unsigned __int128)rate * st->dirty_pages / bw_pps;
	return next >= UINT64_MAX ? UINT64_MAX - 1 : (uint64_t)next;
}

static bool round_shrinks(const struct precopy_stats *st)
{
	uint64_t next = precopy_next_rest(st);

	return st->round < st->max_rounds && next != UINT64_MAX &&
	       next / PRECOPY_SHRINK_NUM <=
		       st->dirty_pages / PRECOPY_SHRINK_DEN;
}

/* Over the limit, and rounds alone do not bring it down. */
static enum precopy_action over_limit(const struct precopy_stats *st)
{
	bool can_throttle = st->converge == CONVERGE_THROTTLE ||
			    st->converge == CONVERGE_AUTO;
	bool can_switch = st->converge == CONVERGE_POSTCOPY ||
			  st->converge == CONVERGE_AUTO;

	if (st->round >= st->max_rounds)
		return can_switch ? PRECOPY_POSTCOPY : PRECOPY_FAIL;
	if (can_throttle && st->throttle_pct < POLICY_THROTTLE_MAX)
		return PRECOPY_THROTTLE;
	if (st->converge == CONVERGE_POSTCOPY)
		return PRECOPY_POSTCOPY;
	if (st->stalled_rounds < PRECOPY_STALL_ROUNDS)
		return PRECOPY_CONTINUE;
	return can_switch ? PRECOPY_POSTCOPY : PRECOPY_FAIL;
}

enum precopy_action precopy_decide(const struct precopy_stats *st)
{
	uint64_t expected_ns = precopy_expected_downtime_ns(st);

	uint64_t fits_ns = st->downtime_limit_ns / PRECOPY_HEADROOM_DEN *
			   PRECOPY_HEADROOM_NUM;

	if (st->postcopy_now)
		return PRECOPY_POSTCOPY;
	/* Nothing cheaper to be had, but never past the ceiling. */
	if (expected_ns <= MIN(PRECOPY_FIXED_NS + PRECOPY_SMALL_NS, fits_ns))
		return PRECOPY_STOP_FITS;
	if (round_shrinks(st))
		return PRECOPY_CONTINUE;
	if (expected_ns <= fits_ns)
		return PRECOPY_STOP_FITS;
	return over_limit(st);
}

const char *precopy_action_name(enum precopy_action a)
{
	switch (a) {
	case PRECOPY_CONTINUE:
		return "continue";
	case PRECOPY_STOP_FITS:
		return "fits the downtime limit";
	case PRECOPY_THROTTLE:
		return "throttle";
	case PRECOPY_POSTCOPY:
		return "post-copy";
	default:
		return "does not fit the downtime limit";
	}
}

static const char *const converge_names[] = { "throttle", "postcopy", "auto",
					      "none" };

const char *precopy_converge_name(enum precopy_converge c)
{
	return (unsigned int)c < ARRAY_SIZE(converge_names) ?
		       converge_names[c] :
		       "?";
}

int precopy_converge_parse(const char *s, enum precopy_converge *out)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(converge_names); i++) {
		if (!strcmp(s, converge_names[i])) {
			*out = (enum precopy_converge)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A vCPU that did less than a quarter of an even share: not a dirtier. */
static bool is_dirtier(const struct throttle_in *t)
{
	return !t->total_pages ||
	       t->vcpu_pages * 4 * MAX(t->nr_vcpus, 1u) >= t->total_pages;
}

unsigned int policy_throttle_pct(const struct throttle_in *t)
{
	uint64_t target = t->bandwidth_bps / STREAM_PAGE_SIZE /
			  POLICY_THROTTLE_TARGET_DIV;
	uint64_t now = t->run_rate_pps * (100 - MIN(t->pct, 100u)) / 100;
	uint64_t pct;

	if (now <= target || !is_dirtier(t))
		return t->pct;
	/* The guest dirties in proportion to the share of time it runs. */
	pct = 100 - MIN(100 * target / t->run_rate_pps, 100ULL);
	pct = MAX(pct, (uint64_t)t->pct + POLICY_THROTTLE_STEP);
	return MIN(pct, (uint64_t)POLICY_THROTTLE_MAX);
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
