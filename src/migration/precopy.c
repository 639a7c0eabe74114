/*
 * Pre-copy driver. Round 0 sends every page that holds data; each later
 * round syncs the dirty log (which also re-arms write tracking for the
 * pages it reports) and sends those pages, zero pages included as ZERO
 * entries since the destination may hold an older copy. After each round
 * the policy decides; on stop the VM is paused, the log synced one last
 * time, and the rest goes out with the state, under the paused deadline
 * (policy_paused_budget_ns) that the handover's wait for RECEIVED shares.
 *
 * The destination may speak while we stream: ROUND_ACK after each round,
 * or FAILED when it refuses the VM (it then waits a few seconds for us to
 * notice). Listening is an explicit step here: before each part of a
 * round (policy_chunk_pages) and while catching up before the pause.
 *
 * Between parts the driver also samples how many pages the vCPUs have
 * dirtied (dirty rings count at any time): the highest rate over a short
 * window is what a vCPU dirties while it runs. When the policy says
 * throttle, each vCPU gets the share of sleep policy_throttle_pct()
 * gives it for its share of the dirtying, and the vCPU threads sleep
 * that much (vmm/vcpu.c). A rest that does not fit the limit is never
 * sent paused: the migration fails, or switches to post-copy.
 */
#include "migration/precopy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/log.h"
#include "migration/handover.h"
#include "migration/pages.h"
#include "migration/postcopy.h"
#include "migration/recio.h"
#include "migration/save.h"
#include "vmm/dirtyring.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/*
 * Before pausing, wait this long at most for the destination to have
 * applied everything sent so far (ROUND_ACK): what is still in socket
 * buffers would otherwise be drained during the downtime.
 */
#define CATCHUP_MAX_NS (2 * NSEC_PER_SEC)
/* Dirty counts are compared over windows at least this long. */
#define SAMPLE_MIN_NS (5 * NSEC_PER_MSEC)
/* A round sending less than this measures latency, not bandwidth. */
#define SMALL_ROUND_BYTES (4ULL << 20)

struct precopy {
	struct stream *s;
	struct vm *vm;
	const struct precopy_params *p;
	precopy_progress_fn progress;
	void *opaque;
	struct precopy_result *res;
	struct bitmap dirty;
	struct precopy_stats st;
	uint64_t rounds_acked; /* ROUND_ACK value + 1 */
	uint64_t rounds_sent;
	/* dirty rings: per-vCPU counts at the round's start; the sampler */
	uint64_t count0[VM_MAX_VCPUS];
	uint64_t sample_ns, sample_pages, peak_pps;
	unsigned int pct[VM_MAX_VCPUS]; /* each vCPU's throttle */
	uint64_t bandwidth_bps; /* the rate limit in force */
};

/* Pages all vCPUs dirtied since logging started (dirty rings only). */
static uint64_t dirty_count(struct precopy *pc)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < pc->vm->nr_vcpus; i++)
		n += dring_count(&pc->vm->vcpus[i]);
	return n;
}

static void sample_start(struct precopy *pc)
{
	unsigned int i;

	pc->peak_pps = 0;
	if (!vm_dirty_ring_on(pc->vm))
		return;
	for (i = 0; i < pc->vm->nr_vcpus; i++)
		pc->count0[i] = dring_count(&pc->vm->vcpus[i]);
	pc->sample_ns = time_mono_ns();
	pc->sample_pages = dirty_count(pc);
}

/* Between parts of a round: the rate over the last window, if long. */
static void sample(struct precopy *pc)
{
	uint64_t now, n, dt;

	if (!vm_dirty_ring_on(pc->vm))
		return;
	now = time_mono_ns();
	dt = now - pc->sample_ns;
	if (dt < SAMPLE_MIN_NS)
		return;
	n = dirty_count(pc);
	pc->peak_pps =
		MAX(pc->peak_pps, (n - pc->sample_pages) * NSEC_PER_SEC / dt);
	pc->sample_ns = now;
	pc->sample_pages = n;
}

/*
 * Hear the destination if it spoke (waiting up to timeout_ms): a
 * ROUND_ACK is noted; anything else is why it stops us (kept for the
 * caller's message). 0 to go on.
 */
static int listen_peer(struct precopy *pc, int timeout_ms)
{
	struct handover_msg m;
	char why[160];
	int r;

	r = stream_peer_wait(pc->s, timeout_ms);
	if (r <= 0)
		return r < 0 ? stream_set_error(pc->s, r) : 0;
	r = handover_recv(pc->s, &m, why, sizeof(why));
	if (r)
		return stream_set_error(pc->s, r == -EPIPE ? -ECONNABORTED : r);
	if (m.type == HANDOVER_ROUND_ACK) {
		pc->rounds_acked = MAX(pc->rounds_acked, m.value + 1);
		return 0;
	}
	pc->res->peer_msg = m;
	pc->res->have_peer_msg = true;
	return stream_set_error(pc->s, -ECONNABORTED);
}

/* Let the destination apply what is in flight before the pause. */
static int catch_up(struct precopy *pc)
{
	uint64_t start = time_mono_ns(), waited;
	int rc;

	while (pc->rounds_acked < pc->rounds_sent) {
		waited = time_mono_ns() - start;
		if (waited >= CATCHUP_MAX_NS) {
			log_debug(
				"destination did not acknowledge round %llu in time",
				(unsigned long long)pc->rounds_sent - 1);
			break;
		}
		rc = listen_peer(pc,
				 (CATCHUP_MAX_NS - waited) / NSEC_PER_MSEC + 1);
		if (rc)
			return rc;
	}
	pc->res->catchup_ns = time_mono_ns() - start;
	return 0;
}

static void live_set(uint64_t *field, uint64_t v)
{
	__atomic_store_n(field, v, __ATOMIC_RELAXED);
}

static void live_add(uint64_t *field, uint64_t v)
{
	__atomic_add_fetch(field, v, __ATOMIC_RELAXED);
}

/* The limits the owner may have changed since the last part. */
static void tune(struct precopy *pc)
{
	struct precopy_live *l = pc->p->counters;
	uint64_t bw;

	if (!l)
		return;
	pc->st.downtime_limit_ns =
		__atomic_load_n(&l->downtime_limit_ns, __ATOMIC_RELAXED);
	bw = __atomic_load_n(&l->bandwidth_bps, __ATOMIC_RELAXED);
	if (bw != pc->bandwidth_bps && !pc->res->paused)
		stream_set_rate_limit(pc->s, bw);
	pc->bandwidth_bps = bw;
}

/*
 * A part of a pass went out: publish its pages, and what the pass has
 * left (a first pass looks at every page, a later one at the dirty ones).
 */
static void live_part(struct precopy *pc, const struct page_stats *before,
		      const struct page_stats *after, uint64_t left)
{
	struct precopy_live *l = pc->p->counters;

	if (!l)
		return;
	live_add(&l->normal_pages, after->normal - before->normal);
	live_add(&l->zero_pages,
		 after->zero - before->zero + after->skipped - before->skipped);
	live_set(&l->pass_left, left);
}

/* Send which (NULL: every page with data) in parts, listening between. */
static int send_pages(struct precopy *pc, const struct bitmap *which,
		      unsigned int flags, struct page_stats *ps)
{
	uint64_t n = mem_nr_pages(&pc->vm->mem), first = 0;
	uint64_t step = policy_chunk_pages(pc->p->bandwidth_bps);
	uint64_t total = which ? bitmap_count(which) : n;
	struct page_stats before;
	int rc = 0;

	while (!rc && first < n) {
		/* A part with nothing to send costs nothing: skip to data. */
		if (which)
			first = bitmap_next_set(which, first) / step * step;
		if (first >= n)
			break;
		sample(pc);
		rc = listen_peer(pc, 0);
		tune(pc);
		before = *ps;
		if (!rc)
			rc = pages_send_range(pc->s, &pc->vm->mem, which, first,
					      first + step, flags, ps);
		first += step;
		live_part(pc, &before, ps,
			  which ? total - MIN(total, ps->normal + ps->zero) :
				  n - MIN(n, first));
	}
	live_part(pc, ps, ps, 0);
	return rc;
}

static int send_round(struct precopy *pc, const struct bitmap *which,
		      unsigned int flags, struct precopy_round *r)
{
	uint64_t t0 = time_mono_ns(), b0 = pc->s->offset;
	struct page_stats ps = { 0 };
	struct rec_round rec;
	int rc;

	sample_start(pc);
	rc = send_pages(pc, which, flags | PAGES_LIVE, &ps);
	sample(pc);
	if (rc)
		return rc;
	/* Sent: what is dirty from now on is the next sync's business. */
	bitmap_clear_all(&pc->dirty);
	r->pages_sent = ps.normal + ps.zero;
	r->duration_ns = MAX(time_mono_ns() - t0, 1ULL);
	r->bandwidth_bps = (pc->s->offset - b0) * NSEC_PER_SEC / r->duration_ns;
	pc->res->pages_sent += r->pages_sent;
	rec = (struct rec_round){ .round = r->round,
				  .pages_sent = r->pages_sent,
				  .duration_ns = r->duration_ns };
	pc->rounds_sent = r->round + 1;
	return rec_write_buf(pc->s, REC_ROUND, &rec, sizeof(rec));
}

/*
 * Add what was dirtied since the last sync to pc->dirty. The caller
 * clears the bitmap once its pages are on the wire; pages a stop
 * decision left unsent stay in it for the final copy.
 */
static int sync_dirty(struct precopy *pc, uint64_t *count)
{
	int rc;

	rc = vm_dirty_log_sync(pc->vm, &pc->dirty);
	if (rc)
		return stream_set_error(pc->s, rc);
	*count = bitmap_count(&pc->dirty);
	if (pc->p->counters)
		live_add(&pc->p->counters->dirty_syncs, 1);
	return 0;
}

/* The vCPUs' dirty rate while they run: the peak, else the round's. */
static uint64_t run_rate(struct precopy *pc)
{
	uint64_t rate = pc->st.dirty_rate_pps;

	if (pc->peak_pps)
		return pc->peak_pps;
	return rate * 100 / (100 - MIN(pc->st.throttle_pct, 99u));
}

/* Slow each vCPU by its share of the dirtying (policy_throttle_pct). */
static void throttle(struct precopy *pc, uint64_t bw_bps)
{
	struct throttle_in t = { .run_rate_pps = run_rate(pc),
				 .bandwidth_bps = bw_bps,
				 .nr_vcpus = pc->vm->nr_vcpus };
	uint64_t did[VM_MAX_VCPUS] = { 0 };
	unsigned int i, most = 0;

	/* Who did the dirtying this round (rings; else all alike). */
	for (i = 0; vm_dirty_ring_on(pc->vm) && i < pc->vm->nr_vcpus; i++) {
		did[i] = dring_count(&pc->vm->vcpus[i]) - pc->count0[i];
		t.total_pages += did[i];
	}
	for (i = 0; i < pc->vm->nr_vcpus; i++) {
		t.vcpu_pages = did[i];
		t.pct = pc->pct[i];
		pc->pct[i] = policy_throttle_pct(&t);
		vcpu_set_throttle(&pc->vm->vcpus[i], pc->pct[i]);
		most = MAX(most, pc->pct[i]);
	}
	pc->st.throttle_pct = most;
	pc->res->throttle_pct = MAX(pc->res->throttle_pct, most);
}

static void unthrottle(struct precopy *pc)
{
	unsigned int i;

	for (i = 0; i < pc->vm->nr_vcpus; i++)
		vcpu_set_throttle(&pc->vm->vcpus[i], 0);
}

/* The policy gave up: say why in one line. */
static int cannot_fit(struct precopy *pc)
{
	struct precopy_stats *st = &pc->st;

	snprintf(
		pc->res->why, sizeof(pc->res->why),
		"the guest dirties memory too fast to fit the downtime limit of %llu ms (%llu MiB still dirty after round %u, expected downtime %llu ms%s); the VM runs on here (--converge %s; a higher --downtime, or --converge auto or postcopy, can move it)",
		(unsigned long long)(st->downtime_limit_ns / NSEC_PER_MSEC),
		(unsigned long long)(st->dirty_pages * STREAM_PAGE_SIZE >> 20),
		st->round - 1,
		(unsigned long long)(MIN(precopy_expected_downtime_ns(st),
					 99999 * NSEC_PER_MSEC) /
				     NSEC_PER_MSEC),
		st->throttle_pct ? ", vCPUs throttled to the most" : "",
		precopy_converge_name(st->converge));
	return stream_set_error(pc->s, -ERANGE);
}

/*
 * The bandwidth to plan with: the round's, within --bandwidth (a round
 * smaller than a second's worth can burst past the limit), and for a
 * round too small to measure (latency, not bandwidth) the last good one.
 */
static uint64_t plan_bandwidth(struct precopy *pc,
			       const struct precopy_round *r)
{
	uint64_t bw = r->bandwidth_bps;

	if (r->pages_sent * STREAM_PAGE_SIZE < SMALL_ROUND_BYTES &&
	    pc->st.bandwidth_bps)
		bw = pc->st.bandwidth_bps;
	if (pc->p->bandwidth_bps)
		bw = MIN(bw, pc->p->bandwidth_bps);
	return bw;
}

/* After a round: measure, ask the policy, report. */
static int decide(struct precopy *pc, struct precopy_round *r,
		  enum precopy_action *action)
{
	struct precopy_stats *st = &pc->st;
	uint64_t dirty = 0;
	int rc;

	rc = sync_dirty(pc, &dirty);
	if (rc)
		return rc;
	tune(pc);
	st->round = r->round + 1;
	st->dirty_pages = dirty;
	st->sent_pages = r->pages_sent;
	st->bandwidth_bps = plan_bandwidth(pc, r);
	st->dirty_rate_pps = dirty * NSEC_PER_SEC / r->duration_ns;
	/* What the peak vCPU run rate makes of the time they run now. */
	st->peak_rate_pps = pc->peak_pps * (100 - st->throttle_pct) / 100;
	st->stalled_rounds = precopy_stall_count(st);
	*action = precopy_decide(st);
	if (*action == PRECOPY_THROTTLE)
		throttle(pc, st->bandwidth_bps);
	r->throttle_pct = st->throttle_pct;
	r->action = *action;
	r->pages_dirtied = dirty;
	r->dirty_rate_pps = st->dirty_rate_pps;
	r->remaining_pages = dirty;
	r->expected_downtime_ns = precopy_expected_downtime_ns(st);
	r->bytes_total = pc->s->offset;
	if (pc->p->counters) {
		live_set(&pc->p->counters->dirty_rate_pps, r->dirty_rate_pps);
		live_set(&pc->p->counters->pass, st->round);
		live_set(&pc->p->counters->pass_left, dirty);
	}
	pc->res->rounds = st->round;
	pc->res->expected_downtime_ns = r->expected_downtime_ns;
	if (pc->progress)
		pc->progress(pc->opaque, r);
	return 0;
}

static int precopy_rounds(struct precopy *pc)
{
	struct precopy_round r = { .round = 0 };
	enum precopy_action action = PRECOPY_CONTINUE;
	int rc;

	rc = vm_dirty_log_start(pc->vm);
	if (rc)
		return stream_set_error(pc->s, rc);
	/* The first pass is QEMU's first dirty sync: everything. */
	if (pc->p->counters)
		live_set(&pc->p->counters->dirty_syncs, 1);
	/* Round 0: everything with data; the destination starts zeroed. */
	rc = send_round(pc, NULL, 0, &r);
	while (!rc) {
		rc = decide(pc, &r, &action);
		if (rc ||
		    (action != PRECOPY_CONTINUE && action != PRECOPY_THROTTLE))
			break;
		r = (struct precopy_round){ .round = r.round + 1 };
		rc = send_round(pc, &pc->dirty, PAGES_ZERO_ENTRIES, &r);
	}
	pc->res->stop_reason = action;
	if (!rc && action == PRECOPY_FAIL)
		rc = cannot_fit(pc);
	if (!rc && action == PRECOPY_POSTCOPY && !pc->p->postcopy)
		rc = cannot_fit(pc);
	return rc;
}

static int step(struct precopy *pc, enum precopy_step st)
{
	int rc = pc->p->step ? pc->p->step(pc->p->step_opaque, st) : 0;

	return rc ? stream_set_error(pc->s, rc) : 0;
}

static int pause_vm(struct precopy *pc)
{
	int rc = vm_pause(pc->vm);

	pc->res->pause_mono_ns = time_mono_ns();
	pc->res->pause_real_ns = time_real_ns();
	/* Atomic: the monitor's loop thread reports "finish-migrate". */
	__atomic_store_n(&pc->res->paused, rc == 0, __ATOMIC_RELAXED);
	if (pc->p->counters)
		live_set(&pc->p->counters->precopy_bytes, pc->s->offset);
	return rc ? stream_set_error(pc->s, rc) : 0;
}

/* Guest RAM that holds data (allocated in the RAM memfd). */
static uint64_t data_bytes(struct vm *vm)
{
	struct stat st;

	if (fstat(vm->mem.memfd, &st) < 0)
		return vm->mem.size;
	return MIN((uint64_t)st.st_blocks * 512, vm->mem.size);
}

/*
 * From now until RECEIVED the VM waits paused for the network: bound it
 * (the deadline stays on the stream for the handover's first wait).
 */
static int paused_deadline(struct precopy *pc)
{
	struct paused_budget b = { .live = pc->p->live,
				   .downtime_limit_ns =
					   pc->st.downtime_limit_ns,
				   .margin_ns = pc->p->paused_margin_ns,
				   .data_bytes = data_bytes(pc->vm) };
	uint64_t budget = policy_paused_budget_ns(&b);
	char what[120];

	if (pc->p->live)
		snprintf(what, sizeof(what),
			 "the downtime limit of %llu ms plus a %llu ms margin",
			 (unsigned long long)(b.downtime_limit_ns /
					      NSEC_PER_MSEC),
			 (unsigned long long)(policy_paused_margin_ns(&b) /
					      NSEC_PER_MSEC));
	else
		snprintf(
			what, sizeof(what),
			"the paused-copy limit of %.1f s (%llu MiB at %llu MiB/s at least, plus a %llu ms margin)",
			budget / 1e9, (unsigned long long)(b.data_bytes >> 20),
			POLICY_PAUSED_FLOOR_BPS >> 20,
			(unsigned long long)(policy_paused_margin_ns(&b) /
					     NSEC_PER_MSEC));
	stream_set_deadline(pc->s, time_mono_ns() + budget, what);
	return 0;
}

/* With the VM paused: the last dirty pages (or all of them), then state. */
static int stop_and_copy(struct precopy *pc, struct dev_registry *devs)
{
	struct page_stats ps = { 0 };
	uint64_t dirty = 0;
	int rc;

	if (pc->p->live && pc->res->stop_reason == PRECOPY_POSTCOPY) {
		/* No pages now: the destination fetches the dirty regions. */
		rc = sync_dirty(pc, &dirty);
		if (!rc)
			rc = postcopy_src_switch(pc->p->postcopy, pc->s,
						 &pc->dirty);
		pc->res->postcopy = !rc;
	} else if (pc->p->live) {
		rc = sync_dirty(pc, &dirty);
		if (!rc)
			rc = send_pages(pc, &pc->dirty, PAGES_ZERO_ENTRIES,
					&ps);
	} else {
		rc = send_pages(pc, NULL, 0, &ps);
	}
	pc->res->final_pages = ps.normal + ps.zero;
	pc->res->pages_sent += pc->res->final_pages;
	log_debug(
		"downtime: final %llu pages sent at +%llu us",
		(unsigned long long)pc->res->final_pages,
		(unsigned long long)((time_mono_ns() - pc->res->pause_mono_ns) /
				     1000));
	if (!rc)
		rc = save_state(pc->s, pc->vm, devs);
	log_debug(
		"downtime: state sent at +%llu us",
		(unsigned long long)((time_mono_ns() - pc->res->pause_mono_ns) /
				     1000));
	return rc;
}

int precopy_send(struct stream *s, struct vm *vm, struct dev_registry *devs,
		 const char *config, uint32_t config_len,
		 const struct precopy_params *p, precopy_progress_fn progress,
		 void *opaque, struct precopy_result *res)
{
	struct precopy pc = { .s = s,
			      .vm = vm,
			      .p = p,
			      .progress = progress,
			      .opaque = opaque,
			      .res = res };
	uint64_t start = time_mono_ns(), off0 = s->offset;
	int rc;

	memset(res, 0, sizeof(*res));
	pc.st.downtime_limit_ns = p->downtime_limit_ns;
	pc.st.max_rounds = p->max_rounds;
	pc.st.converge = p->converge;
	pc.st.postcopy_now = p->postcopy_now;
	pc.bandwidth_bps = p->bandwidth_bps;
	rc = bitmap_init(&pc.dirty, mem_nr_pages(&vm->mem));
	if (rc)
		return stream_set_error(s, rc);
	stream_set_rate_limit(s, p->bandwidth_bps);
	tune(&pc);
	/* The first pass has every page ahead of it, from the start. */
	if (p->counters)
		live_set(&p->counters->pass_left, mem_nr_pages(&vm->mem));
	rc = save_header(s, vm, config, config_len,
			 (p->live ? STREAM_F_LIVE : 0) |
				 (p->leave_paused ? STREAM_F_PAUSED : 0));
	if (!rc && p->live)
		rc = precopy_rounds(&pc);
	if (!rc && p->live)
		rc = catch_up(&pc);
	res->precopy_ns = time_mono_ns() - start;
	if (!rc)
		rc = step(&pc, PRECOPY_STEP_PRE_SUSPEND);
	if (!rc)
		rc = pause_vm(&pc);
	/* Paused: the throttle has done its part (and is off if it fails). */
	unthrottle(&pc);
	if (!rc)
		rc = step(&pc, PRECOPY_STEP_POST_SUSPEND);
	if (!rc)
		rc = paused_deadline(&pc);
	/*
	 * The final copy stays within --bandwidth too: the policy measured
	 * the rest at the bandwidth rounds achieved under the same limit.
	 */
	if (!rc)
		rc = stop_and_copy(&pc, devs);
	/*
	 * Dirty logging stays on: turning it off rewrites the memory slots,
	 * which would lengthen the downtime. The caller stops it after the
	 * handover, or before resuming the VM after a failure.
	 */
	bitmap_destroy(&pc.dirty);
	res->bytes = s->offset - off0;
	return rc;
}
