/* --compress auto's decision; compress_policy.h says the model. */
#include "migration/compress_policy.h"

uint64_t compress_expected_bps(const struct compress_rates *r)
{
	uint64_t link;

	if (!r->send_bps || !r->comp_bps || !r->ratio_pct)
		return 0;
	/* What the link carries is ratio_pct of what it stands for. */
	link = r->send_bps * 100 / r->ratio_pct;
	return link < r->comp_bps ? link : r->comp_bps;
}

bool compress_worth_it(const struct compress_rates *r)
{
	if (!r->send_bps)
		return false;
	if (!r->comp_bps || !r->ratio_pct)
		return true;
	return compress_expected_bps(r) * 100 >
	       r->send_bps * (100 + COMPRESS_MIN_GAIN_PCT);
}

bool compress_next_window(const struct compress_rates *r, bool current,
			  unsigned int windows, unsigned int every)
{
	bool want = compress_worth_it(r);

	if (want == current && windows >= every)
		return !current;
	return want;
}

unsigned int compress_probe_interval(unsigned int every, bool changed)
{
	if (changed || every < COMPRESS_PROBE_EVERY)
		return COMPRESS_PROBE_EVERY;
	return every * 2 > COMPRESS_PROBE_MAX ? COMPRESS_PROBE_MAX : every * 2;
}
