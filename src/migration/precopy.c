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
#include "migration/recio.h"
#include "migration/save.h"
#include "vmm/vm.h"

/*
 * Before pausing, wait this long at most for the destination to have
 * applied everything sent so far (ROUND_ACK): what is still in socket
 * buffers would otherwise be drained during the downtime.
 */
#define CATCHUP_MAX_NS (2 * NSEC_PER_SEC)

struct precopy {
	struct stream *s;
	struct vm *vm;
	const struct precopy_params *p;
	precopy_progress_fn progress;
	void *opaque;
	struct precopy_result *res;
	struct bitmap dirty;
	struct precopy_stats st;
	struct multiconn_tx mc; /* the extra connections, if any */
	uint64_t rounds_acked; /* ROUND_ACK value + 1 */
	uint64_t rounds_sent;
};

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

/* Send which (NULL: every page with data) in parts, listening between. */
static int send_pages(struct precopy *pc, const struct bitmap *which,
		      unsigned int flags, struct page_stats *ps)
{
	uint64_t n = mem_nr_pages(&pc->vm->mem), first = 0;
	uint64_t step = policy_chunk_pages(pc->p->bandwidth_bps);
	int rc, rc2;

	/* Over several connections, smaller parts spread the pages. */
	if (pc->mc.count > 1)
		step = MAX(step / pc->mc.count, (uint64_t)PAGE_BATCH_MAX);
	rc = multiconn_tx_begin(&pc->mc, pc->s, &pc->vm->mem, which, flags, 0,
				n, step);
	while (!rc && first < n) {
		/* A part with nothing to send costs nothing: skip to data. */
		if (which)
			first = bitmap_next_set(which, first) / step * step;
		if (first >= n)
			break;
		if (!multiconn_tx_mine(&pc->mc, first / step)) {
			first += step;
			continue;
		}
		rc = listen_peer(pc, 0);
		if (!rc)
			rc = pages_send_range(pc->s, &pc->vm->mem, which, first,
					      first + step, flags, ps);
		first += step;
	}
	rc2 = multiconn_tx_join(&pc->mc, pc->s, ps);
	return rc ? rc : rc2;
}

static int send_round(struct precopy *pc, const struct bitmap *which,
		      unsigned int flags, struct precopy_round *r)
{
	uint64_t t0 = time_mono_ns(), b0 = pc->s->offset;
	struct page_stats ps = { 0 };
	struct rec_round rec;
	int rc;

	rc = send_pages(pc, which, flags | PAGES_LIVE, &ps);
	if (rc)
		return rc;
	/* Sent: what is dirty from now on is the next sync's business. */
	bitmap_clear_all(&pc->dirty);
	r->pages_sent = ps.normal + ps.zero;
	r->duration_ns = MAX(time_mono_ns() - t0, 1ULL);
	/* Pages per second, compressed or not: what the policy weighs. */
	r->bandwidth_bps = MAX(pc->s->offset - b0, ps.normal * PAGE_SIZE) *
			   NSEC_PER_SEC / r->duration_ns;
	pc->res->pages_sent += r->pages_sent;
	rec = (struct rec_round){ .round = r->round,
				  .pages_sent = r->pages_sent,
				  .duration_ns = r->duration_ns };
	pc->rounds_sent = r->round + 1;
	if (multiconn_tx_round(&pc->mc, pc->s, r->round))
		return pc->s->error;
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

	rc = mem_dirty_log_sync(&pc->vm->mem, &pc->dirty);
	if (rc)
		return stream_set_error(pc->s, rc);
	*count = bitmap_count(&pc->dirty);
	return 0;
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
	st->round = r->round + 1;
	st->dirty_pages = dirty;
	st->sent_pages = r->pages_sent;
	st->bandwidth_bps = r->bandwidth_bps;
	st->dirty_rate_pps = dirty * NSEC_PER_SEC / r->duration_ns;
	st->stalled_rounds = precopy_stall_count(st);
	*action = precopy_decide(st);
	r->pages_dirtied = dirty;
	r->dirty_rate_pps = st->dirty_rate_pps;
	r->remaining_pages = dirty;
	r->expected_downtime_ns = precopy_expected_downtime_ns(st);
	r->bytes_total = pc->s->offset;
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

	rc = mem_dirty_log_start(&pc->vm->mem);
	if (rc)
		return stream_set_error(pc->s, rc);
	/* Round 0: everything with data; the destination starts zeroed. */
	rc = send_round(pc, NULL, 0, &r);
	while (!rc) {
		rc = decide(pc, &r, &action);
		if (rc || action != PRECOPY_CONTINUE)
			break;
		r = (struct precopy_round){ .round = r.round + 1 };
		rc = send_round(pc, &pc->dirty, PAGES_ZERO_ENTRIES, &r);
	}
	pc->res->stop_reason = action;
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
					   pc->p->downtime_limit_ns,
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

	if (pc->p->live) {
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
		rc = multiconn_tx_finish(&pc->mc, pc->s);
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
	struct stream_header hdr;
	int rc;

	memset(res, 0, sizeof(*res));
	pc.st.downtime_limit_ns = p->downtime_limit_ns;
	pc.st.max_rounds = p->max_rounds;
	rc = bitmap_init(&pc.dirty, mem_nr_pages(&vm->mem));
	if (rc)
		return stream_set_error(s, rc);
	stream_set_rate_limit(s, p->bandwidth_bps);
	rc = compress_attach(s, p->compress);
	if (!rc)
		rc = save_header_get(
			s, vm, config, config_len,
			p->live || p->connections > 1 ? STREAM_F_LIVE : 0,
			&hdr);
	if (!rc)
		rc = multiconn_tx_open(&pc.mc, s, &hdr, p->connections,
				       p->compress, p->connect,
				       p->connect_opaque);
	if (!rc && p->live)
		rc = precopy_rounds(&pc);
	if (!rc && p->live)
		rc = catch_up(&pc);
	res->precopy_ns = time_mono_ns() - start;
	if (!rc)
		rc = step(&pc, PRECOPY_STEP_PRE_SUSPEND);
	if (!rc)
		rc = pause_vm(&pc);
	if (!rc)
		rc = step(&pc, PRECOPY_STEP_POST_SUSPEND);
	if (!rc)
		rc = paused_deadline(&pc);
	/* The final copy is not rate limited: the guest is waiting. */
	stream_set_rate_limit(s, 0);
	if (!rc)
		rc = stop_and_copy(&pc, devs);
	/*
	 * Dirty logging stays on: turning it off rewrites the memory slots,
	 * which would lengthen the downtime. The caller stops it after the
	 * handover, or before resuming the VM after a failure.
	 */
	bitmap_destroy(&pc.dirty);
	compress_detach(s, &res->compress);
	res->bytes =
		s->offset - off0 + multiconn_tx_close(&pc.mc, &res->compress);
	return rc;
}
