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
#include "vmm/dirtyring.h"

#define MIG_QUERY_ATTEMPT_MS 2000 /* connect and answer, per QUERY */

/* The monitor's status words are the protocol's (rpc/msg_migrate.h). */
_Static_assert((int)MIG_NONE == (int)RPC_MIG_NONE &&
		       (int)MIG_ACTIVE == (int)RPC_MIG_ACTIVE &&
		       (int)MIG_COMPLETED == (int)RPC_MIG_COMPLETED &&
		       (int)MIG_FAILED == (int)RPC_MIG_FAILED &&
		       (int)MIG_UNCONFIRMED == (int)RPC_MIG_UNCONFIRMED &&
		       (int)MIG_POSTCOPY == (int)RPC_MIG_POSTCOPY_ACTIVE &&
		       (int)MIG_POSTCOPY_FAILED == (int)RPC_MIG_POSTCOPY_FAILED,
	       "mig_status");

/* ---- progress: migration thread -> loop thread ---- */

struct mig_round_note {
	struct monitor *m;
	struct precopy_round r;
};

static void mig_round_on_loop(struct evloop *loop, void *opaque)
{
	struct mig_round_note *p = opaque;

	p->m->mig_info.last = p->r;
	monitor_event(p->m, "MIGRATION_PASS", monitor_mig_pass_data(&p->r));
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
	struct mig_job *job = opaque;
	char why[256];

	/*
	 * The disks' data must be in the images before YOURS (ho_sync).
	 * Synced once while the guest still runs, the rest has little
	 * left; that rest runs while the final copy goes out.
	 */
	if (step == PRECOPY_STEP_PRE_SUSPEND &&
	    monitor_disks_sync(job->m, why, sizeof(why)))
		log_warn("vm %s: %s", job->m->cfg.name, why);
	if (step == PRECOPY_STEP_POST_SUSPEND)
		monitor_disks_sync_start(job->m);
	/* Paused: the leases go, their generations with the state. */
	if (step == PRECOPY_STEP_POST_SUSPEND) {
		monitor_leases_release(job->m);
		monitor_leases_records(job->m, &job->leases);
	}
	return mig_hook(job, step == PRECOPY_STEP_PRE_SUSPEND ? "pre-suspend" :
								"post-suspend");
}

/*
 * handover.c's ops: the last veto, and the point of no return. The
 * disks' data goes into the images first (the destination, perhaps on
 * another host sharing them, reads them from YOURS on); a disk that
 * cannot sync keeps the VM here.
 */
static int ho_sync(void *opaque, char *why, size_t whylen)
{
	struct mig_job *job = opaque;
	int rc = monitor_disks_sync_wait(job->m, why, whylen);

	if (rc)
		return rc;
	rc = mig_hook(job, "sync");
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
	if (job->res.stop_reason == PRECOPY_FAIL && job->res.why[0])
		return mig_fail(job, "%s", job->res.why);
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

	rc = mig_transport_connect(job, &fd, why, sizeof(why));
	if (rc == -ENOSYS)
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

/* One more connection to the destination (--connections). */
static int mig_connect_extra(void *opaque, int *fd_out)
{
	struct mig_job *job = opaque;
	char why[200];
	int rc;

	rc = net_connect(job->host, job->port, job->stall_ms, fd_out, why,
			 sizeof(why));
	if (rc) {
		log_err("another connection to %s: %s", job->uri, why);
		return rc;
	}
	if (net_set_nodelay(*fd_out))
		log_warn("cannot set migration socket options");
	return 0;
}

/* Every read and write waits within the stall timeout, and cancels. */
static int mig_open_stream(struct mig_job *job)
{
	struct stream *s = &job->stream;
	char why[256];
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
	rc = mig_transport_open_stream(job, why, sizeof(why));
	if (rc)
		mig_fail(job, "%s", why);
	return rc;
}

/*
 * Before the VM runs here again: the leases it released at the pause,
 * with their generations. Someone took one meanwhile: it stays paused
 * (mig_done makes our pause the user's). Non-zero then.
 */
static int mig_leases_back(struct mig_job *job)
{
	char why[LEASE_WHY_MAX], was[sizeof(job->error)];

	if (!job->res.paused ||
	    !monitor_leases_acquire(job->m, why, sizeof(why)))
		return 0;
	job->leases_refused = true;
	/* Why it cannot run here comes first; the failure after it. */
	snprintf(was, sizeof(was), "%s", job->error);
	snprintf(job->error, sizeof(job->error),
		 "the VM stays paused here: %s; the migration failed: %s", why,
		 was);
	return -EBUSY;
}

/* The VM runs here again (our pause undone), then `recover` hooks. */
static void mig_recover(struct mig_job *job)
{
	char why[256];

	if (vm_dirty_log_stop(&job->m->vm))
		log_warn("cannot stop dirty logging");
	/* Handed over and back: our disk locks first, or it stays paused. */
	if (job->committed && monitor_disks_lock(job->m, why, sizeof(why))) {
		job->status = MIG_UNCONFIRMED;
		snprintf(job->error, sizeof(job->error),
			 "the VM came back but cannot run here: %s", why);
		return;
	}
	monitor_disks_recover(job->m, job->uri);
	if (mig_leases_back(job))
		return;
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
	struct tls_opts tls;
	uint32_t outcome = 0;
	int rc;

	snprintf(t.host, sizeof(t.host), "%s", job->host);
	t.tls = mig_transport_tls(job, &tls);
	/* Over ssh there is no port to ask on: wait for the operator. */
	if (job->ssh_command[0])
		t.arrival_id = 0;
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
		mig_transport_end(job);
		return mig_settle(job);
	}
}

/* ---- post-copy: serving the destination after YOURS ---- */

/* If converge allows post-copy: listen where the destination sees us. */
static int mig_postcopy_listen(struct mig_job *job)
{
	char why[200];
	int rc;

	if (job->params.converge != CONVERGE_POSTCOPY &&
	    job->params.converge != CONVERGE_AUTO)
		return 0;
	rc = postcopy_src_listen(&job->pc, &job->m->vm.mem, job->sock, why,
				 sizeof(why));
	if (rc) {
		mig_fail(job, "%s", why);
		return rc;
	}
	job->pc.stall_ms = job->stall_ms;
	job->pc.rate_bps = job->params.bandwidth_bps;
	job->pc.cancel_fd = job->cancel_fd;
	job->pc_listening = true;
	job->params.postcopy = &job->pc;
	return 0;
}

static void mig_postcopy_on_loop(struct evloop *loop, void *opaque)
{
	struct monitor *m = opaque;

	m->mig_info.status = MIG_POSTCOPY;
	monitor_event(m, "MIGRATION", monitor_mig_event_data(&m->mig_info));
}

static void mig_postcopy(struct mig_job *job)
{
	struct monitor *m = job->m;
	uint64_t t0 = time_mono_ns();
	char why[256] = "";
	int rc;

	job->status = MIG_POSTCOPY;
	if (evloop_call(m->loop, mig_postcopy_on_loop, m))
		log_debug("cannot report post-copy");
	log_info(
		"vm %s: post-copy to %s: %llu regions (%llu MiB) to serve; the VM is lost if either host dies before they are all there",
		m->cfg.name, job->uri,
		(unsigned long long)bitmap_count(&job->pc.pending),
		(unsigned long long)(bitmap_count(&job->pc.pending) *
					     POSTCOPY_REGION_SIZE >>
				     20));
	rc = postcopy_src_serve(&job->pc, why, sizeof(why));
	if (rc) {
		job->status = MIG_POSTCOPY_FAILED;
		snprintf(job->error, sizeof(job->error), "post-copy: %s", why);
		return;
	}
	job->status = MIG_COMPLETED;
	log_info(
		"vm %s: post-copy done in %.1f ms: %llu regions sent, %llu on request",
		m->cfg.name, (time_mono_ns() - t0) / 1e6,
		(unsigned long long)job->pc.sent,
		(unsigned long long)job->pc.requests);
}

static void mig_done(struct evloop *loop, void *opaque);

void *monitor_mig_thread(void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	char *config = NULL, what[sizeof(job->uri) + 8];
	uint32_t config_len;
	int rc;

	snprintf(what, sizeof(what), "migrate %s", job->uri);
	log_ctx_set(m->cfg.name, job->uuid, what);
	job->params.step = mig_step;
	job->params.step_opaque = job;
	job->params.counters = &job->counters;
	job->params.leases = &job->leases;
	job->params.connect = mig_connect_extra;
	job->params.connect_opaque = job;
	rc = monitor_config_text(m, &config, &config_len);
	if (rc)
		mig_fail(job, "cannot serialize the config: %s", strerror(-rc));
	if (!rc && (rc = mig_hook(job, "check")))
		mig_fail(job, "%s", job->hook_error);
	if (!rc)
		rc = mig_connect(job);
	if (!rc)
		rc = mig_open_stream(job);
	if (!rc)
		rc = mig_postcopy_listen(job);
	/* QEMU's setup-time: until the stream starts. */
	__atomic_store_n(&job->setup_ns, time_mono_ns() - job->start_ns,
			 __ATOMIC_RELAXED);
	if (!rc) {
		rc = precopy_send(&job->stream, &m->vm, &m->devs, config,
				  config_len, &job->params, mig_progress, job,
				  &job->res);
		if (rc)
			mig_send_failed(job, rc);
		else
			mig_handover(job);
	}
	/* Handed over in post-copy: the destination still needs pages. */
	if (job->status == MIG_COMPLETED && job->res.postcopy)
		mig_postcopy(job);
	if (job->pc_listening)
		postcopy_src_destroy(&job->pc);
	stream_close(&job->stream);
	mig_transport_end(job);
	free(config);
	/* A failure before YOURS may leave the disks' sync running. */
	if (m->disks.syncer.started && monitor_disks_sync_wait(m, NULL, 0))
		log_debug("vm %s: the disks' sync failed", m->cfg.name);
	if (job->status == MIG_FAILED)
		mig_recover(job);
	if (evloop_call(m->loop, mig_done, job))
		log_err("cannot report the migration outcome");
	return NULL;
}

/* ---- back on the loop thread ---- */

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
	} else if (mi->status == MIG_POSTCOPY_FAILED) {
		log_err("vm %s: migration to %s: %s; the VM is lost (the destination lacks pages only this host had)",
			m->cfg.name, job->uri, mi->error);
	} else if (mi->status == MIG_FAILED) {
		log_err("vm %s: migration to %s failed, %s: %s", m->cfg.name,
			job->uri,
			job->leases_refused ? "VM left paused" : "VM resumed",
			mi->error);
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
	bool stay = job->stay;

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
	mi->counters = job->counters;
	mi->setup_ns = job->setup_ns;
	mi->transferred = job->res.bytes;
	if (job->status == MIG_FAILED) {
		/* The thread resumed it already (mig_recover), or its leases
		 * were taken: then its pause is the user's now. */
		if (job->leases_refused)
			m->user_paused = true;
		else if (m->user_paused)
			monitor_leases_release(m);
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	} else if (job->status == MIG_UNCONFIRMED) {
		m->state = RUN_UNCONFIRMED; /* the process is ending */
	} else if (job->status == MIG_POSTCOPY_FAILED) {
		m->state = RUN_POSTMIGRATE; /* never resumed after YOURS */
		m->end_kind = "migrated";
		monitor_end(m, 1, "%s; the VM is lost", job->error);
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
		if (stay)
			log_info(
				"vm %s: stays in state postmigrate until quit, as QEMU's does after a migration",
				m->cfg.name);
		else
			monitor_end(m, 0, "migrated to %s", mi->uri);
	}
	if (m->stop_seen)
		evloop_stop(loop);
}
