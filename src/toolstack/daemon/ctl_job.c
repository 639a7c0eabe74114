/*
 * Control commands that move a domain's state: save, restore, migrate,
 * and the job commands (job-info, job-abort) that watch or stop a save
 * or migration in progress. The VMM does the work; the daemon starts it,
 * follows its events (relayed to every control client with the domain's
 * name added) and answers when it is done:
 *
 *   save: answered when the VMM has ended after saving (the domain is
 *         gone by then), or at once with -c/-p, or with why it failed.
 *   restore: a new VMM restores the file paused; the domain is
 *         registered when it answers, then resumed unless paused asked.
 *   migrate: answered when the VMM has started; MIGRATION_PASS and
 *         MIGRATION events follow, and the VMM ends on success.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"
#include "toolstack/daemon/preamble.h"
#include "toolstack/daemon/vmlink.h"

#define MIGRATE_START_TIMEOUT_MS 10000

static void job_begin(struct dom *d, enum job_kind kind, const char *target)
{
	d->job.kind = kind;
	d->job.active = true;
	snprintf(d->job.target, sizeof(d->job.target), "%s", target);
}

static bool job_idle(struct dom *d, struct rpc_reply *reply)
{
	if (!d->job.active)
		return true;
	rpc_reply_error(reply, RPC_ERR_GENERIC,
			"domain %s: a %s is already in progress", d->rec.name,
			d->job.kind == JOB_SAVE ? "save" : "migration");
	return false;
}

/* ---- save ---- */

static void save_done(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct ctl_req *j = opaque;
	struct dom *d = reg_by_serial(j->g, j->serial);
	struct dom_waiter *w = d ? dom_wait_find(d, j->call) : NULL;
	char why[320];

	if (d)
		d->job.active = false;
	/* No answer because the VMM is ending: its end answers the waiter,
	 * with the reason from its exit file. */
	if (!w || rc == -ECANCELED || rc == -ECONNRESET) {
		free(j);
		return;
	}
	if (rc) {
		snprintf(why, sizeof(why), "domain %s: %s", j->name, err->desc);
		w->used = false;
		rpc_server_reply_error(j->g->rpc, j->call, RPC_ERR_GENERIC,
				       "%s", why);
	} else if (j->keep) {
		w->used = false;
		rpc_server_reply(j->g->rpc, j->call, json_object_get(ret), -1);
	} else {
		/* The answer goes out once the VMM has ended (saved). */
		json_object_put(w->ret);
		w->ret = json_object_get(ret);
	}
	if (!rc)
		log_info("domain %s: saved to %s", j->name, d->job.target);
	free(j);
}

/*
 * What the daemon passes on to the VMM: the client's message without
 * the domain, which is the daemon's to resolve (rpc/msg.h: the same
 * codec on both sides, so nothing is lost or reinterpreted on the way).
 */
static struct json_object *forwarded(const struct rpc_msg_type *t, void *msg,
				     char *domain)
{
	domain[0] = 0;
	return rpc_msg_encode(t, msg);
}

enum rpc_reply_kind ctl_save(struct rpc_request *req, struct json_object *args,
			     struct rpc_reply *reply)
{
	enum rpc_reply_kind kind;
	struct rpc_save_args a;
	struct json_object *fwd;
	struct ctl_req *j;
	struct dom *d;
	int fd;

	if (!ctl_decode(&rpc_msg_save, args, &a, reply))
		return RPC_REPLY_ERROR;
	d = ctl_find_dom(req->opaque, a.domain, reply);
	if (!d || !ctl_dom_is_live(d, reply) || !job_idle(d, reply))
		return RPC_REPLY_ERROR;
	/* The daemon and its VMMs run in "/": only absolute paths. */
	if (a.file[0] != '/' && strcmp(a.file, "-"))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "save: 'file' must be an absolute path");
	/* save -: the client's descriptor, passed on to the VMM. */
	fd = strcmp(a.file, "-") ? -1 : rpc_request_take_fd(req);
	if (!strcmp(a.file, "-") && fd < 0)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"save -: no file descriptor came with the command");
	j = ctl_req_new(d, req->call);
	if (!j || dom_wait_add(d, WAIT_SAVED, req->call, NULL)) {
		free(j);
		if (fd >= 0)
			close(fd);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s: too many requests waiting",
				       d->rec.name);
	}
	j->keep = a.keep_running || a.leave_paused;
	fwd = forwarded(&rpc_msg_save, &a, a.domain);
	if (fd >= 0)
		kind = vmlink_call_fd(d->link, "save", fwd, fd, -1, save_done,
				      j) ?
			       ctl_vmm_unreachable(d, j, reply) :
			       RPC_REPLY_LATER;
	else
		kind = ctl_call(d, "save", fwd, -1, save_done, j, reply);
	json_object_put(fwd);
	if (kind != RPC_REPLY_LATER) {
		dom_wait_find(d, req->call)->used = false;
		return kind;
	}
	job_begin(d, JOB_SAVE, a.file);
	log_info("domain %s: saving to %s", d->rec.name, a.file);
	return RPC_REPLY_LATER;
}

/* ---- restore ---- */

/*
 * The guest RAM a save file brings, from its header (0 when it does not
 * look like a stream: the VMM then says what is wrong with it).
 */
uint64_t ctl_file_mem_bytes(const char *file)
{
	unsigned char *buf = malloc(PREAMBLE_MAX);
	struct preamble pre = { .kind = PREAMBLE_BAD };
	ssize_t n = -1;
	int fd;

	fd = buf ? open(file, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = pread(fd, buf, PREAMBLE_MAX, 0);
		close(fd);
	}
	if (n > 0)
		preamble_classify(buf, n, &pre);
	free(buf);
	return pre.kind == PREAMBLE_STREAM ? pre.mem_bytes : 0;
}

enum rpc_reply_kind ctl_restore(struct rpc_request *req,
				struct json_object *args,
				struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	struct rpc_restore_args a;
	const char *file = a.file;
	char why[512];
	struct dom *d;
	uint64_t mem;
	int rc;

	if (!ctl_decode(&rpc_msg_restore, args, &a, reply))
		return RPC_REPLY_ERROR;
	if (access(file, R_OK))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "restore: %s: %s", file,
				       strerror(errno));
	mem = ctl_file_mem_bytes(file);
	if (mem && gwd_mem_check(g, mem, why, sizeof(why))) {
		log_err("restore of %s: refused: %s", file, why);
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "restore %s: %s",
				       file, why);
	}
	rc = reg_new(g, &d);
	if (rc)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "restore: %s",
				       strerror(-rc));
	d->rec.origin = ORIGIN_RESTORE;
	d->rec.mem_bytes = mem;
	snprintf(d->rec.peer, sizeof(d->rec.peer), "%s", file);
	d->cont_when_live = !a.paused;
	d->rec.resume = d->cont_when_live; /* survives a daemon restart */
	rc = reg_make_incoming_dir(d);
	/* Paused until its name and uuid are checked: it must not run if
	 * they are taken. */
	if (!rc)
		rc = spawn_vmm(d, SPAWN_RESTORE, file, -1, true);
	if (!rc)
		rc = attach_start(d);
	if (!rc)
		rc = dom_wait_add(d, WAIT_UP, req->call, NULL);
	reg_save(d);
	if (rc) {
		reg_discard(d);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "restore %s: cannot start a VMM: %s",
				       file, strerror(-rc));
	}
	log_info("restore of %s: VMM %d started", file, (int)d->pid);
	return RPC_REPLY_LATER;
}

/* ---- migrate ---- */

static void migrate_started(void *opaque, int rc, struct json_object *ret,
			    const struct vmlink_err *err)
{
	struct ctl_req *j = opaque;
	struct dom *d = reg_by_serial(j->g, j->serial);
	struct rpc_migrate_started st = { .domid = j->domid };

	if (rc) {
		if (d)
			d->job.active = false;
		rpc_server_reply_error(j->g->rpc, j->call, RPC_ERR_GENERIC,
				       "domain %s: %s", j->name, err->desc);
		free(j);
		return;
	}
	/* The client follows the events by this name and id, and goes to
	 * the VM's socket and exit file if this daemon goes away. */
	snprintf(st.domain, sizeof(st.domain), "%s", j->name);
	snprintf(st.qmp, sizeof(st.qmp), "%s", d ? d->rec.qmp : "");
	snprintf(st.exit_file, sizeof(st.exit_file), "%s",
		 d ? d->rec.exit_file : "");
	rpc_server_reply(j->g->rpc, j->call,
			 rpc_msg_encode(&rpc_msg_migrate_started, &st), -1);
	free(j);
}

enum rpc_reply_kind ctl_migrate(struct rpc_request *req,
				struct json_object *args,
				struct rpc_reply *reply)
{
	struct rpc_migrate_args a;
	enum rpc_reply_kind kind;
	struct json_object *fwd;
	struct ctl_req *j;
	struct dom *d;

	if (!ctl_decode(&rpc_msg_migrate, args, &a, reply))
		return RPC_REPLY_ERROR;
	d = ctl_find_dom(req->opaque, a.domain, reply);
	if (!d || !ctl_dom_is_live(d, reply) || !job_idle(d, reply))
		return RPC_REPLY_ERROR;
	j = ctl_req_new(d, req->call);
	if (!j)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	fwd = forwarded(&rpc_msg_migrate, &a, a.domain);
	kind = ctl_call(d, "migrate", fwd, MIGRATE_START_TIMEOUT_MS,
			migrate_started, j, reply);
	json_object_put(fwd);
	if (kind != RPC_REPLY_LATER)
		return kind;
	job_begin(d, JOB_MIGRATE, a.uri);
	log_info("domain %s: migrating to %s", d->rec.name, a.uri);
	return RPC_REPLY_LATER;
}

/* ---- the run state "unconfirmed" ---- */

struct why_ask {
	struct gwd *g;
	uint64_t serial;
};

static void why_done(void *opaque, int rc, struct json_object *ret,
		     const struct vmlink_err *err)
{
	struct why_ask *a = opaque;
	struct dom *d = reg_by_serial(a->g, a->serial);
	char why[RPC_MSG_WHY_MAX];
	struct rpc_migration q;

	free(a);
	if (d && !rc && !strcmp(d->status, "unconfirmed") &&
	    !rpc_msg_decode(&rpc_msg_migration, ret, &q, why, sizeof(why)))
		snprintf(d->status_why, sizeof(d->status_why), "%s", q.error);
}

void job_note_status(struct dom *d, const char *word, const char *why)
{
	struct why_ask *a;

	snprintf(d->status, sizeof(d->status), "%s", word);
	if (strcmp(word, "unconfirmed")) {
		d->status_why[0] = 0;
		return;
	}
	/* Handed over, not confirmed: a migration, even one that started
	 * before this daemon did. */
	if (d->job.kind == JOB_NONE)
		job_begin(d, JOB_MIGRATE, "");
	d->job.active = false;
	if (why && *why)
		snprintf(d->status_why, sizeof(d->status_why), "%s", why);
	if (d->status_why[0] || !vmlink_is_up(d->link))
		return;
	/* Learnt from query-status alone: the reason is query-migrate's. */
	a = malloc(sizeof(*a));
	if (!a)
		return;
	*a = (struct why_ask){ d->gwd, d->serial };
	if (vmlink_call(d->link, "query-migrate", NULL, 5000, why_done, a))
		free(a);
}

/* A VMM event about d's save or migration. */
void job_on_event(struct dom *d, const char *name, struct json_object *data)
{
	char why[RPC_MSG_WHY_MAX];
	struct rpc_migration e;
	const char *status;

	if (strcmp(name, "MIGRATION"))
		return;
	if (rpc_msg_decode(&rpc_msg_migration, data, &e, why, sizeof(why))) {
		log_warn("domain %s: %s", d->rec.name, why);
		return;
	}
	if (e.status == RPC_MIG_ACTIVE) {
		if (!d->job.active || d->job.kind != JOB_MIGRATE)
			job_begin(d, JOB_MIGRATE, "(started on the VM socket)");
		return;
	}
	/* Handed over, its last pages still going: the job goes on. */
	if (e.status == RPC_MIG_POSTCOPY_ACTIVE)
		return;
	d->job.active = false;
	status = rpc_mig_status_name(e.status);
	if (e.status == RPC_MIG_UNCONFIRMED)
		job_note_status(d, "unconfirmed", e.error);
	if (e.error[0])
		log_err("domain %s: migration to %s %s: %s", d->rec.name,
			d->job.target, status, e.error);
	else
		log_info("domain %s: migration to %s %s", d->rec.name,
			 d->job.target, status);
}
