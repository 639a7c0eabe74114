/*
 * The domain registry: the daemon's list of domains and its files.
 *
 *   STATE/next-domid            the next domain id (ids are never reused)
 *   STATE/domains/UUID/state    statefile.h: who, which VMM, where
 *   STATE/domains/UUID/config   the domain's xl.cfg text
 *   STATE/domains/UUID/exit     the VMM's exit file
 *   STATE/incoming/TOKEN/       an arrival (restore, migration) until it
 *                               is identified; its exit file stays here
 *
 * Every file is written to a temporary name and renamed, so a daemon
 * killed at any moment leaves either the old or the new version.
 */
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/managed.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "toolstack/daemon/vmlink.h"
#include "rpc/sock.h"

int reg_new(struct gwd *g, struct dom **dom_out)
{
	struct dom *d, **pp;

	if (g->nr_doms >= GWD_DOMAINS_MAX)
		return -EMFILE;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->gwd = g;
	d->serial = ++g->next_serial;
	d->pidfd = -1;
	d->spawn_fd = -1;
	d->rec.created = time_real_ns() / NSEC_PER_SEC;
	for (pp = &g->doms; *pp; pp = &(*pp)->next)
		;
	*pp = d;
	g->nr_doms++;
	*dom_out = d;
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

struct dom *reg_by_name(struct gwd *g, const char *name)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (d->registered && !strcmp(d->rec.name, name))
			return d;
	return NULL;
}

struct dom *reg_by_uuid(struct gwd *g, const char *uuid)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (d->registered && !strcasecmp(d->rec.uuid, uuid))
			return d;
	return NULL;
}

struct dom *reg_find(struct gwd *g, const char *spec)
{
	struct dom *d;
	uint8_t uuid[16];
	uint64_t id;

	if (all_digits(spec) && !parse_u64(spec, &id)) {
		for (d = g->doms; d; d = d->next)
			if (d->registered && d->rec.domid == id)
				return d;
	}
	if (!domain_config_uuid_parse(spec, uuid) && (d = reg_by_uuid(g, spec)))
		return d;
	return reg_by_name(g, spec);
}

void dom_log_ctx(const struct dom *d)
{
	char job[48] = "";

	if (d->job.active)
		snprintf(job, sizeof(job), "%s %s",
			 d->job.kind == JOB_SAVE ? "save" : "migrate",
			 d->job.target);
	log_ctx_set(d->rec.name[0] ? d->rec.name : NULL,
		    d->rec.uuid[0] ? d->rec.uuid : NULL, job);
}

struct dom *reg_by_serial(struct gwd *g, uint64_t serial)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next) {
		if (d->serial == serial) {
			dom_log_ctx(d);
			return d;
		}
	}
	return NULL;
}

struct dom *reg_by_pid(struct gwd *g, pid_t pid)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next) {
		if (d->pid == pid && pid > 0) {
			dom_log_ctx(d);
			return d;
		}
	}
	return NULL;
}

int reg_qmp_path(struct gwd *g, const char *name, char *buf, size_t len)
{
	return util_vm_socket(g->paths.run_dir, name, buf, len);
}

const char *dom_label(const struct dom *d)
{
	return d->rec.name[0] ? d->rec.name : "(arriving)";
}

/* Registry files are for the daemon (root) alone. */
static int write_atomic(const char *path, const char *text)
{
	return file_write_atomic(path, text, strlen(text), 0600);
}

static void save_next_domid(struct gwd *g)
{
	char path[PATH_MAX], text[32];

	snprintf(text, sizeof(text), "%u\n", g->next_domid);
	if (str_printf(path, sizeof(path), "%s/next-domid",
		       g->paths.state_dir) ||
	    write_atomic(path, text))
		log_warn("cannot record the next domain id in %s/next-domid",
			 g->paths.state_dir);
}

unsigned int reg_next_domid(struct gwd *g)
{
	unsigned int id = g->next_domid++;

	save_next_domid(g);
	return id;
}

void reg_return_domid(struct gwd *g, unsigned int id)
{
	if (!id || g->next_domid != id + 1)
		return;
	g->next_domid = id;
	save_next_domid(g);
}

static bool dir_in_use(struct gwd *g, const char *dir)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (!strcmp(d->rec.dir, dir))
			return true;
	return access(dir, F_OK) == 0;
}

int reg_make_dir(struct dom *d)
{
	struct gwd *g = d->gwd;
	char dir[PATH_MAX];
	int rc;

	rc = str_printf(dir, sizeof(dir), "%s/domains/%s", g->paths.state_dir,
			d->rec.uuid);
	/* Two domains with one uuid (a restored copy): keep both apart. */
	if (!rc && dir_in_use(g, dir))
		rc = str_printf(dir, sizeof(dir), "%s/domains/%s.%u",
				g->paths.state_dir, d->rec.uuid, d->rec.domid);
	if (!rc)
		rc = mkdir_p(dir, 0700);
	if (rc)
		return rc;
	strcpy(d->rec.dir, dir);
	return 0;
}

int reg_make_incoming_dir(struct dom *d)
{
	struct gwd *g = d->gwd;
	char token[64];
	int rc;

	snprintf(token, sizeof(token), "%llx-%llu",
		 (unsigned long long)(time_real_ns() / NSEC_PER_USEC),
		 (unsigned long long)++g->next_token);
	rc = str_printf(d->rec.dir, sizeof(d->rec.dir), "%s/incoming/%s",
			g->paths.state_dir, token);
	if (!rc)
		rc = mkdir_p(d->rec.dir, 0700);
	if (!rc)
		rc = str_printf(d->rec.exit_file, sizeof(d->rec.exit_file),
				"%s/exit", d->rec.dir);
	if (!rc)
		rc = str_printf(d->rec.qmp, sizeof(d->rec.qmp), "%s/vm/.%s.qmp",
				g->paths.run_dir, token);
	return rc;
}

static enum rec_state rec_state_of(const struct dom *d)
{
	if (!d->registered)
		return REC_INCOMING;
	switch (d->state) {
	case DOM_STARTING:
		return REC_STARTING;
	case DOM_LIVE:
		return REC_RUNNING;
	case DOM_SHUTDOWN:
		return REC_SHUTDOWN;
	case DOM_CRASHED:
		return REC_CRASHED;
	default:
		return REC_DYING;
	}
}

int reg_save(struct dom *d)
{
	char path[PATH_MAX + 16], *text;
	int rc;

	if (!d->rec.dir[0])
		return 0;
	d->rec.state = rec_state_of(d);
	d->rec.pid = d->pid;
	rc = state_format(&d->rec, &text);
	if (rc)
		return rc;
	rc = str_printf(path, sizeof(path), "%s/state", d->rec.dir);
	if (!rc)
		rc = write_atomic(path, text);
	free(text);
	if (rc)
		log_err("domain %s: cannot write %s/state: %s", d->rec.name,
			d->rec.dir, strerror(-rc));
	return rc;
}

int reg_write_config(struct dom *d)
{
	char path[PATH_MAX + 16];
	int rc;

	rc = str_printf(path, sizeof(path), "%s/config", d->rec.dir);
	if (!rc)
		rc = write_atomic(path, d->config_text);
	return rc;
}

int reg_set_config(struct dom *d, const char *text, size_t len, char *why,
		   size_t whylen)
{
	struct domain_config *cfg = malloc(sizeof(*cfg));
	struct config_diag *diag = malloc(sizeof(*diag));
	char *copy = malloc(len + 1);
	int rc = -ENOMEM;

	if (cfg && diag && copy) {
		memcpy(copy, text, len);
		copy[len] = 0;
		rc = domain_config_parse("config", copy, len, NULL, 0, cfg,
					 diag);
		if (rc)
			snprintf(why, whylen, "%s", diag->error);
	} else {
		snprintf(why, whylen, "out of memory");
	}
	free(diag);
	if (rc) {
		free(cfg);
		free(copy);
		return rc;
	}
	free(d->cfg);
	free(d->config_text);
	d->cfg = cfg;
	d->config_text = copy;
	return 0;
}

int dom_wait_add(struct dom *d, enum dom_wait kind, struct rpc_call call,
		 struct json_object *ret)
{
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++) {
		if (d->waiters[i].used)
			continue;
		d->waiters[i] = (struct dom_waiter){ true, kind, call, ret };
		return 0;
	}
	json_object_put(ret);
	return -EBUSY;
}

void dom_wait_done(struct dom *d, enum dom_wait kind, const char *why)
{
	struct rpc_server *srv = d->gwd->rpc;
	struct dom_waiter *w;
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++) {
		w = &d->waiters[i];
		if (!w->used || w->kind != kind)
			continue;
		w->used = false;
		if (why) {
			rpc_server_reply_error(srv, w->call, RPC_ERR_GENERIC,
					       "%s", why);
			json_object_put(w->ret);
		} else {
			rpc_server_reply(srv, w->call, w->ret, -1);
		}
		w->ret = NULL;
	}
}

bool dom_wait_any(const struct dom *d, enum dom_wait kind)
{
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++)
		if (d->waiters[i].used && d->waiters[i].kind == kind)
			return true;
	return false;
}

struct dom_waiter *dom_wait_find(struct dom *d, struct rpc_call call)
{
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++)
		if (d->waiters[i].used &&
		    d->waiters[i].call.conn_id == call.conn_id &&
		    d->waiters[i].call.seq == call.seq)
			return &d->waiters[i];
	return NULL;
}

/* Unlink the VM socket if nothing answers on it any more. */
static void remove_stale_socket(const char *path)
{
	struct stat st;
	int fd;

	if (!path[0] || lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return;
	fd = rpc_sock_connect(path, 0);
	if (fd >= 0) {
		close(fd);
		return;
	}
	unlink(path);
}

void reg_drop_exit_file(struct dom *d)
{
	char path[PATH_MAX + 16], dir[PATH_MAX];

	arrival_keep(d);
	if (!d->rec.exit_file[0])
		return;
	unlink(d->rec.exit_file);
	snprintf(path, sizeof(path), "%s.tmp", d->rec.exit_file);
	unlink(path);
	/* An arrival's exit file lives in a directory of its own. */
	snprintf(dir, sizeof(dir), "%s", d->rec.exit_file);
	if (strrchr(dir, '/') && strcmp(dir, d->rec.dir)) {
		*strrchr(dir, '/') = 0;
		if (strcmp(dir, d->rec.dir) && strstr(dir, "/incoming/"))
			rmdir(dir);
	}
}

static void remove_files(struct dom *d)
{
	static const char *const names[] = { "state",  "state.tmp",
					     "config", "config.tmp",
					     "exit",   "exit.tmp" };
	char path[PATH_MAX + 16];
	size_t i;

	if (d->pid <= 0)
		remove_stale_socket(d->rec.qmp);
	reg_drop_exit_file(d);
	if (!d->rec.dir[0])
		return;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->rec.dir, names[i]);
		unlink(path);
	}
	if (rmdir(d->rec.dir) && errno != ENOENT)
		log_warn("cannot remove %s: %s", d->rec.dir, strerror(errno));
}

static void dom_release(struct dom *d, const char *why)
{
	struct gwd *g = d->gwd;
	struct dom **pp;

	attach_stop(d);
	spawn_forget(d);
	evloop_timer_free(d->kill_timer);
	d->kill_timer = NULL;
	if (d->pidfd >= 0) {
		evloop_del_fd(g->loop, d->pidfd);
		close(d->pidfd);
		d->pidfd = -1;
	}
	dom_wait_done(d, WAIT_UP, why);
	/* Gone is what destroy and shutdown -w wait for. */
	dom_wait_done(d, WAIT_GONE, d->pid > 0 ? why : NULL);
	dom_wait_done(d, WAIT_SAVED, why ? why : "the domain went away");
	for (pp = &g->doms; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			g->nr_doms--;
			break;
		}
	}
	free(d->cfg);
	free(d->config_text);
	free(d);
}

void reg_remove(struct dom *d, const char *why)
{
	managed_restore_failed(d, why); /* kept, with why */
	remove_files(d);
	dom_release(d, why);
}

void reg_discard(struct dom *d)
{
	sup_kill(d);
	d->pid = 0; /* killed: its socket file may go with the rest */
	reg_remove(d, NULL);
}

void reg_free(struct dom *d)
{
	dom_release(d, "godwitd is shutting down");
}
