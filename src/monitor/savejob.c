/*
 * `save`: checkpoint the VM to a file on a thread of its own, so the
 * control socket keeps answering (query-save) meanwhile.
 *
 * The thread pauses the VM, writes the stream into the save target
 * (savefile.h: a temporary file beside FILE, or a FIFO or device) and on
 * success syncs it and puts it at FILE; it never resumes or ends the VM.
 * Back on the loop thread the outcome decides: a failure resumes the VM
 * as it was (and drops the partial file); a success ends the VM
 * (default), resumes it (-c) or leaves it paused (-p). So a failed save
 * never loses the VM, a successful one never leaves a half-written file
 * behind, and a VM ends only once its file is durably in place.
 *
 * A FIFO as FILE is written straight into (someone reads the save as it
 * is made). Every save can be cancelled (save-cancel), and a reader that
 * takes nothing for the stall timeout (10 s by default) fails it: either
 * way the VM goes on as it was.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "migration/compress.h"
#include "rpc/msg_save.h"

/* How often a FIFO without a reader is tried again. */
#define SAVE_FIFO_RETRY_MS 100

/*
 * A FIFO target nobody reads yet (savefile.c opens it O_NONBLOCK: no
 * reader is ENXIO, never a wait in open()): it is tried again until a
 * reader opens it, the save is cancelled, or the stall timeout passes.
 */
static int job_wait_reader(void *opaque)
{
	struct save_job *job = opaque;
	uint64_t end = job->start_ns + job->stall_ms * NSEC_PER_MSEC;
	struct pollfd p = { .fd = job->cancel_fd, .events = POLLIN };

	if (time_mono_ns() >= end)
		return -ETIMEDOUT;
	if (poll(&p, 1, SAVE_FIFO_RETRY_MS) > 0)
		return -ECANCELED;
	return 0;
}

/* A FIFO with no reader yet, or one that stopped reading, in words. */
static void job_io_error(struct save_job *job, int rc)
{
	char why[160];

	if (rc == -ETIMEDOUT && !job->stream.ops)
		snprintf(why, sizeof(why),
			 "no reader opened the FIFO within %.1f s",
			 job->stall_ms / 1000.0);
	else if (job->stream.ops && job->stream.error == rc)
		stream_error_text(&job->stream, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s",
			 rc == -ECANCELED ? "cancelled" : strerror(-rc));
	snprintf(job->error, sizeof(job->error), "writing %s: %s", job->path,
		 why);
}

/* The stream's waits: the stall timeout and save-cancel. */
static int job_stream_limits(struct save_job *job)
{
	int rc = stream_set_stall_timeout(&job->stream, job->stall_ms);

	stream_set_cancel_fd(&job->stream, job->cancel_fd);
	return rc;
}

static int job_write(struct save_job *job)
{
	struct monitor *m = job->m;
	struct save_target *t = &job->target;
	char *config = NULL;
	uint32_t config_len;
	int rc;

	rc = monitor_config_text(m, &config, &config_len);
	if (rc) {
		snprintf(job->error, sizeof(job->error),
			 "cannot serialize the domain config: %s",
			 strerror(-rc));
		return rc;
	}
	t->wait_reader = job_wait_reader;
	t->wait_opaque = job;
	if (t->fd >= 0) /* save -: the client's descriptor */
		rc = save_target_adopt(t, job->error, sizeof(job->error));
	else
		rc = save_target_open(t, job->path, job->error,
				      sizeof(job->error));
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		job_io_error(job, rc);
	if (rc) {
		free(config);
		return rc;
	}
	/*
	 * Guest RAM goes to the disk directly, without a page cache copy:
	 * measured faster here than buffered writes even unsynced (save -c),
	 * where the guest waits paused for the whole write.
	 */
	if (t->direct)
		rc = stream_open_direct(&job->stream, t->fd, false);
	else
		rc = stream_open_fd(&job->stream, t->fd, false);
	if (!rc)
		rc = job_stream_limits(job);
	if (!rc && job->compress)
		rc = compress_attach(&job->stream, COMPRESS_ZSTD);
	if (!rc)
		rc = save_vm(&job->stream, &m->vm, &m->devs, config, config_len,
			     &job->leases, &job->res);
	if (!rc)
		rc = stream_flush(&job->stream);
	if (rc)
		job_io_error(job, rc);
	compress_detach(&job->stream, NULL);
	stream_close(&job->stream);
	/* The VM ends with the save: its disks' data must be in the images. */
	if (!rc && !job->keep_running)
		rc = monitor_disks_sync(m, job->error, sizeof(job->error));
	/* Data the VM will no longer hold must be on disk before we say so. */
	if (!rc)
		rc = save_target_commit(t, !job->keep_running, job->error,
					sizeof(job->error));
	free(config);
	return rc;
}

static void job_done(struct evloop *loop, void *opaque);

static void *job_thread(void *opaque)
{
	struct save_job *job = opaque;
	char uuid[DOMAIN_UUID_STR_LEN + 1], what[PATH_MAX + 8];
	int rc;

	domain_config_uuid_format(job->m->cfg.uuid, uuid);
	snprintf(what, sizeof(what), "save %s", job->path);
	log_ctx_set(job->m->cfg.name, uuid, what);
	rc = vm_pause(&job->m->vm);
	if (rc) {
		snprintf(job->error, sizeof(job->error),
			 "cannot pause the VM: %s", strerror(-rc));
	} else {
		/* Paused: the leases go, their generations into the stream. */
		monitor_leases_release(job->m);
		monitor_leases_records(job->m, &job->leases);
		rc = job_write(job);
		save_target_close(&job->target);
	}
	job->rc = rc;
	if (evloop_call(job->m->loop, job_done, job))
		evloop_wakeup(job->m->loop); /* cannot happen: see below */
	return NULL;
}

/* What the answer, query-save and SAVE_COMPLETED say (rpc/msg_save.h). */
static struct json_object *job_result(struct monitor *m)
{
	const struct save_info *si = &m->save_info;
	struct rpc_save_result r;

	rpc_msg_init(&rpc_msg_save_result, &r);
	r.status = (int)si->status;
	snprintf(r.file, sizeof(r.file), "%s", si->file);
	r.bytes = si->bytes;
	r.pages = si->res.pages.normal;
	r.total_time_ms = si->time_ns / NSEC_PER_MSEC;
	if (si->status == SAVE_FAILED)
		snprintf(r.error, sizeof(r.error), "%s", si->error);
	return rpc_msg_encode(&rpc_msg_save_result, &r);
}

static struct json_object *failed_event(const char *error)
{
	struct rpc_save_failed e;

	snprintf(e.error, sizeof(e.error), "%s", error);
	return rpc_msg_encode(&rpc_msg_save_failed, &e);
}

/* After a failure: the VM continues exactly as it was before the save. */
static void job_failed(struct monitor *m, struct save_job *job)
{
	/* The user's own pause nests with the save's and stays. */
	const char *as_was = m->user_paused ? "VM left paused as it was" :
					      "VM resumed";

	m->save_info.status = SAVE_FAILED;
	snprintf(m->save_info.error, sizeof(m->save_info.error), "%s",
		 job->error);
	if (job->rc != -EINTR || !vm_stopped(&m->vm, NULL, NULL)) {
		if (!monitor_leases_back(m))
			as_was = "VM left paused: its leases were taken";
		else if (vm_resume(&m->vm))
			log_err("cannot resume the VM after the failed save");
	}
	m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	log_err("vm %s: save failed, %s: %s", m->cfg.name, as_was, job->error);
	rpc_server_reply_error(m->rpc, job->call, RPC_ERR_GENERIC,
			       "save failed, %s: %s", as_was, job->error);
	monitor_event(m, "SAVE_FAILED", failed_event(job->error));
}

static void job_succeeded(struct monitor *m, struct save_job *job)
{
	m->save_info.status = SAVE_COMPLETED;
	log_info("vm %s: saved to %s (%llu MiB) in %llu ms", m->cfg.name,
		 job->path, (unsigned long long)(m->save_info.bytes >> 20),
		 (unsigned long long)(m->save_info.time_ns / NSEC_PER_MSEC));
	rpc_server_reply(m->rpc, job->call, job_result(m), -1);
	monitor_event(m, "SAVE_COMPLETED", job_result(m));
	if (job->keep_running) {
		if (monitor_leases_back(m) && vm_resume(&m->vm))
			log_err("cannot resume the VM after saving");
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	} else if (job->leave_paused) {
		/* The save's pause becomes the user's: cont resumes. */
		if (m->user_paused && vm_resume(&m->vm))
			log_err("cannot drop the nested pause");
		m->user_paused = true;
		m->state = RUN_PAUSED;
	} else {
		m->state = RUN_SHUTDOWN;
		m->end_kind = "saved";
		monitor_end(m, 0, "saved to %s", job->path);
	}
}

static void job_done(struct evloop *loop, void *opaque)
{
	struct save_job *job = opaque;
	struct monitor *m = job->m;

	pthread_join(job->thread, NULL);
	close(job->cancel_fd);
	m->save = NULL;
	m->save_info.res = job->res;
	m->save_info.bytes = job->res.bytes;
	m->save_info.time_ns = time_mono_ns() - job->start_ns;
	if (job->rc)
		job_failed(m, job);
	else
		job_succeeded(m, job);
	free(job);
	/* The guest ended while we saved: finish that now. */
	if (m->stop_seen)
		evloop_stop(loop);
}

/* The arguments as rpc/msg_save.h defines them, into the job. */
static int job_parse(struct save_job *job, struct json_object *args,
		     struct rpc_reply *reply)
{
	struct rpc_save_args a;
	char why[RPC_MSG_WHY_MAX];

	if (rpc_msg_decode(&rpc_msg_save, args, &a, why, sizeof(why)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	snprintf(job->path, sizeof(job->path), "%s", a.file);
	job->keep_running = a.keep_running;
	job->leave_paused = a.leave_paused;
	job->compress = a.compress;
	job->stall_ms = a.stall_timeout_ms;
	return RPC_REPLY_LATER;
}

enum rpc_reply_kind monitor_cmd_save(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct save_job *job;
	enum rpc_reply_kind kind;
	int r;

	if (monitor_job_may_start(m, "save", reply) != RPC_REPLY_LATER)
		return RPC_REPLY_ERROR;
	job = calloc(1, sizeof(*job));
	if (!job)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	job->m = m;
	save_target_init(&job->target);
	kind = job_parse(job, args, reply);
	/* save -: the stream goes into the fd that came with the command. */
	if (kind == RPC_REPLY_LATER && !strcmp(job->path, "-")) {
		job->target.fd = rpc_request_take_fd(req);
		if (job->target.fd < 0)
			kind = rpc_reply_error(
				reply, RPC_ERR_GENERIC,
				"save -: no file descriptor came with the command");
	}
	if (kind != RPC_REPLY_LATER) {
		free(job);
		return kind;
	}
	job->call = req->call;
	job->start_ns = time_mono_ns();
	job->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (job->cancel_fd < 0) {
		save_target_close(&job->target);
		free(job);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot create an eventfd: %s",
				       strerror(errno));
	}
	r = pthread_create(&job->thread, NULL, job_thread, job);
	if (r) {
		close(job->cancel_fd);
		save_target_close(&job->target);
		free(job);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot start the save thread: %s",
				       strerror(r));
	}
	m->save = job;
	m->save_info.status = SAVE_ACTIVE;
	m->state = RUN_SAVING;
	snprintf(m->save_info.file, sizeof(m->save_info.file), "%s", job->path);
	m->save_info.error[0] = 0;
	return RPC_REPLY_LATER;
}

_Static_assert((int)SAVE_NONE == (int)RPC_SAVE_NONE &&
		       (int)SAVE_ACTIVE == (int)RPC_SAVE_ACTIVE &&
		       (int)SAVE_COMPLETED == (int)RPC_SAVE_COMPLETED &&
		       (int)SAVE_FAILED == (int)RPC_SAVE_FAILED,
	       "save_status");

enum rpc_reply_kind monitor_cmd_query_save(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;

	if (m->save) {
		m->save_info.bytes = __atomic_load_n(&m->save->stream.offset,
						     __ATOMIC_RELAXED);
		m->save_info.time_ns = time_mono_ns() - m->save->start_ns;
	}
	reply->ret = job_result(m);
	return RPC_REPLY_RETURN;
}

/*
 * Cancel the save in progress: its waits end at once (a write blocked on
 * a FIFO nobody reads, the wait for a reader) and it fails as any failed
 * save does, the VM as it was. The save command itself answers the error.
 */
enum rpc_reply_kind monitor_cmd_save_cancel(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;

	if (!m->save)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "no save is in progress");
	if (stream_cancel_raise(m->save->cancel_fd))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot signal the save thread");
	log_info("vm %s: save to %s cancelled", m->cfg.name, m->save->path);
	return RPC_REPLY_RETURN;
}
