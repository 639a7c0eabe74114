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
	rc = save_target_open(t, job->path, job->error, sizeof(job->error));
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
	if (!rc)
		rc = save_vm(&job->stream, &m->vm, &m->devs, config, config_len,
			     &job->res);
	if (!rc)
		rc = stream_flush(&job->stream);
	if (rc)
		job_io_error(job, rc);
	stream_close(&job->stream);
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
		rc = job_write(job);
		save_target_close(&job->target);
	}
	job->rc = rc;
	if (evloop_call(job->m->loop, job_done, job))
		evloop_wakeup(job->m->loop); /* cannot happen: see below */
	return NULL;
}

static struct json_object *job_result(struct monitor *m)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(m->job_file));
	json_object_object_add(o, "bytes", json_object_new_int64(m->job_bytes));
	json_object_object_add(o, "pages",
			       json_object_new_int64(m->job_res.pages.normal));
	json_object_object_add(
		o, "total-time-ms",
		json_object_new_int64(m->job_time_ns / NSEC_PER_MSEC));
	return o;
}

/* After a failure: the VM continues exactly as it was before the save. */
static void job_failed(struct monitor *m, struct save_job *job)
{
	/* The user's own pause nests with the save's and stays. */
	const char *as_was = m->user_paused ? "VM left paused as it was" :
					      "VM resumed";

	m->job_status = JOB_FAILED;
	snprintf(m->job_error, sizeof(m->job_error), "%s", job->error);
	if (job->rc != -EINTR || !vm_stopped(&m->vm, NULL, NULL))
		if (vm_resume(&m->vm))
			log_err("cannot resume the VM after the failed save");
	m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	log_err("vm %s: save failed, %s: %s", m->cfg.name, as_was, job->error);
	rpc_server_reply_error(m->rpc, job->call, RPC_ERR_GENERIC,
			       "save failed, %s: %s", as_was, job->error);
	monitor_event(m, "SAVE_FAILED", json_object_new_string(job->error));
}

static void job_succeeded(struct monitor *m, struct save_job *job)
{
	m->job_status = JOB_COMPLETED;
	log_info("vm %s: saved to %s (%llu MiB) in %llu ms", m->cfg.name,
		 job->path, (unsigned long long)(m->job_bytes >> 20),
		 (unsigned long long)(m->job_time_ns / NSEC_PER_MSEC));
	rpc_server_reply(m->rpc, job->call, job_result(m), -1);
	monitor_event(m, "SAVE_COMPLETED", job_result(m));
	if (job->keep_running) {
		if (vm_resume(&m->vm))
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
	m->job = NULL;
	m->job_res = job->res;
	m->job_bytes = job->res.bytes;
	m->job_time_ns = time_mono_ns() - job->start_ns;
	if (job->rc)
		job_failed(m, job);
	else
		job_succeeded(m, job);
	free(job);
	/* The guest ended while we saved: finish that now. */
	if (m->stop_seen)
		evloop_stop(loop);
}

/* How the save's I/O waits: the stall timeout, a FIFO target. */
static int job_parse_io(struct save_job *job, struct json_object *args,
			struct rpc_reply *reply)
{
	struct json_object *v;
	int64_t ms = MONITOR_STALL_MS_DEFAULT;

	if (json_object_object_get_ex(args, "stall-timeout-ms", &v))
		ms = json_object_is_type(v, json_type_int) ?
			     json_object_get_int64(v) :
			     -1;
	if (ms < 100 || ms > 3600000)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"save: 'stall-timeout-ms' must be an integer from 100 to 3600000");
	job->stall_ms = ms;
	return RPC_REPLY_LATER;
}

static int job_parse(struct save_job *job, struct json_object *args,
		     struct rpc_reply *reply)
{
	const char *file = rpc_json_str(args, "file", NULL);
	struct json_object *v;

	if (!file)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "save: 'file' (a string) is required");
	if (!*file || strlen(file) >= sizeof(job->path))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "save: 'file' is empty or too long");
	strcpy(job->path, file);
	if (json_object_object_get_ex(args, "continue", &v))
		job->keep_running = json_object_get_boolean(v);
	if (json_object_object_get_ex(args, "paused", &v))
		job->leave_paused = json_object_get_boolean(v);
	if (job->keep_running && job->leave_paused)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"save: 'continue' and 'paused' exclude each other");
	return job_parse_io(job, args, reply);
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
	if (kind != RPC_REPLY_LATER) {
		free(job);
		return kind;
	}
	job->call = req->call;
	job->start_ns = time_mono_ns();
	job->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (job->cancel_fd < 0) {
		free(job);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot create an eventfd: %s",
				       strerror(errno));
	}
	r = pthread_create(&job->thread, NULL, job_thread, job);
	if (r) {
		close(job->cancel_fd);
		free(job);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot start the save thread: %s",
				       strerror(r));
	}
	m->job = job;
	m->job_status = JOB_ACTIVE;
	m->state = RUN_SAVING;
	snprintf(m->job_file, sizeof(m->job_file), "%s", job->path);
	m->job_error[0] = 0;
	return RPC_REPLY_LATER;
}

static const char *job_status_name(enum job_status s)
{
	static const char *const names[] = { "none", "active", "completed",
					     "failed" };

	return names[s];
}

enum rpc_reply_kind monitor_cmd_query_save(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct json_object *o;

	if (m->job) {
		m->job_bytes = __atomic_load_n(&m->job->stream.offset,
					       __ATOMIC_RELAXED);
		m->job_time_ns = time_mono_ns() - m->job->start_ns;
	}
	o = m->job_status == JOB_NONE ? json_object_new_object() :
					job_result(m);
	json_object_object_add(
		o, "status",
		json_object_new_string(job_status_name(m->job_status)));
	if (m->job_status == JOB_FAILED)
		json_object_object_add(o, "error",
				       json_object_new_string(m->job_error));
	reply->ret = o;
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

	if (!m->job)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "no save is in progress");
	if (stream_cancel_raise(m->job->cancel_fd))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot signal the save thread");
	log_info("vm %s: save to %s cancelled", m->cfg.name, m->job->path);
	return RPC_REPLY_RETURN;
}
