/*
 * From a VMM process to a live domain: connect to its control socket
 * (retrying while it starts: the socket appears once the VM is built,
 * and a migration's VMM answers only after the handover), ask who it is
 * (query-domain) and where its console is, then mark the domain LIVE and
 * answer whoever waits for it.
 *
 * A created or adopted domain must answer with the uuid we know. An
 * arrival (restore, incoming migration) is identified here: it gets its
 * domid, registry directory, config (query-config) and its socket is
 * renamed to RUN/vm/NAME.qmp. A restore whose name or uuid is taken is
 * refused and quit (it was started paused, so it never ran); a migration
 * cannot be refused any more once it answers, so a name clash renames it.
 */
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/managed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/msg_domain.h"
#include "toolstack/daemon/vmlink.h"

#define PROBE_FIRST_MS 20
#define PROBE_MAX_MS 200
#define QUERY_TIMEOUT_MS 10000

static void attach_probe_later(struct dom *d, unsigned int ms)
{
	d->probe_ms = ms;
	evloop_timer_arm(d->probe, (uint64_t)ms * NSEC_PER_MSEC, 0);
}

/* ---- link callbacks ---- */

static void on_event(struct vmlink *l, void *opaque, const char *name,
		     struct json_object *data)
{
	struct dom *d = opaque;

	dom_log_ctx(d);
	/* A STOP does not hide that it is unconfirmed (it is paused). */
	if (!strcmp(name, "STOP") && strcmp(d->status, "unconfirmed"))
		job_note_status(d, "paused", NULL);
	else if (!strcmp(name, "RESUME"))
		job_note_status(d, "running", NULL);
	else if (!strcmp(name, "SHUTDOWN"))
		job_note_status(d, "shutdown", NULL);
	if (!strncmp(name, "MIGRATION", 9) || !strncmp(name, "SAVE", 4))
		job_on_event(d, name, data);
	/* Every client may follow every domain: the VMM's events go on as
	 * they are, naming the domain (ctl_relay_event). */
	ctl_relay_event(d, name, data);
}

static void on_down(struct vmlink *l, void *opaque, const char *why)
{
	struct dom *d = opaque;

	dom_log_ctx(d);
	log_debug("domain %s: control socket: %s", d->rec.name, why);
	vmlink_free(d->link);
	d->link = NULL;
	/* The VMM closes it only when it ends; if it lives on, reconnect. */
	if (d->pid > 0 && d->state != DOM_DYING)
		attach_probe_later(d, PROBE_MAX_MS);
}

static void on_up(struct vmlink *l, void *opaque);

static const struct vmlink_ops link_ops = {
	.up = on_up,
	.event = on_event,
	.down = on_down,
};

/* ---- identity queries: each callback finds its domain by serial ---- */

struct attach_ctx {
	struct gwd *g;
	uint64_t serial;
};

static struct attach_ctx *ctx_new(struct dom *d)
{
	struct attach_ctx *c = malloc(sizeof(*c));

	if (c)
		*c = (struct attach_ctx){ d->gwd, d->serial };
	return c;
}

/* Ask; on failure, call fn's failure path at once. */
static void ask(struct dom *d, const char *command, vmlink_reply_fn fn)
{
	struct vmlink_err err = { "", "out of memory" };
	struct attach_ctx *c = ctx_new(d);

	if (c && !vmlink_call(d->link, command, NULL, QUERY_TIMEOUT_MS, fn, c))
		return;
	snprintf(err.desc, sizeof(err.desc), "cannot send %s", command);
	fn(c, -EIO, NULL, &err);
}

static struct dom *ctx_dom(void *opaque)
{
	struct attach_ctx *c = opaque;
	struct dom *d;

	if (!c)
		return NULL;
	d = reg_by_serial(c->g, c->serial);
	free(c);
	return d;
}

/* A query failed: drop this link and try again a little later. */
static void attach_retry(struct dom *d, const char *what, const char *why)
{
	log_warn("domain %s: %s: %s; retrying", dom_label(d), what, why);
	vmlink_free(d->link);
	d->link = NULL;
	attach_probe_later(d, PROBE_MAX_MS);
}

/* Everyone waiting for the domain to come up gets its identity. */
void attach_answer_up(struct dom *d)
{
	struct json_object *ret;
	char why[RPC_MSG_WHY_MAX];
	struct dom_waiter *w;
	struct rpc_dom_made m;
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++) {
		w = &d->waiters[i];
		if (!w->used || w->kind != WAIT_UP)
			continue;
		/* create's waiter has the config's warnings already. */
		if (rpc_msg_decode(&rpc_msg_dom_made, w->ret, &m, why,
				   sizeof(why)))
			rpc_msg_init(&rpc_msg_dom_made, &m);
		m.domid = d->rec.domid;
		snprintf(m.name, sizeof(m.name), "%s", d->rec.name);
		snprintf(m.uuid, sizeof(m.uuid), "%s", d->rec.uuid);
		ret = rpc_msg_encode(&rpc_msg_dom_made, &m);
		json_object_put(w->ret);
		w->ret = ret;
	}
	dom_wait_done(d, WAIT_UP, NULL);
}

static void on_cont(void *opaque, int rc, struct json_object *ret,
		    const struct vmlink_err *err)
{
	struct dom *d = ctx_dom(opaque);

	if (d && rc)
		log_err("domain %s: cannot start the restored VM: %s",
			d->rec.name, err->desc);
	if (d && !rc) {
		/* Done: a daemon restarted from here on leaves it be. */
		d->rec.resume = false;
		reg_save(d);
	}
}

static void on_quit(void *opaque, int rc, struct json_object *ret,
		    const struct vmlink_err *err)
{
	struct dom *d = ctx_dom(opaque);

	if (d && rc)
		sup_kill(d);
}

/*
 * A created guest that ends at once (a kernel that cannot boot, a test
 * guest whose area does not fit its memory) must not be reported as
 * created: the answer waits until it has run GWD_CREATE_SETTLE_MS, and
 * if it ends before, life_vmm_ended answers with how (lifecycle_run.c).
 * A paused guest does not run: it is answered at once.
 */
static void on_settled(struct evloop *loop, struct evloop_timer *t,
		       void *opaque)
{
	dom_log_ctx(opaque);
	attach_answer_up(opaque);
}

static bool settle_first(struct dom *d)
{
	if (d->rec.origin != ORIGIN_CREATE || !dom_wait_any(d, WAIT_UP) ||
	    !strcmp(d->status, "paused"))
		return false;
	if (!d->settle &&
	    evloop_timer_new(d->gwd->loop, on_settled, d, &d->settle))
		return false;
	evloop_timer_arm(d->settle, GWD_CREATE_SETTLE_MS * NSEC_PER_MSEC, 0);
	return true;
}

static void go_live(struct dom *d)
{
	bool was_adopting = d->state == DOM_STARTING && !d->child;

	d->state = DOM_LIVE;
	d->live_ns = time_mono_ns();
	spawn_forget(d); /* it runs: nothing more to hear from the child */
	reg_save(d);
	if (was_adopting)
		log_info("domain %s (id %u): adopted VMM %d", d->rec.name,
			 d->rec.domid, (int)d->pid);
	if (d->cont_when_live) {
		d->cont_when_live = false;
		ask(d, "cont", on_cont);
	}
	managed_restored(d); /* it runs: a managed save is used up */
	if (!settle_first(d))
		attach_answer_up(d);
}

static void on_console(void *opaque, int rc, struct json_object *ret,
		       const struct vmlink_err *err)
{
	struct dom *d = ctx_dom(opaque);
	char why[RPC_MSG_WHY_MAX];
	struct rpc_console c;

	if (!d)
		return;
	if (!rc && rpc_msg_decode(&rpc_msg_console, ret, &c, why, sizeof(why)))
		rc = -EPROTO;
	if (rc)
		return attach_retry(d, "query-console",
				    rc == -EPROTO ? why : err->desc);
	snprintf(d->rec.console, sizeof(d->rec.console), "%s",
		 strcmp(c.type, "pty") ? "" : c.path);
	go_live(d);
}

/* ---- arrivals ---- */

/* Refuse a restore whose identity is taken: it never ran (-p). */
static void refuse_arrival(struct dom *d, const char *fmt, const char *a,
			   unsigned int id)
{
	char why[256];

	snprintf(why, sizeof(why), fmt, a, id);
	log_err("restore %s: %s", d->rec.peer, why);
	d->destroying = true;
	dom_wait_done(d, WAIT_UP, why);
	ask(d, "quit", on_quit);
	evloop_timer_arm(d->kill_timer, DOM_QUIT_GRACE_MS * NSEC_PER_MSEC, 0);
}

/* Check a new arrival's name and uuid; false if it was refused. */
static bool arrival_identity_ok(struct dom *d, const char *name,
				const char *uuid)
{
	struct gwd *g = d->gwd;
	struct dom *o;

	if ((o = reg_by_name(g, name))) {
		if (d->rec.origin == ORIGIN_RESTORE) {
			refuse_arrival(
				d, "a domain named '%s' already exists (id %u)",
				name, o->rec.domid);
			return false;
		}
		/* Handed over already: keep it, under another name. */
		log_warn(
			"migration from %s: a domain named '%s' already exists; the arrival is renamed",
			d->rec.peer, name);
		snprintf(d->rec.name, sizeof(d->rec.name), "%.40s-%u", name,
			 d->rec.domid);
	}
	if (d->rec.origin == ORIGIN_RESTORE && (o = reg_by_uuid(g, uuid))) {
		refuse_arrival(
			d,
			"a domain with this uuid already exists: '%s' (id %u)",
			o->rec.name, o->rec.domid);
		return false;
	}
	return true;
}

/* Give the arrival its own socket name, RUN/vm/NAME.qmp, if free. */
static void arrival_rename_socket(struct dom *d)
{
	char path[PATH_MAX];

	if (reg_qmp_path(d->gwd, d->rec.name, path, sizeof(path)))
		return;
	if (renameat2(AT_FDCWD, d->rec.qmp, AT_FDCWD, path, RENAME_NOREPLACE)) {
		log_warn("domain %s: keeping its control socket at %s (%s: %s)",
			 d->rec.name, d->rec.qmp, path, strerror(errno));
		return;
	}
	strcpy(d->rec.qmp, path);
}

/*
 * Move an arrival's record from incoming/TOKEN to its registry directory
 * without a moment where neither holds it: the registered record is
 * written where the old one lies, naming its home, then renamed there. A
 * daemon killed in between finds it in incoming/ and finishes the move
 * (adopt.c). Its exit and outcome files stay in incoming/TOKEN, named by
 * the VMM's command line, for the life of the VMM.
 */
static void arrival_move_record(struct dom *d, const char *old_dir)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];

	snprintf(d->rec.home, sizeof(d->rec.home), "%s", d->rec.dir);
	snprintf(d->rec.dir, sizeof(d->rec.dir), "%s", old_dir);
	if (reg_save(d))
		return; /* still the arrival's record: adopted as one */
	gwd_test_stall("register");
	snprintf(from, sizeof(from), "%s/state", old_dir);
	snprintf(to, sizeof(to), "%s/state", d->rec.home);
	if (rename(from, to)) {
		log_err("domain %s: cannot move its record from %s to %s: %s",
			d->rec.name, old_dir, d->rec.home, strerror(errno));
		return;
	}
	snprintf(d->rec.dir, sizeof(d->rec.dir), "%s", d->rec.home);
	d->rec.home[0] = 0;
}

static int arrival_register(struct dom *d, struct json_object *ret)
{
	char old_dir[PATH_MAX], why[CONFIG_MSG_MAX];
	struct rpc_vm_config q;
	int rc;

	if (rpc_msg_decode(&rpc_msg_vm_config, ret, &q, why, sizeof(why)))
		log_warn("domain %s: %s", d->rec.name, why);
	else if (reg_set_config(d, q.config, strlen(q.config), why,
				sizeof(why)))
		log_warn("domain %s: its configuration does not parse here: %s",
			 d->rec.name, why);
	snprintf(old_dir, sizeof(old_dir), "%s", d->rec.dir);
	rc = reg_make_dir(d);
	if (rc)
		return rc;
	if (d->config_text && reg_write_config(d))
		log_warn("domain %s: cannot write its config", d->rec.name);
	arrival_rename_socket(d);
	gwd_test_stall("renamed");
	d->registered = true;
	arrival_move_record(d, old_dir);
	if (d->rec.origin == ORIGIN_MIGRATION)
		log_info("domain %s (id %u): arrived by migration from %s",
			 d->rec.name, d->rec.domid, d->rec.peer);
	else if (d->rec.origin == ORIGIN_RESTORE)
		log_info("domain %s (id %u): restored from %s", d->rec.name,
			 d->rec.domid, d->rec.peer);
	else
		log_info("domain %s (id %u): adopted", d->rec.name,
			 d->rec.domid);
	return 0;
}

static void on_config(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct dom *d = ctx_dom(opaque);

	if (!d)
		return;
	if (rc)
		return attach_retry(d, "query-config", err->desc);
	rc = arrival_register(d, ret);
	if (rc) {
		log_err("domain %s: cannot register it: %s", d->rec.name,
			strerror(-rc));
		return attach_retry(d, "registration", strerror(-rc));
	}
	ask(d, "query-console", on_console);
}

/* ---- query-domain: who answers? ---- */

static void on_domain(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct dom *d = ctx_dom(opaque);
	char why[RPC_MSG_WHY_MAX];
	struct rpc_vm_domain q;
	const char *uuid = q.uuid, *name = q.name;

	if (!d)
		return;
	if (!rc &&
	    rpc_msg_decode(&rpc_msg_vm_domain, ret, &q, why, sizeof(why)))
		rc = -EPROTO;
	if (rc)
		return attach_retry(d, "query-domain",
				    rc == -EPROTO ? why : err->desc);
	job_note_status(d, q.status, NULL);
	d->cpu_ns = q.cpu_time_ns;
	if (d->registered) {
		if (strcasecmp(uuid, d->rec.uuid)) {
			log_err("domain %s: %s answers for another domain (%s, uuid %s); not adopting it",
				d->rec.name, d->rec.qmp, name, uuid);
			vmlink_free(d->link);
			d->link = NULL;
			return;
		}
		ask(d, "query-console", on_console);
		return;
	}
	d->rec.domid = reg_next_domid(d->gwd);
	snprintf(d->rec.name, sizeof(d->rec.name), "%s", name);
	snprintf(d->rec.uuid, sizeof(d->rec.uuid), "%s", uuid);
	if (!arrival_identity_ok(d, name, uuid))
		return;
	ask(d, "query-config", on_config);
}

static void on_up(struct vmlink *l, void *opaque)
{
	struct dom *d = opaque;

	ask(d, "query-domain", on_domain);
}

/* ---- probing ---- */

static void on_probe(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct dom *d = opaque;
	int rc;

	dom_log_ctx(d);
	if (d->link)
		return;
	rc = vmlink_open(loop, d->rec.qmp, &link_ops, d, &d->link);
	if (!rc)
		return;
	d->link = NULL;
	if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ETIMEDOUT)
		log_debug("domain %s: %s: %s", d->rec.name, d->rec.qmp,
			  strerror(-rc));
	attach_probe_later(d, MIN(d->probe_ms * 2, PROBE_MAX_MS));
}

static void on_kill_timer(struct evloop *loop, struct evloop_timer *t,
			  void *opaque)
{
	struct dom *d = opaque;

	log_warn("domain %s: VMM %d did not end in time; killing it",
		 dom_label(d), (int)d->pid);
	sup_kill(d);
}

int attach_start(struct dom *d)
{
	struct evloop *loop = d->gwd->loop;
	int rc = 0;

	if (!d->probe)
		rc = evloop_timer_new(loop, on_probe, d, &d->probe);
	if (!rc && !d->kill_timer)
		rc = evloop_timer_new(loop, on_kill_timer, d, &d->kill_timer);
	if (rc)
		return rc;
	attach_probe_later(d, PROBE_FIRST_MS);
	return 0;
}

void attach_stop(struct dom *d)
{
	vmlink_free(d->link);
	d->link = NULL;
	evloop_timer_free(d->probe);
	d->probe = NULL;
	evloop_timer_free(d->settle);
	d->settle = NULL;
}
