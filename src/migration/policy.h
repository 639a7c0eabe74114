/*
 * Pre-copy convergence policy: a pure function of the measured state of a
 * live migration. It decides after each round whether to copy another
 * round while the guest runs, or to pause it and send the rest now.
 * Unit-tested without KVM (tests/unit/migration/test_policy.c).
 */
#ifndef GODWIT_MIGRATION_POLICY_H
#define GODWIT_MIGRATION_POLICY_H

#include <stdint.h>

/* What the driver measured; rates are per second of wall time. */
struct precopy_stats {
	unsigned int round; /* rounds completed, round 0 included */
	uint64_t dirty_pages; /* dirty now: what the next step sends */
	/*
	 * What the last round sent: after round 0 every page with data,
	 * after a later round the pages dirty at the decision before it.
	 */
	uint64_t sent_pages;
	uint64_t bandwidth_bps; /* bytes/s achieved in the last round */
	uint64_t dirty_rate_pps; /* pages/s dirtied during the last round */
	uint64_t downtime_limit_ns;
	unsigned int max_rounds;
	unsigned int stalled_rounds; /* rounds in a row that did not shrink */
};

enum precopy_action {
	PRECOPY_CONTINUE, /* send another round, guest running */
	PRECOPY_STOP_FITS, /* the rest fits the downtime limit */
	PRECOPY_STOP_LIMIT, /* max rounds reached: stop and copy anyway */
	PRECOPY_STOP_STUCK, /* not converging: more rounds would not help */
};

/* Rounds in a row without progress before giving up on converging. */
#define PRECOPY_STALL_ROUNDS 3
/* Fixed part of the downtime: vCPU and device state, handover messages. */
#define PRECOPY_FIXED_NS 2000000ULL
/* A rest that crosses the wire in less than this is not worth a round. */
#define PRECOPY_SMALL_NS 1000000ULL

/* Downtime if the VM paused now: dirty pages at the measured bandwidth. */
uint64_t precopy_expected_downtime_ns(const struct precopy_stats *st);
enum precopy_action precopy_decide(const struct precopy_stats *st);
/* Update stalled_rounds after a round (pure helper for the driver). */
unsigned int precopy_stall_count(const struct precopy_stats *st);
const char *precopy_action_name(enum precopy_action a);

#endif
