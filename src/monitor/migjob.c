/*
 * `migrate`: live migration to another host's godwit, on a thread of its
 * own. The command answers at once; progress comes as MIGRATION_PASS
 * events and query-migrate, the outcome as MIGRATION events. This file is
 * the job's glue: precopy.c sends the VM, handover.c hands it over,
 * query.c settles a handover nobody confirmed.
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "migration/handover.h"
#include "migration/query.h"

#define MIG_CONNECT_MS 10000
#define MIG_DEFAULT_DOWNTIME_MS 30 /* QEMU: 300; ours aims lower */
#define MIG_DEFAULT_ROUNDS 30
#define MIG_QUERY_ATTEMPT_MS 2000 /* connect and answer, per QUERY */

static const char *mig_status_name(enum mig_status s)
{
	static const char *const names[] = { "none", "active", "completed",
					     "failed", "unconfirmed" };

	return names[s];
}

/* ---- progress: migration thread -> loop thread ---- */

struct mig_pass {
	struct monitor *m;
	struct migrate_round r;
};

static struct json_object *round_json(const struct migrate_round *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "round", json_object_new_int(r->round));
	json_object_object_add(o, "pages-sent",
			       json_object_new_int64(r->pages_sent));
	json_object_object_add(o, "pages-dirtied",
			       json_object_new_int64(r->pages_dirtied));
	json_object_object_add(o, "mbps",
			       json_object_new_double(r->bandwidth_bps / 1e6));
	json_object_object_add(
		o, "dirty-mbps",
		json_object_new_double(r->dirty_rate_pps * 4096 / 1e6));
	json_object_object_add(o, "duration-ms",
			       json_object_new_double(r->duration_ns / 1e6));
	json_object_object_add(
		o, "expected-downtime-ms",
		json_object_new_double(r->expected_downtime_ns / 1e6));
	return o;
}

static void mig_pass_on_loop(struct evloop *loop, void *opaque)
{
	struct mig_pass *p = opaque;

	p->m->mig_info.last = p->r;
	monitor_event(p->m, "MIGRATION_PASS", round_json(&p->r));
	free(p);
}

static void mig_progress(void *opaque, const struct migrate_round *r)
{
	struct mig_job *job = opaque;
	struct mig_pass *p = malloc(sizeof(*p));

	if (!p)
		return; /* progress is informative; the migration goes on */
	p->m = job->m;
	p->r = *r;
	if (evloop_call(job->m->loop, mig_pass_on_loop, p))
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

static int mig_step(void *opaque, enum migrate_step step)
{
	return mig_hook(opaque, step == MIGRATE_STEP_PRE_SUSPEND ?
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

static int mig_connect(struct mig_job *job)
{
	char why[200];
	int fd, rc;

	rc = net_connect(job->host, job->port, MIG_CONNECT_MS, &fd, why,
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

static struct json_object *mig_event_data(struct mig_info *mi);

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
	monitor_event(m, "MIGRATION", mig_event_data(&m->mig_info));
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

static void *mig_thread(void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	char *config = NULL;
	uint32_t config_len;
	int rc;

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
		rc = migrate_send(&job->stream, &m->vm, &m->devs, config,
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

static struct json_object *mig_event_data(struct mig_info *mi)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(
		o, "status",
		json_object_new_string(mig_status_name(mi->status)));
	if (mi->error[0])
		json_object_object_add(o, "error",
				       json_object_new_string(mi->error));
	if (mi->status == MIG_COMPLETED && mi->downtime_known)
		json_object_object_add(
			o, "downtime-ms",
			json_object_new_double(mi->downtime_ns / 1e6));
	json_object_object_add(o, "total-time-ms",
			       json_object_new_double(mi->total_ns / 1e6));
	json_object_object_add(o, "rounds",
			       json_object_new_int(mi->res.rounds));
	json_object_object_add(o, "bytes",
			       json_object_new_int64(mi->res.bytes));
	return o;
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
				 mig_event_data(&m->mig_info), -1);
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
	monitor_event(m, "MIGRATION", mig_event_data(mi));
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

/* ---- commands ---- */

static int mig_parse_uri(struct mig_job *job, const char *uri,
			 struct rpc_reply *reply)
{
	const char *hp = strncmp(uri, "tcp:", 4) ? uri : uri + 4;

	if (strlen(uri) >= sizeof(job->uri) ||
	    net_parse_hostport(hp, job->host, sizeof(job->host), &job->port,
			       NET_DEFAULT_PORT))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate: bad destination '%s' (expected HOST[:PORT] or tcp:HOST:PORT)",
			uri);
	snprintf(job->uri, sizeof(job->uri), "%s:%u", job->host, job->port);
	return RPC_REPLY_LATER;
}

static int64_t arg_int(struct json_object *args, const char *key, int64_t dflt,
		       bool *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(args, key, &v))
		return dflt;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		*bad = true;
		return dflt;
	}
	return json_object_get_int64(v);
}

static enum rpc_reply_kind mig_parse(struct mig_job *job,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	const char *uri = rpc_json_str(args, "uri", NULL);
	struct json_object *v;
	bool bad = false;
	int64_t bw, dt, rounds, stall, margin;

	if (!uri)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "migrate: 'uri' (a string) is required");
	if (mig_parse_uri(job, uri, reply) != RPC_REPLY_LATER)
		return RPC_REPLY_ERROR;
	job->params.live = true;
	if (json_object_object_get_ex(args, "live", &v))
		job->params.live = json_object_get_boolean(v);
	bw = arg_int(args, "bandwidth", 0, &bad);
	dt = arg_int(args, "downtime-ms", MIG_DEFAULT_DOWNTIME_MS, &bad);
	rounds = arg_int(args, "max-rounds", MIG_DEFAULT_ROUNDS, &bad);
	stall = arg_int(args, "stall-timeout-ms", MONITOR_STALL_MS_DEFAULT,
			&bad);
	margin = arg_int(args, "paused-margin-ms", 0, &bad);
	if (bad || bw > (1 << 30) || dt > 3600000 || rounds > 10000 || !rounds)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate: bandwidth (MiB/s), downtime-ms and max-rounds (1..10000) must be non-negative integers in range");
	if (stall < 100 || stall > 3600000 || margin > 3600000)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate: stall-timeout-ms must be 100..3600000 and paused-margin-ms 0..3600000");
	job->params.bandwidth_bps = (uint64_t)bw << 20;
	job->params.downtime_limit_ns = (uint64_t)dt * NSEC_PER_MSEC;
	job->params.max_rounds = rounds;
	job->params.paused_margin_ns = (uint64_t)margin * NSEC_PER_MSEC;
	job->stall_ms = stall;
	return RPC_REPLY_LATER;
}

static unsigned int hook_timeout_ms(void)
{
	const char *s = getenv("GODWIT_HOOK_TIMEOUT_MS");
	uint64_t v;

	if (s && !parse_u64(s, &v) && v > 0 && v < 24 * 3600 * 1000ULL)
		return v;
	return HOOK_TIMEOUT_MS_DEFAULT;
}

enum rpc_reply_kind monitor_cmd_migrate(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct mig_job *job;
	int r;

	if (monitor_job_may_start(m, "migrate", reply) != RPC_REPLY_LATER)
		return RPC_REPLY_ERROR;
	job = calloc(1, sizeof(*job));
	if (!job)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	job->m = m;
	job->sock = -1;
	if (mig_parse(job, args, reply) != RPC_REPLY_LATER) {
		free(job);
		return RPC_REPLY_ERROR;
	}
	job->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (job->cancel_fd < 0) {
		free(job);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot create an eventfd: %s",
				       strerror(errno));
	}
	pthread_mutex_init(&job->lock, NULL);
	job->start_ns = time_mono_ns();
	job->params.step = mig_step;
	job->params.step_opaque = job;
	domain_config_uuid_format(m->cfg.uuid, job->uuid);
	job->hooks = (struct hook_ctx){
		.dir = m->opts->hooks_dir,
		.domain = m->cfg.name,
		.uuid = job->uuid,
		.dest = job->uri,
		.timeout_ms = hook_timeout_ms(),
	};
	memset(&m->mig_info, 0, sizeof(m->mig_info));
	m->mig_info.status = MIG_ACTIVE;
	snprintf(m->mig_info.uri, sizeof(m->mig_info.uri), "%s", job->uri);
	m->mig_info.total_pages = mem_nr_pages(&m->vm.mem);
	r = pthread_create(&job->thread, NULL, mig_thread, job);
	if (r) {
		pthread_mutex_destroy(&job->lock);
		close(job->cancel_fd);
		free(job);
		m->mig_info.status = MIG_NONE;
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot start the migration thread: %s",
				       strerror(r));
	}
	m->mig = job;
	monitor_event(m, "MIGRATION", mig_event_data(&m->mig_info));
	return RPC_REPLY_RETURN;
}

/*
 * Cancel job unless YOURS was sent (-EALREADY: too late). The cancel fd
 * ends the thread's waits (shutting the socket down ends a connect); it
 * then fails and resumes the VM here.
 */
static int mig_cancel(struct mig_job *job)
{
	int rc = -EALREADY;

	pthread_mutex_lock(&job->lock);
	if (!job->committed) {
		job->cancelled = true;
		if (job->sock >= 0)
			shutdown(job->sock, SHUT_RDWR);
		rc = 0;
	}
	pthread_mutex_unlock(&job->lock);
	if (!rc && stream_cancel_raise(job->cancel_fd))
		log_warn("cannot signal the migration thread");
	return rc;
}

/*
 * The VM ends here (a signal, the guest): a migration still streaming
 * cannot succeed; one handed over stops waiting for its confirmation or
 * for the destination's answer and is left unconfirmed (the destination
 * may run the VM: nothing is resumed here).
 */
void monitor_migration_abort(struct monitor *m)
{
	struct mig_job *job = m->mig;

	if (!job || !mig_cancel(job))
		return;
	pthread_mutex_lock(&job->lock);
	if (job->resolution == MIG_RESOLVE_NONE)
		job->resolution = MIG_RESOLVE_STOP;
	pthread_mutex_unlock(&job->lock);
	if (stream_cancel_raise(job->cancel_fd))
		log_warn("cannot signal the migration thread");
}

bool monitor_migration_committed(struct monitor *m)
{
	bool committed = false;

	if (m->mig) {
		pthread_mutex_lock(&m->mig->lock);
		committed = m->mig->committed;
		pthread_mutex_unlock(&m->mig->lock);
	}
	return committed;
}

/* "resume-here" or "discard", or MIG_RESOLVE_NONE. */
static enum mig_resolution resolve_action(struct json_object *args)
{
	const char *a = rpc_json_str(args, "action", "");

	if (!strcmp(a, "resume-here"))
		return MIG_RESOLVE_RESUME_HERE;
	if (!strcmp(a, "discard"))
		return MIG_RESOLVE_DISCARD;
	return MIG_RESOLVE_NONE;
}

/*
 * The operator settles an unconfirmed handover. Answered once the thread
 * acted on it: the VM runs here again, or this process ends.
 */
enum rpc_reply_kind monitor_cmd_migrate_resolve(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply)
{
	enum mig_resolution r = resolve_action(args);
	struct monitor *m = req->opaque;
	struct mig_job *job = m->mig;
	bool ok = false;

	if (r == MIG_RESOLVE_NONE)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-resolve: 'action' must be \"resume-here\" or \"discard\"");
	if (job) {
		pthread_mutex_lock(&job->lock);
		ok = job->unconfirmed && !job->settled &&
		     job->resolution == MIG_RESOLVE_NONE;
		if (ok) {
			job->resolution = r;
			job->resolve_pending = true;
			job->resolve_call = req->call;
		}
		pthread_mutex_unlock(&job->lock);
	}
	if (!ok)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-resolve: the VM is not unconfirmed (it is %s)",
			monitor_status_name(m));
	log_warn(
		"vm %s: unconfirmed handover to %s settled by the operator: %s",
		m->cfg.name, job->uri,
		r == MIG_RESOLVE_DISCARD ? "discard here" : "resume here");
	if (stream_cancel_raise(job->cancel_fd))
		log_warn("cannot signal the migration thread");
	return RPC_REPLY_LATER;
}

enum rpc_reply_kind monitor_cmd_migrate_cancel(struct rpc_request *req,
					       struct json_object *args,
					       struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;

	if (!m->mig)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "no migration is in progress");
	if (mig_cancel(m->mig))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			m->state == RUN_UNCONFIRMED ?
				"too late: the VM was handed over without confirmation; settle it with migrate-resolve" :
				"too late: the VM was already handed over to the destination");
	return RPC_REPLY_RETURN;
}

enum rpc_reply_kind monitor_cmd_query_migrate(struct rpc_request *req,
					      struct json_object *args,
					      struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct mig_info *mi = &m->mig_info;
	struct json_object *o, *ram;

	if (m->mig)
		mi->total_ns = time_mono_ns() - m->mig->start_ns;
	o = mig_event_data(mi);
	if (mi->status == MIG_NONE) {
		reply->ret = o;
		return RPC_REPLY_RETURN;
	}
	ram = json_object_new_object();
	json_object_object_add(ram, "transferred",
			       json_object_new_int64(mi->last.bytes_total));
	json_object_object_add(
		ram, "remaining",
		json_object_new_int64(mi->last.remaining_pages * 4096));
	json_object_object_add(ram, "total",
			       json_object_new_int64(mi->total_pages * 4096));
	json_object_object_add(ram, "dirty-pages-rate",
			       json_object_new_int64(mi->last.dirty_rate_pps));
	json_object_object_add(
		ram, "mbps",
		json_object_new_double(mi->last.bandwidth_bps / 1e6));
	json_object_object_add(o, "ram", ram);
	json_object_object_add(o, "round", json_object_new_int(mi->last.round));
	json_object_object_add(
		o, "expected-downtime-ms",
		json_object_new_double(mi->last.expected_downtime_ns / 1e6));
	reply->ret = o;
	return RPC_REPLY_RETURN;
}
