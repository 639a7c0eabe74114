/*
 * `migrate`: live migration to another host's godwit, on a thread of its
 * own. The command answers at once; progress comes as MIGRATION_PASS
 * events and query-migrate, the outcome as a MIGRATION event.
 *
 * Ownership (docs/stream-format.md, "Migration handover"): until YOURS is
 * sent, any failure resumes the VM here. After YOURS the VM belongs to
 * the destination: on CONFIRMED this process ends; if the destination's
 * connection closes first, its process is gone and with it its copy of
 * the guest, so resuming here is safe; if it simply stops answering, the
 * VM stays paused here and the operator decides.
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
#include "common/util.h"
#include "migration/handover.h"

#define MIG_CONNECT_MS 10000
#define MIG_IO_TIMEOUT_MS 30000 /* a stalled peer during the stream */
#define MIG_CONFIRM_MS 10000 /* between YOURS and CONFIRMED */
#define MIG_DEFAULT_DOWNTIME_MS 30 /* QEMU: 300; ours aims lower */
#define MIG_DEFAULT_ROUNDS 30

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

/* After the stream: RECEIVED, YOURS, CONFIRMED. */
static void mig_handover(struct mig_job *job, struct stream *s)
{
	struct handover_msg msg;
	unsigned int acks = 0;
	char why[160];
	int rc;

	/*
	 * Acknowledgements can come after the wait for them gave up: one per
	 * round at most, so a peer that sends nothing else still fails.
	 */
	do
		rc = handover_recv(s, &msg, why, sizeof(why));
	while (!rc && msg.type == HANDOVER_ROUND_ACK &&
	       acks++ <= job->res.rounds);
	if (!rc && msg.type == HANDOVER_FAILED)
		return mig_fail(job, "the destination refused the VM: %s",
				msg.text);
	if (!rc && msg.type != HANDOVER_RECEIVED)
		rc = -EPROTO,
		snprintf(why, sizeof(why), "expected RECEIVED, got %s",
			 handover_type_name(msg.type));
	if (rc)
		return mig_fail(job, "waiting for the destination: %s", why);
	log_debug(
		"downtime: RECEIVED at +%llu us",
		(unsigned long long)((time_mono_ns() - job->res.pause_mono_ns) /
				     1000));
	/* Last veto: after YOURS the VM is no longer ours to resume. */
	if (mig_hook(job, "sync"))
		return mig_fail(job, "%s", job->hook_error);

	pthread_mutex_lock(&job->lock);
	rc = job->cancelled ? -ECANCELED : 0;
	if (!rc) {
		rc = handover_send(s, HANDOVER_YOURS, job->res.pause_real_ns, 0,
				   NULL);
		job->committed = true;
	}
	pthread_mutex_unlock(&job->lock);
	/* The disks go with the VM: the destination locks them now. */
	if (job->committed)
		monitor_disks_unlock(job->m);
	if (rc == -ECANCELED)
		return mig_fail(job, "%s", "cancelled");
	if (!rc && handover_set_timeout(job->sock, MIG_CONFIRM_MS))
		log_warn("cannot set the confirmation timeout");
	if (!rc)
		rc = handover_recv(s, &msg, why, sizeof(why));
	if (!rc && msg.type == HANDOVER_CONFIRMED) {
		job->downtime_ns =
			msg.time_ns > job->res.pause_real_ns ?
				msg.time_ns - job->res.pause_real_ns :
				0;
		job->status = MIG_COMPLETED;
		return;
	}
	if (rc == -EPIPE || rc == -ECONNRESET ||
	    (!rc && msg.type == HANDOVER_FAILED))
		/* Its process is gone (or refused): no other copy runs. */
		return mig_fail(
			job, "the destination went away before confirming (%s)",
			rc ? why : msg.text);
	snprintf(job->error, sizeof(job->error),
		 "handed over but not confirmed: %s",
		 rc ? why : "unexpected message");
	job->status = MIG_UNCONFIRMED;
}

/* The stream broke: if the destination said why, report its words. */
static void mig_send_failed(struct mig_job *job, struct stream *s, int rc)
{
	struct handover_msg msg;
	char why[160];

	if (job->cancelled)
		return mig_fail(job, "%s", "cancelled");
	if (job->res.have_peer_msg && job->res.peer_msg.type == HANDOVER_FAILED)
		return mig_fail(job, "the destination refused the VM: %s",
				job->res.peer_msg.text);
	if (rc == -ECONNABORTED || rc == -EPIPE || rc == -ECONNRESET) {
		s->error = 0; /* the socket may still hold its message */
		if (handover_set_timeout(job->sock, 1000) == 0 &&
		    handover_recv(s, &msg, why, sizeof(why)) == 0 &&
		    msg.type == HANDOVER_FAILED)
			return mig_fail(job,
					"the destination refused the VM: %s",
					msg.text);
		return mig_fail(job, "sending the VM: %s",
				"the destination closed the connection");
	}
	mig_fail(job, "sending the VM: %s", strerror(-rc));
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
	if (handover_set_timeout(fd, MIG_IO_TIMEOUT_MS))
		log_warn("cannot set migration socket timeouts");
	pthread_mutex_lock(&job->lock);
	job->sock = fd;
	rc = job->cancelled ? -ECANCELED : 0;
	pthread_mutex_unlock(&job->lock);
	if (rc)
		mig_fail(job, "%s", "cancelled");
	return rc;
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
		snprintf(job->error, sizeof(job->error), "%s", why);
		return;
	}
	if (job->res.paused && vm_resume(&job->m->vm))
		log_err("cannot resume the VM after the failed migration");
	job->res.paused = false;
	if (hooks_run(&job->hooks, "recover", why, sizeof(why)))
		log_err("%s", why);
}

static void mig_done(struct evloop *loop, void *opaque);

static void *mig_thread(void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	char *config = NULL;
	uint32_t config_len;
	struct stream s;
	int rc;

	rc = monitor_config_text(m, &config, &config_len);
	if (rc)
		mig_fail(job, "cannot serialize the config: %s", strerror(-rc));
	if (!rc && (rc = mig_hook(job, "check")))
		mig_fail(job, "%s", job->hook_error);
	if (!rc)
		rc = mig_connect(job);
	if (!rc && !(rc = stream_open_fd(&s, job->sock, false))) {
		s.check_peer = true;
		rc = migrate_send(&s, &m->vm, &m->devs, config, config_len,
				  &job->params, mig_progress, job, &job->res);
		if (rc)
			mig_send_failed(job, &s, rc);
		else
			mig_handover(job, &s);
		stream_close(&s);
	}
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
	if (mi->status == MIG_COMPLETED)
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

	if (mi->status == MIG_COMPLETED) {
		log_info(
			"vm %s: migrated to %s in %.1f ms, downtime %.2f ms, %u rounds, %.1f MiB sent",
			m->cfg.name, job->uri, mi->total_ns / 1e6,
			mi->downtime_ns / 1e6, mi->res.rounds,
			mi->res.bytes / 1048576.0);
	} else if (mi->status == MIG_FAILED) {
		log_err("vm %s: migration to %s failed, VM resumed: %s",
			m->cfg.name, job->uri, mi->error);
	} else {
		log_err("vm %s: migration to %s: %s; the VM stays paused here",
			m->cfg.name, job->uri, mi->error);
	}
}

static void mig_done(struct evloop *loop, void *opaque)
{
	struct mig_job *job = opaque;
	struct monitor *m = job->m;
	struct mig_info *mi = &m->mig_info;

	pthread_join(job->thread, NULL);
	if (job->sock >= 0)
		close(job->sock);
	m->mig = NULL;
	mi->status = job->status;
	snprintf(mi->error, sizeof(mi->error), "%s", job->error);
	snprintf(mi->uri, sizeof(mi->uri), "%s", job->uri);
	mi->res = job->res;
	mi->total_ns = time_mono_ns() - job->start_ns;
	mi->downtime_ns = job->downtime_ns;
	if (job->status == MIG_FAILED) {
		/* The thread resumed it already (mig_recover). */
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	} else {
		m->state = RUN_POSTMIGRATE;
	}
	mig_report(m, job);
	monitor_event(m, "MIGRATION", mig_event_data(mi));
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
	int64_t bw, dt, rounds;

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
	if (bad || bw > (1 << 30) || dt > 3600000 || rounds > 10000 || !rounds)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate: bandwidth (MiB/s), downtime-ms and max-rounds (1..10000) must be non-negative integers in range");
	job->params.bandwidth_bps = (uint64_t)bw << 20;
	job->params.downtime_limit_ns = (uint64_t)dt * NSEC_PER_MSEC;
	job->params.max_rounds = rounds;
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
	m->mig_info.total_pages = mem_nr_pages(&m->vm.mem);
	r = pthread_create(&job->thread, NULL, mig_thread, job);
	if (r) {
		pthread_mutex_destroy(&job->lock);
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
 * Cancel job unless YOURS was sent (-EALREADY: too late). Shutting the
 * socket down unblocks the thread's I/O; it then fails and resumes the
 * VM here.
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
	return rc;
}

/* The guest ended: a migration still streaming cannot succeed. */
void monitor_migration_abort(struct monitor *m)
{
	if (m->mig)
		mig_cancel(m->mig);
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
