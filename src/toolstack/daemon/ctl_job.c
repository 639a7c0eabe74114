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

/* Only absolute paths: the daemon and its VMMs run in "/". */
static const char *abs_file(struct json_object *args, struct rpc_reply *reply)
{
	const char *file = rpc_json_str(args, "file", NULL);

	if (!file || file[0] != '/' || strlen(file) >= PATH_MAX - 16) {
		rpc_reply_error(reply, RPC_ERR_GENERIC,
				"'file' (an absolute path) is required");
		return NULL;
	}
	return file;
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

enum rpc_reply_kind ctl_save(struct rpc_request *req, struct json_object *args,
			     struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	bool keep = ctl_arg_bool(args, "continue", false);
	bool paused = ctl_arg_bool(args, "paused", false);
	enum rpc_reply_kind kind;
	struct json_object *a;
	const char *file;
	struct ctl_req *j;

	if (!d || !ctl_dom_is_live(d, reply) || !job_idle(d, reply) ||
	    !(file = abs_file(args, reply)))
		return RPC_REPLY_ERROR;
	j = ctl_req_new(d, req->call);
	if (!j || dom_wait_add(d, WAIT_SAVED, req->call, NULL)) {
		free(j);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s: too many requests waiting",
				       d->rec.name);
	}
	j->keep = keep || paused;
	a = json_object_new_object();
	json_object_object_add(a, "file", json_object_new_string(file));
	json_object_object_add(a, "continue", json_object_new_boolean(keep));
	json_object_object_add(a, "paused", json_object_new_boolean(paused));
	kind = ctl_call(d, "save", a, -1, save_done, j, reply);
	json_object_put(a);
	if (kind != RPC_REPLY_LATER) {
		dom_wait_find(d, req->call)->used = false;
		return kind;
	}
	job_begin(d, JOB_SAVE, file);
	log_info("domain %s: saving to %s", d->rec.name, file);
	return RPC_REPLY_LATER;
}

/* ---- restore ---- */

/*
 * The guest RAM a save file brings, from its header (0 when it does not
 * look like a stream: the VMM then says what is wrong with it).
 */
static uint64_t file_mem_bytes(const char *file)
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
	const char *file = abs_file(args, reply);
	char why[512];
	struct dom *d;
	uint64_t mem;
	int rc;

	if (!file)
		return RPC_REPLY_ERROR;
	if (access(file, R_OK))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "restore: %s: %s", file,
				       strerror(errno));
	mem = file_mem_bytes(file);
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
	d->cont_when_live = !ctl_arg_bool(args, "paused", false);
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

	if (rc) {
		if (d)
			d->job.active = false;
		rpc_server_reply_error(j->g->rpc, j->call, RPC_ERR_GENERIC,
				       "domain %s: %s", j->name, err->desc);
	} else {
		/* The client follows the events by this name and id. */
		ret = json_object_new_object();
		json_object_object_add(ret, "domain",
				       json_object_new_string(j->name));
		json_object_object_add(ret, "domid",
				       json_object_new_int64(j->domid));
		/* Where the VM is if this daemon goes away meanwhile. */
		json_object_object_add(ret, "qmp",
				       json_object_new_string(d ? d->rec.qmp :
								  ""));
		json_object_object_add(
			ret, "exit-file",
			json_object_new_string(d ? d->rec.exit_file : ""));
		rpc_server_reply(j->g->rpc, j->call, ret, -1);
	}
	free(j);
}

static void copy_int(struct json_object *from, struct json_object *to,
		     const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(from, key, &v))
		json_object_object_add(to, key, json_object_get(v));
}

static int migrate_uri(struct json_object *args, char *uri, size_t len,
		       struct rpc_reply *reply)
{
	const char *host = rpc_json_str(args, "host", NULL);
	struct json_object *v;
	int64_t port = NET_DEFAULT_PORT;

	if (json_object_object_get_ex(args, "port", &v))
		port = json_object_is_type(v, json_type_int) ?
			       json_object_get_int64(v) :
			       -1;
	if (!host || !*host || port < 1 || port > 65535 ||
	    str_printf(uri, len, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld",
		       host, (long long)port)) {
		rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate: 'host' (a string) and 'port' (1-65535) are required");
		return -EINVAL;
	}
	return 0;
}

enum rpc_reply_kind ctl_migrate(struct rpc_request *req,
				struct json_object *args,
				struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	char uri[NET_HOST_MAX + 16];
	enum rpc_reply_kind kind;
	struct json_object *a;
	struct ctl_req *j;

	if (!d || !ctl_dom_is_live(d, reply) || !job_idle(d, reply) ||
	    migrate_uri(args, uri, sizeof(uri), reply))
		return RPC_REPLY_ERROR;
	j = ctl_req_new(d, req->call);
	if (!j)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	a = json_object_new_object();
	json_object_object_add(a, "uri", json_object_new_string(uri));
	json_object_object_add(
		a, "live",
		json_object_new_boolean(ctl_arg_bool(args, "live", true)));
	copy_int(args, a, "bandwidth");
	copy_int(args, a, "downtime-ms");
	copy_int(args, a, "max-rounds");
	copy_int(args, a, "converge"); /* any JSON value: a string */
	copy_int(args, a, "postcopy");
	kind = ctl_call(d, "migrate", a, MIGRATE_START_TIMEOUT_MS,
			migrate_started, j, reply);
	json_object_put(a);
	if (kind != RPC_REPLY_LATER)
		return kind;
	job_begin(d, JOB_MIGRATE, uri);
	log_info("domain %s: migrating to %s", d->rec.name, uri);
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

	free(a);
	if (d && !rc && !strcmp(d->status, "unconfirmed"))
		snprintf(d->status_why, sizeof(d->status_why), "%s",
			 rpc_json_str(ret, "error", ""));
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
	struct json_object *v;
	const char *status = "";

	if (strcmp(name, "MIGRATION"))
		return;
	if (json_object_object_get_ex(data, "status", &v))
		status = json_object_get_string(v);
	if (!strcmp(status, "active")) {
		if (!d->job.active || d->job.kind != JOB_MIGRATE)
			job_begin(d, JOB_MIGRATE, "(started on the VM socket)");
		return;
	}
	/* Handed over, its last pages still going: the job goes on. */
	if (!strcmp(status, "postcopy-active"))
		return;
	d->job.active = false;
	if (!strcmp(status, "unconfirmed"))
		job_note_status(d, "unconfirmed",
				rpc_json_str(data, "error", ""));
	if (json_object_object_get_ex(data, "error", &v))
		log_err("domain %s: migration to %s %s: %s", d->rec.name,
			d->job.target, status, json_object_get_string(v));
	else
		log_info("domain %s: migration to %s %s", d->rec.name,
			 d->job.target, status);
}
