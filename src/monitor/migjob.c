/*
 * `migrate`: live migration to another host's godwit, on a thread of its
 * own (the commands that start, cancel, resolve and query it are in
 * migcmd.c). Progress comes as MIGRATION_PASS events and query-migrate,
 * the outcome as MIGRATION events. This file is the job's glue:
 * precopy.c sends the VM, handover.c hands it over, query.c settles a
 * handover nobody confirmed.
 *
 * Ownership (docs/stream-format.md, "Migration handover"): until YOURS is
 * sent, any failure resumes the VM here. After YOURS a closed or reset
 * connection proves nothing about the destination's process (a relay or
 * a firewall may have done it), so only the destination's word settles
 * the VM here: CONFIRMED (it runs there: this process ends), FAILED or a
 * DISCARDED answer (resume here). Without it the VM stays paused,
 * "unconfirmed", the thread asks the destination (QUERY) until it knows,
 * and the operator may decide instead (migrate-resolve).
 */
#include "monitor/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "migration/handover.h"
#include "migration/query.h"
#include "rpc/msg_migrate.h"

#define MIG_QUERY_ATTEMPT_MS 2000 /* connect and answer, per QUERY */

/* The monitor's status words are the protocol's (rpc/msg_migrate.h). */
_Static_assert((int)MIG_NONE == (int)RPC_MIG_NONE &&
		       (int)MIG_ACTIVE == (int)RPC_MIG_ACTIVE &&
		       (int)MIG_COMPLETED == (int)RPC_MIG_COMPLETED &&
		       (int)MIG_FAILED == (int)RPC_MIG_FAILED &&
		       (int)MIG_UNCONFIRMED == (int)RPC_MIG_UNCONFIRMED,
	       "mig_status");

/* ---- progress: migration thread -> loop thread ---- */

struct mig_round_note {
	struct monitor *m;
	struct precopy_round r;
};

/* MIGRATION_PASS's data (rpc/msg_migrate.h). */
static struct json_object *round_json(const struct precopy_round *r)
{
	struct rpc_mig_round e = {
		.round = r->round,
		.pages_sent = r->pages_sent,
		.pages_dirtied = r->pages_dirtied,
		.mbps = r->bandwidth_bps / 1e6,
		.dirty_mbps = r->dirty_rate_pps * 4096 / 1e6,
		.duration_ms = r->duration_ns / 1e6,
		.expected_downtime_ms = r->expected_downtime_ns / 1e6,
	};

	return rpc_msg_encode(&rpc_msg_mig_round, &e);
}

static void mig_round_on_loop(struct evloop *loop, void *opaque)
{
	struct mig_round_note *p = opaque;

	p->m->mig_info.last = p->r;
	monitor_event(p->m, "MIGRATION_PASS", round_json(&p->r));
	free(p);
}

static void mig_progress(void *opaque, const struct precopy_round *r)
{
	struct mig_job *job = opaque;
	struct mig_round_note *p = malloc(sizeof(*p));

	if (!p)
		return; /* progress is informative; the migration goes on */
	p->m = job->m;
	p->r = *r;
	if (evloop_call(job->m->loop, mig_round_on_loop, p))
		free(p);
	log_debug("round %u: %llu pages sent, %llu dirtied", r->round,
		  (unsigned long long)r->pages_sent,
		  (unsigned long long)r->pages_dirtied);
}

/* ---- the migration thread ---- */

static void mig_fail(struct mig_job *job, const char *fmt, const char *why)
{
	/* A hook's veto is the real reason, whatever broke after it. */
	if (job->hook_error[0])
		snprintf(job->error, sizeof(job->error), "%s", job->hook_error);
	else
		snprintf(job->error, sizeof(job->error), fmt, why);
	job->status = MIG_FAILED;
}

static int mig_hook(struct mig_job *job, const char *step)
{
	return hooks_run(&job->hooks, step, job->hook_error,
			 sizeof(job->hook_error));
}

static int mig_step(void *opaque, enum precopy_step step)
{
	return mig_hook(opaque, step == PRECOPY_STEP_PRE_SUSPEND ?
					"pre-suspend" :
					"post-suspend");
}

/* handover.c's ops: the last veto, and the point of no return. */
static int ho_sync(void *opaque, char *why, size_t whylen)
{
	struct mig_job *job = opaque;
	int rc = mig_hook(job, "sync");

	if (rc)
		snprintf(why, whylen, "%s", job->hook_error);
	return rc;
}

static int ho_commit(void *opaque)
{
	struct mig_job *job = opaque;
	int rc;

	pthread_mutex_lock(&job->lock);
	rc = job->cancelled ? -ECANCELED : 0;
	job->committed = !rc;
	pthread_mutex_unlock(&job->lock);
	/* The disks go with the VM: the destination locks them at YOURS. */
	if (!rc)
		monitor_disks_unlock(job->m);
	return rc;
}

static const struct handover_source_ops ho_ops = {
	.sync = ho_sync,
	.commit = ho_commit,
};

/* The stream broke: if the destination said why, report its words. */
static void mig_send_failed(struct mig_job *job, int rc)
{
	struct stream *s = &job->stream;
	struct handover_msg msg;
	char why[160];

	if (job->cancelled)
		return mig_fail(job, "%s", "cancelled");
	if (job->res.have_peer_msg && job->res.peer_msg.type == HANDOVER_FAILED)
		return mig_fail(job, "the destination refused the VM: %s",
				job->res.peer_msg.text);
	if (rc == -ECONNABORTED || rc == -EPIPE || rc == -ECONNRESET) {
		/* The socket may still hold its message: a second to read. */
		stream_clear_error(s);
		stream_set_deadline_in(s, 1000, "a second");
		if (handover_recv(s, &msg, why, sizeof(why)) == 0 &&
		    msg.type == HANDOVER_FAILED)
			return mig_fail(job,
					"the destination refused the VM: %s",
					msg.text);
		return mig_fail(job, "sending the VM: %s",
				"the destination closed the connection");
	}
	mig_fail(job, "sending the VM: %s",
		 stream_error_text(s, why, sizeof(why)));
}

/*
 * A peer that does not answer the connection has stalled like one that
 * takes no bytes: the stall timeout decides (a fixed 10 s here made the
 * verdict come after the 10 s every fault is decided in).
 */
static int mig_connect(struct mig_job *job)
{
	char why[200];
	int fd, rc;

	rc = net_connect(job->host, job->port, job->stall_ms, &fd, why,
			 sizeof(why));
	if (rc) {
		mig_fail(job, "%s", why);
		return rc;
	}
	pthread_mutex_lock(&job->lock);
	job->sock = fd;
	rc = job->cancelled ? -ECANCELED : 0;
	pthread_mutex_unlock(&job->lock);
	if (rc)
		mig_fail(job, "%s", "cancelled");
	return rc;
}

/* Every read and write waits within the stall timeout, and cancels. */
static int mig_open_stream(struct mig_job *job)
{
	struct stream *s = &job->stream;
	int rc;

	rc = stream_open_fd(s, job->sock, false);
	if (!rc)
		rc = stream_set_stall_timeout(s, job->stall_ms);
	if (rc) {
		mig_fail(job, "cannot set up the migration stream: %s",
			 strerror(-rc));
		return rc;
	}
	stream_set_cancel_fd(s, job->cancel_fd);
	return 0;
}

/* The VM runs here again (our pause undone), then `recover` hooks. */
static void mig_recover(struct mig_job *job)
{
	char why[256];

	if (mem_dirty_log_stop(&job->m->vm.mem))
		log_warn("cannot stop dirty logging");
	/* Handed over and back: our disk locks first, or it stays paused. */
	if (job->committed && monitor_disks_lock(job->m, why, sizeof(why))) {
		job->status = MIG_UNCONFIRMED;
		snprintf(job->error, sizeof(job->error),
			 "the VM came back but cannot run here: %s", why);
		return;
	}
	if (job->res.paused && vm_resume(&job->m->vm))
		log_err("cannot resume the VM after the failed migration");
	job->res.paused = false;
	if (hooks_run(&job->hooks, "recover", why, sizeof(why)))
		log_err("%s", why);
}

/* ---- unconfirmed: asking the destination ---- */

struct mig_note {
	struct monitor *m;
	char error[256];
};

/* On the loop: the VM is handed over, unconfirmed; say so everywhere. */
static void mig_unconfirmed_on_loop(struct evloop *loop, void *opaque)
{
	struct mig_note *n = opaque;
	struct monitor *m = n->m;

	m->state = RUN_UNCONFIRMED;
	m->mig_info.status = MIG_UNCONFIRMED;
	snprintf(m->mig_info.error, sizeof(m->mig_info.error), "%s", n->error);
	log_err("vm %s: %s; the VM stays paused here until the destination says what became of it (or godwit migrate-resolve)",
		m->cfg.name, n->error);
	monitor_event(m, "MIGRATION", monitor_mig_event_data(&m->mig_info));
	free(n);
}

static void mig_unconfirmed(struct mig_job *job, const char *why)
{
	struct mig_note *n = calloc(1, sizeof(*n));

	snprintf(job->error, sizeof(job->error),
		 "handed over to %s, no confirmation: %s", job->uri, why);
	job->status = MIG_UNCONFIRMED;
	pthread_mutex_lock(&job->lock);
	job->unconfirmed = true;
	pthread_mutex_unlock(&job->lock);
	if (!n)
		return; /* the outcome is still reported at the end */
	n->m = job->m;
	snprintf(n->error, sizeof(n->error), "%s", job->error);
	if (evloop_call(job->m->loop, mig_unconfirmed_on_loop, n))
		free(n);
}

/* What the operator decided, or the destination's answer. */
static void mig_settled(struct mig_job *job, enum mig_resolution r,
			uint32_t outcome)
{
	if (r != MIG_RESOLVE_STOP)
		job->error[0] = 0; /* no longer unconfirmed */
	if (r == MIG_RESOLVE_RESUME_HERE)
		return mig_fail(
			job, "%s",
			"the operator resumed the VM here (migrate-resolve)");
	if (r == MIG_RESOLVE_DISCARD) {
		snprintf(
			job->settled_by, sizeof(job->settled_by),
			"the operator discarded the VM here (migrate-resolve)");
		job->status = MIG_COMPLETED;
		return;
	}
	if (r == MIG_RESOLVE_STOP)
		return; /* stays unconfirmed: this process ends */
	if (outcome == HANDOVER_OUTCOME_DISCARDED)
		return mig_fail(job, "%s", "the destination discarded the VM");
	snprintf(job->settled_by, sizeof(job->settled_by),
		 "the destination answered RUNNING");
	job->status = MIG_COMPLETED;
}

/* Ask until the destination's word or the operator settles it. */
static void mig_settle(struct mig_job *job)
{
	struct query_target t = { .port = job->port,
				  .arrival_id = job->ho.arrival_id,
				  .attempt_ms = MIG_QUERY_ATTEMPT_MS,
				  .cancel_fd = job->cancel_fd };
	enum mig_resolution r;
	uint32_t outcome = 0;
	int rc;

	snprintf(t.host, sizeof(t.host), "%s", job->host);
	rc = query_settle(&t, &outcome);
	pthread_mutex_lock(&job->lock);
	r = job->resolution;
	/* The operator came first, or the answer now bars them. */
	if (r == MIG_RESOLVE_NONE && !rc)
		job->settled = true;
	pthread_mutex_unlock(&job->lock);
	if (r == MIG_RESOLVE_NONE && rc)
		r = MIG_RESOLVE_STOP; /* cannot wait: leave it unconfirmed */
	mig_settled(job, r, outcome);
}

/* After the stream: RECEIVED, YOURS, CONFIRMED (handover.c). */
static void mig_handover(struct mig_job *job)
{
	struct handover_source *h = &job->ho;

	*h = (struct handover_source){ .pause_real_ns = job->res.pause_real_ns,
				       .confirm_ms = job->stall_ms,
				       .late_acks = job->res.rounds };
	switch (handover_source_run(&job->stream, h, &ho_ops, job)) {
	case HANDOVER_V_RESUME:
		return mig_fail(job, "%s", h->why);
	case HANDOVER_V_DISCARDED:
		return mig_fail(job, "the destination discarded the VM: %s",
				h->why);
	case HANDOVER_V_CONFIRMED:
		job->downtime_ns =
			h->confirmed_real_ns > h->pause_real_ns ?
				h->confirmed_real_ns - h->pause_real_ns :
				0;
		job->downtime_known = true;
		job->status = MIG_COMPLETED;
		return;
	case HANDOVER_V_UNCONFIRMED:
		mig_unconfirmed(job, h->why);
		return mig_settle(job);
	}
}

static void mig_done(struct evloop *loop, void *opaque);

void *monitor_mig_thread(void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	char *config = NULL;
	uint32_t config_len;
	int rc;

	job->params.step = mig_step;
	job->params.step_opaque = job;
	rc = monitor_config_text(m, &config, &config_len);
	if (rc)
		mig_fail(job, "cannot serialize the config: %s", strerror(-rc));
	if (!rc && (rc = mig_hook(job, "check")))
		mig_fail(job, "%s", job->hook_error);
	if (!rc)
		rc = mig_connect(job);
	if (!rc)
		rc = mig_open_stream(job);
	if (!rc) {
		rc = precopy_send(&job->stream, &m->vm, &m->devs, config,
				  config_len, &job->params, mig_progress, job,
				  &job->res);
		if (rc)
			mig_send_failed(job, rc);
		else
			mig_handover(job);
	}
	stream_close(&job->stream);
	free(config);
	if (job->status == MIG_FAILED)
		mig_recover(job);
	if (evloop_call(m->loop, mig_done, job))
		log_err("cannot report the migration outcome");
	return NULL;
}

/* ---- back on the loop thread ---- */

void monitor_mig_status(const struct mig_info *mi, struct rpc_migration *out)
{
	rpc_msg_init(&rpc_msg_migration, out);
	out->status = (int)mi->status;
	snprintf(out->error, sizeof(out->error), "%s", mi->error);
	out->has_downtime = mi->status == MIG_COMPLETED && mi->downtime_known;
	out->downtime_ms = mi->downtime_ns / 1e6;
	out->total_time_ms = mi->total_ns / 1e6;
	out->rounds = mi->res.rounds;
	out->bytes = mi->res.bytes;
}

struct json_object *monitor_mig_event_data(struct mig_info *mi)
{
	struct rpc_migration e;

	monitor_mig_status(mi, &e);
	return rpc_msg_encode(&rpc_msg_migration, &e);
}

static void mig_report(struct monitor *m, struct mig_job *job)
{
	struct mig_info *mi = &m->mig_info;

	if (mi->status == MIG_COMPLETED && mi->downtime_known) {
		log_info(
			"vm %s: migrated to %s in %.1f ms, downtime %.2f ms, %u rounds, %.1f MiB sent",
			m->cfg.name, job->uri, mi->total_ns / 1e6,
			mi->downtime_ns / 1e6, mi->res.rounds,
			mi->res.bytes / 1048576.0);
	} else if (mi->status == MIG_COMPLETED) {
		log_info(
			"vm %s: migrated to %s (unconfirmed at first; %s), downtime unknown",
			m->cfg.name, job->uri, job->settled_by);
	} else if (mi->status == MIG_FAILED) {
		log_err("vm %s: migration to %s failed, VM resumed: %s",
			m->cfg.name, job->uri, mi->error);
	} else {
		log_err("vm %s: migration to %s: %s; the VM was left unconfirmed",
			m->cfg.name, job->uri, mi->error);
	}
}

/* A migrate-resolve waiting for the outcome gets it now. */
static void mig_answer_resolve(struct monitor *m, struct mig_job *job)
{
	if (!job->resolve_pending)
		return;
	if (m->mig_info.status == MIG_UNCONFIRMED)
		rpc_server_reply_error(m->rpc, job->resolve_call,
				       RPC_ERR_GENERIC,
				       "the VM is still unconfirmed: %s",
				       m->mig_info.error);
	else
		rpc_server_reply(m->rpc, job->resolve_call,
				 monitor_mig_event_data(&m->mig_info), -1);
}

static void mig_done(struct evloop *loop, void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	struct mig_info *mi = &m->mig_info;

	pthread_join(job->thread, NULL);
	if (job->sock >= 0)
		close(job->sock);
	close(job->cancel_fd);
	m->mig = NULL;
	mi->status = job->status;
	snprintf(mi->error, sizeof(mi->error), "%s", job->error);
	snprintf(mi->uri, sizeof(mi->uri), "%s", job->uri);
	mi->res = job->res;
	mi->total_ns = time_mono_ns() - job->start_ns;
	mi->downtime_ns = job->downtime_ns;
	mi->downtime_known = job->downtime_known;
	if (job->status == MIG_FAILED) {
		/* The thread resumed it already (mig_recover). */
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	} else if (job->status == MIG_UNCONFIRMED) {
		m->state = RUN_UNCONFIRMED; /* the process is ending */
	} else {
		m->state = RUN_POSTMIGRATE;
	}
	mig_report(m, job);
	monitor_event(m, "MIGRATION", monitor_mig_event_data(mi));
	mig_answer_resolve(m, job);
	pthread_mutex_destroy(&job->lock);
	free(job);
	if (mi->status == MIG_COMPLETED) {
		m->end_kind = "migrated";
		monitor_end(m, 0, "migrated to %s", mi->uri);
	}
	if (m->stop_seen)
		evloop_stop(loop);
}
