/*
 * The sending side of a migration: the whole stream of a running VM over
 * a connected stream. Live: pre-copy rounds while the guest runs (KVM's
 * dirty log decides what each round sends, policy.c when to stop), then
 * pause and send the rest and the machine state. Not live: pause first.
 * Straight-line on the caller's thread; the VM is left paused on return
 * (success or failure), with dirty logging still on: the caller does the
 * handover, or stops logging (mem_dirty_log_stop) and resumes the VM.
 * From the final copy on, the stream carries the paused deadline; the
 * caller's wait for RECEIVED is bounded by it too.
 */
#ifndef GODWIT_MIGRATION_PRECOPY_H
#define GODWIT_MIGRATION_PRECOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "format/stream_format.h"
#include "migration/policy.h"
#include "migration/transport/stream.h"

struct vm;
struct postcopy_src;

/* Points in precopy_send() where the caller may act (or veto). */
enum precopy_step {
	PRECOPY_STEP_PRE_SUSPEND, /* pre-copy is over; the VM still runs */
	PRECOPY_STEP_POST_SUSPEND, /* the VM is paused; the rest not sent */
};

/*
 * Called on the migration thread at each step; non-zero aborts the
 * migration with that -errno (the VM is left paused if it was).
 */
typedef int (*precopy_step_fn)(void *opaque, enum precopy_step step);

/*
 * Counters the migration thread publishes as it goes, part by part of
 * each pass (relaxed atomic stores), so that another thread can report
 * progress within a round (query-migrate) without a lock. Cumulative
 * over the migration unless said otherwise.
 */
struct precopy_live {
	uint64_t normal_pages; /* sent with their data */
	uint64_t zero_pages; /* found zero: sent as ZERO entries or left out */
	uint64_t dirty_syncs; /* dirty log syncs, the first pass counting 1 */
	uint64_t pass; /* current pass: 0 the first, then each round */
	uint64_t pass_left; /* pages the current pass has still to look at */
	uint64_t dirty_rate_pps; /* measured at the latest sync */
	uint64_t precopy_bytes; /* stream bytes sent while the guest ran */
	/*
	 * The other way: limits the owner may change while it runs
	 * (migrate-set-parameters), read before each part of a pass and
	 * at each decision. The owner sets both before precopy_send; the
	 * migration's params are not used for these when counters is set.
	 */
	uint64_t downtime_limit_ns;
	uint64_t bandwidth_bps; /* 0: unlimited */
};

struct precopy_params {
	bool live;
	/* 0: unlimited; also the final copy's (the downtime counts it). */
	uint64_t bandwidth_bps;
	bool leave_paused; /* STREAM_F_PAUSED: the destination keeps it paused */
	uint64_t downtime_limit_ns;
	unsigned int max_rounds;
	enum precopy_converge converge; /* when rounds alone do not fit */
	bool postcopy_now; /* switch to post-copy after round 0 */
	/* Margin on the downtime limit for the paused phase; 0: default. */
	uint64_t paused_margin_ns;
	precopy_step_fn step; /* NULL: no step callback */
	void *step_opaque;
	/*
	 * Listening for a post-copy destination (postcopy_src_listen()), or
	 * NULL: the policy's post-copy then fails the migration instead.
	 */
	struct postcopy_src *postcopy;
	struct precopy_live *counters; /* NULL: not published */
};

/* One round's figures, as the progress hook and query-migrate see them. */
struct precopy_round {
	unsigned int round;
	uint64_t pages_sent;
	uint64_t pages_dirtied; /* during this round */
	uint64_t duration_ns;
	uint64_t bandwidth_bps;
	uint64_t dirty_rate_pps;
	uint64_t expected_downtime_ns;
	uint64_t remaining_pages; /* dirty after the round */
	uint64_t bytes_total; /* stream bytes so far */
	/* The most throttled vCPU, for the next round (QEMU's
	 * cpu-throttle-percentage). */
	unsigned int throttle_pct;
	enum precopy_action action; /* what the policy decided */
};

struct precopy_result {
	unsigned int rounds; /* pre-copy rounds, round 0 included */
	uint64_t pages_sent; /* all rounds and the final copy */
	uint64_t final_pages; /* sent while paused */
	uint64_t bytes;
	uint64_t expected_downtime_ns;
	enum precopy_action stop_reason;
	unsigned int throttle_pct; /* the most it reached */
	bool postcopy; /* the stream switched: serve the rest after YOURS */
	char why[200]; /* PRECOPY_FAIL: why it cannot fit, one line */
	uint64_t pause_mono_ns; /* when the VM was paused */
	uint64_t pause_real_ns; /* the same in CLOCK_REALTIME (handover) */
	uint64_t precopy_ns; /* start until the pause */
	bool paused; /* precopy_send paused the VM (undo it) */
	/* What the destination said when it stopped us, if it did. */
	bool have_peer_msg;
	struct handover_msg peer_msg;
	uint64_t catchup_ns; /* waiting for the destination to catch up */
};

/* Called on the migration thread after each round. */
typedef void (*precopy_progress_fn)(void *opaque,
				    const struct precopy_round *r);

int precopy_send(struct stream *s, struct vm *vm, struct dev_registry *devs,
		 const char *config, uint32_t config_len,
		 const struct precopy_params *p, precopy_progress_fn progress,
		 void *opaque, struct precopy_result *res) __must_check;

#endif
