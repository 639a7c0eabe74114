/*
 * The migration's commands on the control socket: migrate (starts the job
 * of migjob.c), migrate_cancel, migrate-resolve for a handover left
 * unconfirmed, and query-migrate. They run on the loop thread and share
 * the job's state with its thread under job->lock.
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
#include "common/util.h"
#include "rpc/msg_migrate.h"

_Static_assert((int)COMPRESS_NONE == (int)RPC_COMPRESS_NONE &&
		       (int)COMPRESS_ZSTD == (int)RPC_COMPRESS_ZSTD &&
		       (int)COMPRESS_AUTO == (int)RPC_COMPRESS_AUTO,
	       "compress modes");

/* The arguments as rpc/msg_migrate.h defines them, into the job. */
static enum rpc_reply_kind mig_parse(struct mig_job *job,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	const struct mig_settings *ms = &job->m->mig_set;
	struct rpc_migrate_args a;
	char why[RPC_MSG_WHY_MAX];

	if (rpc_msg_decode(&rpc_msg_migrate, args, &a, why, sizeof(why)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	snprintf(job->uri, sizeof(job->uri), "%s", a.uri);
	snprintf(job->host, sizeof(job->host), "%s", a.host);
	job->port = a.port;
	/* What the command leaves out, the migration parameters say. */
	job->params.live = a.live;
	job->params.leave_paused = a.paused;
	job->params.bandwidth_bps = a.has_bandwidth ?
					    (uint64_t)a.bandwidth_mibps << 20 :
					    ms->bandwidth_bps;
	job->params.downtime_limit_ns =
		(a.has_downtime ? (uint64_t)a.downtime_ms : ms->downtime_ms) *
		NSEC_PER_MSEC;
	job->params.max_rounds = a.has_max_rounds ? (uint64_t)a.max_rounds :
						    ms->max_rounds;
	job->params.paused_margin_ns = (a.has_paused_margin ?
						(uint64_t)a.paused_margin_ms :
						ms->paused_margin_ms) *
				       NSEC_PER_MSEC;
	job->stall_ms = a.has_stall_timeout ? (uint64_t)a.stall_timeout_ms :
					      ms->stall_ms;
	job->stay = !rpc_migrate_has_own(&a);
	snprintf(job->ssh_command, sizeof(job->ssh_command), "%s", a.ssh);
	snprintf(job->receive_command, sizeof(job->receive_command), "%s",
		 a.receive_command);
	job->tls = a.tls;
	snprintf(job->tls_dir, sizeof(job->tls_dir), "%s", a.tls_dir);
	snprintf(job->tls_name, sizeof(job->tls_name), "%s", a.tls_name);
	/*
	 * converge: throttle unless given; postcopy: switch to post-copy
	 * after round 0 whatever the rest (godwit migrate --postcopy; QEMU's
	 * migrate-start-postcopy after one pass).
	 */
	job->params.converge = a.has_converge ?
				       (enum precopy_converge)a.converge :
				       CONVERGE_THROTTLE;
	if (a.postcopy) {
		job->params.converge = CONVERGE_POSTCOPY;
		job->params.postcopy_now = true;
	}
	job->params.compress = (enum compress_mode)a.compress;
	job->params.connections = a.connections;
	return RPC_REPLY_LATER;
}

/* The protocol's converge modes are the policy's (rpc/msg_migrate.h). */
_Static_assert((int)CONVERGE_THROTTLE == (int)RPC_CONVERGE_THROTTLE &&
		       (int)CONVERGE_POSTCOPY == (int)RPC_CONVERGE_POSTCOPY &&
		       (int)CONVERGE_AUTO == (int)RPC_CONVERGE_AUTO &&
		       (int)CONVERGE_NONE == (int)RPC_CONVERGE_NONE,
	       "converge");

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
	job->counters.downtime_limit_ns = job->params.downtime_limit_ns;
	job->counters.bandwidth_bps = job->params.bandwidth_bps;
	r = pthread_create(&job->thread, NULL, monitor_mig_thread, job);
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
	monitor_event(m, "MIGRATION", monitor_mig_event_data(&m->mig_info));
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

/* "resume-here" or "discard"; MIG_RESOLVE_NONE with why if neither. */
static enum mig_resolution resolve_action(struct json_object *args, char *why,
					  size_t whylen)
{
	struct rpc_resolve_args a;

	if (rpc_msg_decode(&rpc_msg_resolve, args, &a, why, whylen))
		return MIG_RESOLVE_NONE;
	return a.action == RPC_RESOLVE_DISCARD ? MIG_RESOLVE_DISCARD :
						 MIG_RESOLVE_RESUME_HERE;
}

/*
 * Unconfirmed with no job left: the destination gave the VM back (or the
 * operator said resume-here) but a disk image was held elsewhere, so it
 * could not run here. The operator decides again: resume once the
 * images are free, or discard.
 */
static enum rpc_reply_kind resolve_after_job(struct monitor *m,
					     enum mig_resolution r,
					     struct rpc_reply *reply)
{
	struct mig_info *mi = &m->mig_info;
	char why[256];

	if (r == MIG_RESOLVE_DISCARD) {
		log_warn(
			"vm %s: discarded here by the operator (migrate-resolve)",
			m->cfg.name);
		mi->status = MIG_COMPLETED;
		mi->error[0] = 0;
		m->state = RUN_POSTMIGRATE;
		m->end_kind = "migrated";
		monitor_event(m, "MIGRATION", monitor_mig_event_data(mi));
		monitor_end(m, 0, "discarded here by the operator");
		reply->ret = monitor_mig_event_data(mi);
		return RPC_REPLY_RETURN;
	}
	if (monitor_disks_lock(m, why, sizeof(why)))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-resolve: cannot resume here: %s", why);
	monitor_disks_recover(m, mi->uri);
	if (vm_resume(&m->vm)) {
		monitor_disks_unlock(m);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "migrate-resolve: cannot resume the VM");
	}
	log_warn("vm %s: resumed here by the operator (migrate-resolve)",
		 m->cfg.name);
	mi->status = MIG_FAILED;
	snprintf(mi->error, sizeof(mi->error),
		 "the operator resumed the VM here (migrate-resolve)");
	m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	monitor_event(m, "MIGRATION", monitor_mig_event_data(mi));
	reply->ret = monitor_mig_event_data(mi);
	return RPC_REPLY_RETURN;
}

/*
 * The operator settles an unconfirmed handover. Answered once the thread
 * acted on it: the VM runs here again, or this process ends.
 */
enum rpc_reply_kind monitor_cmd_migrate_resolve(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct mig_job *job = m->mig;
	char why[RPC_MSG_WHY_MAX];
	enum mig_resolution r = resolve_action(args, why, sizeof(why));
	bool ok = false;

	if (r == MIG_RESOLVE_NONE)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	if (!job && m->state == RUN_UNCONFIRMED)
		return resolve_after_job(m, r, reply);
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
	reply->ret = monitor_mig_query_data(req->opaque);
	return RPC_REPLY_RETURN;
}
