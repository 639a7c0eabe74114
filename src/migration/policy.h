/*
 * Pre-copy convergence policy: a pure function of the measured state of a
 * live migration. It decides after each round whether to copy another
 * round while the guest runs, slow the guest down first, switch to
 * post-copy, give up (the source keeps running), or pause it and send
 * the rest now. The downtime limit is a ceiling, never exceeded by a
 * decision: the aim is the lowest downtime more rounds buy cheaply.
 * Unit-tested without KVM (tests/unit/migration/test_policy.c).
 */
#ifndef GODWIT_MIGRATION_POLICY_H
#define GODWIT_MIGRATION_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* What to do when pre-copy alone cannot fit the limit (--converge). */
enum precopy_converge {
	CONVERGE_THROTTLE, /* slow the vCPUs that dirty; then fail */
	CONVERGE_POSTCOPY, /* switch to post-copy at once */
	CONVERGE_AUTO, /* throttle; at the most throttle, post-copy */
	CONVERGE_NONE, /* neither: fail, the source runs on */
};

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
	/*
	 * The highest rate over a short window of the last round (dirty
	 * rings count at any time), 0 if unknown. A round's own rate
	 * understates a guest that dirtied all it ever does early in it.
	 */
	uint64_t peak_rate_pps;
	uint64_t downtime_limit_ns;
	unsigned int max_rounds;
	unsigned int stalled_rounds; /* rounds in a row that did not shrink */
	enum precopy_converge converge;
	unsigned int throttle_pct; /* the most throttled vCPU's throttle */
	bool postcopy_now; /* --postcopy: switch after round 0, always */
};

enum precopy_action {
	PRECOPY_CONTINUE, /* send another round, guest running */
	PRECOPY_STOP_FITS, /* pause and send the rest: within the limit */
	PRECOPY_THROTTLE, /* slow the dirtying vCPUs more, then a round */
	PRECOPY_POSTCOPY, /* pause, send the state, the rest on demand */
	PRECOPY_FAIL, /* it cannot fit: give up, the source runs on */
};

/* Rounds in a row without progress before giving up on converging. */
#define PRECOPY_STALL_ROUNDS 3
/* Another round is worth it if it shrinks the rest to this share. */
#define PRECOPY_SHRINK_NUM 3
#define PRECOPY_SHRINK_DEN 4
/*
 * The rest "fits" if its estimate takes at most this share of the limit:
 * the remainder covers what the estimate cannot see (a busy host, the
 * receiving side's pace, a bandwidth measured on a small round).
 */
#define PRECOPY_HEADROOM_NUM 3
#define PRECOPY_HEADROOM_DEN 4
/* Fixed part of the downtime: vCPU and device state, handover messages. */
#define PRECOPY_FIXED_NS 2000000ULL
/* A rest that crosses the wire in less than this is not worth a round. */
#define PRECOPY_SMALL_NS 1000000ULL

/* Downtime if the VM paused now: dirty pages at the measured bandwidth. */
uint64_t precopy_expected_downtime_ns(const struct precopy_stats *st);
/* Pages dirty after one more round, from the rate and the bandwidth. */
uint64_t precopy_next_rest(const struct precopy_stats *st);
enum precopy_action precopy_decide(const struct precopy_stats *st);
/* Update stalled_rounds after a round (pure helper for the driver). */
unsigned int precopy_stall_count(const struct precopy_stats *st);
const char *precopy_action_name(enum precopy_action a);
/* "throttle", "postcopy", "auto", "none"; and back (-EINVAL). */
const char *precopy_converge_name(enum precopy_converge c);
int precopy_converge_parse(const char *s, enum precopy_converge *out);

/*
 * The throttle: how much of its time each vCPU sleeps so that the guest
 * dirties at most half the bandwidth (each round then halves the rest).
 * Only vCPUs that do a fair share of the dirtying are slowed.
 */
#define POLICY_THROTTLE_MAX 99 /* percent: vmm/vcpu.h's VCPU_THROTTLE_MAX */
#define POLICY_THROTTLE_STEP 10 /* percent, at least, per increase */
#define POLICY_THROTTLE_TARGET_DIV 2 /* dirty rate aimed at: bw / this */

struct throttle_in {
	/*
	 * The guest's dirty rate while its vCPUs run, throttle aside: the
	 * peak over short windows (dirty rings), else the round's rate
	 * scaled up by the throttle that was on.
	 */
	uint64_t run_rate_pps;
	uint64_t bandwidth_bps;
	unsigned int pct; /* this vCPU's throttle now */
	uint64_t vcpu_pages; /* pages this vCPU dirtied in the round */
	uint64_t total_pages; /* by all vCPUs; 0: not known per vCPU */
	unsigned int nr_vcpus;
};

/* This vCPU's new throttle percentage (never lower than pct). */
unsigned int policy_throttle_pct(const struct throttle_in *t);

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
