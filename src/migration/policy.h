/*
 * Pre-copy convergence policy: a pure function of the measured state of a
 * live migration. It decides after each round whether to copy another
 * round while the guest runs, or to pause it and send the rest now.
 * Unit-tested without KVM (tests/unit/migration/test_policy.c).
 */
#ifndef GODWIT_MIGRATION_POLICY_H
#define GODWIT_MIGRATION_POLICY_H

#include <stdbool.h>
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

/*
 * Deadlines of a migration's paused phase and of settling a handover:
 * pure functions, unit-tested like the convergence policy.
 */

/* The default margin on top of the downtime limit: max(1 s, limit). */
#define POLICY_MARGIN_MIN_NS (1000ULL * 1000 * 1000)
/* A paused copy (--no-live) is allowed this bandwidth at least. */
#define POLICY_PAUSED_FLOOR_BPS (16ULL << 20)
/* Pages sent between two looks at the destination, at most. */
#define POLICY_CHUNK_PAGES_MAX 4096u
#define POLICY_CHUNK_PAGES_MIN 256u

struct paused_budget {
	bool live; /* pre-copy ran: only the rest is sent paused */
	uint64_t downtime_limit_ns;
	uint64_t margin_ns; /* 0: the default, max(1 s, downtime limit) */
	uint64_t data_bytes; /* not live: guest RAM that holds data */
};

/* The margin a budget gets (its own, or the default). */
uint64_t policy_paused_margin_ns(const struct paused_budget *b);
/*
 * How long the VM may stay paused at the source, from the start of the
 * final copy until the destination says RECEIVED. Live: the downtime
 * limit plus the margin. Not live (everything is copied paused): the
 * time data_bytes take at POLICY_PAUSED_FLOOR_BPS, if longer than the
 * limit, plus the margin.
 */
uint64_t policy_paused_budget_ns(const struct paused_budget *b);
/*
 * Pages to send between two looks at the destination (which may refuse
 * the VM meanwhile and waits only so long for us to notice): a quarter
 * second's worth at a bandwidth limit (0: none), within the bounds above.
 */
uint64_t policy_chunk_pages(uint64_t bandwidth_bps);
/*
 * Milliseconds before QUERY attempt n (0 = the first retry): 1 s,
 * doubling, at most 5 s.
 */
unsigned int policy_query_interval_ms(unsigned int attempt);

#endif
