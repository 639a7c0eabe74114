/*
 * godwitd's control socket: the command table and the commands about a
 * domain's state (list, pause, unpause, shutdown, destroy, console).
 * create lives in ctl_create.c; save, restore, migrate and the job
 * commands in ctl_job.c. Handlers never block: what needs the VMM is
 * forwarded over the domain's link and answered when the VMM answers.
 * Domains are named by id, uuid or name (reg_find). Every error says
 * what was wrong, on one line.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "rpc/msg_domain.h"
#include "toolstack/daemon/managed.h"
#include "toolstack/daemon/vmlink.h"

#define LIST_QUERY_TIMEOUT_MS 2000
#define FORWARD_TIMEOUT_MS 10000
#define QUIT_TIMEOUT_MS 3000

static struct gwd *req_gwd(struct rpc_request *req)
{
	return req->opaque;
}

struct dom *ctl_find_dom(struct gwd *g, const char *spec,
			 struct rpc_reply *reply)
{
	struct dom *d;

	if (!spec[0]) {
		rpc_reply_error(reply, RPC_ERR_GENERIC,
				"'domain' (a name, id or uuid) is required");
		return NULL;
	}
	d = reg_find(g, spec);
	if (!d)
		rpc_reply_error(reply, RPC_ERR_DEVICE_NOT_FOUND,
				"no domain '%s' (by name, id or uuid)", spec);
	else
		dom_log_ctx(d);
	return d;
}

bool ctl_decode(const struct rpc_msg_type *t, struct json_object *args,
		void *msg, struct rpc_reply *reply)
{
	char why[RPC_MSG_WHY_MAX];

	if (!rpc_msg_decode(t, args, msg, why, sizeof(why)))
		return true;
	rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	return false;
}

struct dom *ctl_arg_dom(struct gwd *g, struct json_object *args,
			struct rpc_reply *reply)
{
	struct rpc_dom_args a;

	if (!ctl_decode(&rpc_msg_dom, args, &a, reply))
		return NULL;
	return ctl_find_dom(g, a.domain, reply);
}

static const char *state_word(const struct dom *d)
{
	switch (d->state) {
	case DOM_STARTING:
		return "starting";
	case DOM_SHUTDOWN:
		return "shutdown";
	case DOM_CRASHED:
		return "crashed";
	case DOM_DYING:
		return "dying";
	default:
		break;
	}
	if (!strcmp(d->status, "paused") || !strcmp(d->status, "save-vm") ||
	    !strcmp(d->status, "postmigrate"))
		return "paused";
	if (!strcmp(d->status, "unconfirmed"))
		return "unconfirmed";
	return "running";
}

bool ctl_dom_is_live(struct dom *d, struct rpc_reply *reply)
{
	if (d->state == DOM_LIVE && vmlink_is_up(d->link))
		return true;
	rpc_reply_error(reply, RPC_ERR_DEVICE_NOT_ACTIVE, "domain %s is %s%s",
			d->rec.name, state_word(d),
			d->state == DOM_LIVE ? " (its VMM does not answer)" :
					       "");
	return false;
}

/* The config's disks for list: vdev, target, access, script if any. */
static void disks_info(const struct domain_config *cfg, struct rpc_dom_info *o)
{
	const struct domain_disk *k;
	struct rpc_disk_info *x;
	unsigned int i;

	for (i = 0; cfg && i < cfg->nr_disks && i < RPC_DISKS_MAX; i++) {
		k = &cfg->disks[i];
		x = &o->disks[o->nr_disks++];
		snprintf(x->vdev, sizeof(x->vdev), "%s", k->vdev);
		snprintf(x->target, sizeof(x->target), "%s", k->target);
		snprintf(x->access, sizeof(x->access), "%s",
			 k->readonly ? "ro" : "rw");
		snprintf(x->script, sizeof(x->script), "%s", k->script);
	}
}

/* The config's vifs for list: mac, bridge, vifname, script if set. */
static void vifs_info(const struct domain_config *cfg, struct rpc_dom_info *o)
{
	const struct domain_vif *v;
	struct rpc_vif_info *x;
	char mac[DOMAIN_MAC_STR_LEN + 1];
	unsigned int i;

	for (i = 0; cfg && i < cfg->nr_vifs && i < RPC_VIFS_MAX; i++) {
		v = &cfg->vifs[i];
		x = &o->vifs[o->nr_vifs++];
		domain_config_mac_format(v->mac, mac);
		snprintf(x->mac, sizeof(x->mac), "%s", mac);
		snprintf(x->bridge, sizeof(x->bridge), "%s", v->bridge);
		snprintf(x->vifname, sizeof(x->vifname), "%s", v->vifname);
		snprintf(x->script, sizeof(x->script), "%s", v->script);
	}
}

/* The domain as the list command reports it (new object). */
static struct json_object *dom_json(struct dom *d)
{
	struct rpc_dom_info *o = calloc(1, sizeof(*o));
	struct json_object *j;
	bool unconfirmed = !strcmp(state_word(d), "unconfirmed");

	if (!o)
		return NULL;
	snprintf(o->name, sizeof(o->name), "%s", d->rec.name);
	o->domid = d->rec.domid;
	snprintf(o->uuid, sizeof(o->uuid), "%s", d->rec.uuid);
	snprintf(o->state, sizeof(o->state), "%s", state_word(d));
	o->memory_mib = d->cfg ? d->cfg->memory_mib : 0;
	o->vcpus = d->cfg ? d->cfg->vcpus : 0;
	o->cpu_time_ns = d->cpu_ns;
	o->pid = d->pid;
	snprintf(o->console, sizeof(o->console), "%s", d->rec.console);
	snprintf(o->qmp, sizeof(o->qmp), "%s", d->rec.qmp);
	snprintf(o->origin, sizeof(o->origin), "%s",
		 state_origin_name(d->rec.origin));
	o->created = d->rec.created;
	/* Unconfirmed: why, and what to do, matter more than a past end. */
	snprintf(o->reason, sizeof(o->reason), "%s",
		 unconfirmed ? d->status_why : d->rec.reason);
	disks_info(d->cfg, o);
	vifs_info(d->cfg, o);
	j = rpc_msg_encode(&rpc_msg_dom_info, o);
	free(o);
	return j;
}

void ctl_relay_event(struct dom *d, const char *name, struct json_object *data)
{
	struct rpc_event_origin org;
	struct json_object *o = NULL;

	if (data && json_object_deep_copy(data, &o, NULL))
		o = NULL;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	org.domid = d->rec.domid;
	snprintf(org.domain, sizeof(org.domain), "%s", d->rec.name);
	rpc_event_origin_set(o, &org);
	rpc_server_event(d->gwd->rpc, name, o);
}

/* ---- talking to the VMM for a client ---- */

struct ctl_req *ctl_req_new(struct dom *d, struct rpc_call call)
{
	struct ctl_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->g = d->gwd;
	r->call = call;
	r->serial = d->serial;
	r->domid = d->rec.domid;
	snprintf(r->name, sizeof(r->name), "%s", d->rec.name);
	return r;
}

enum rpc_reply_kind ctl_vmm_unreachable(struct dom *d, void *opaque,
					struct rpc_reply *reply)
{
	free(opaque);
	return rpc_reply_error(reply, RPC_ERR_GENERIC,
			       "domain %s: cannot reach its VMM", d->rec.name);
}

enum rpc_reply_kind ctl_call(struct dom *d, const char *command,
			     struct json_object *args, int timeout_ms,
			     vmlink_reply_fn fn, void *opaque,
			     struct rpc_reply *reply)
{
	if (!vmlink_call(d->link, command, args, timeout_ms, fn, opaque))
		return RPC_REPLY_LATER;
	return ctl_vmm_unreachable(d, opaque, reply);
}

/* Relay the VMM's refusal of what (a command) to r's client. */
static void reply_vmm_error(struct ctl_req *r, const char *what,
			    const struct vmlink_err *err)
{
	if (r->verbatim && strcmp(err->cls, "CommandNotFound") && err->cls[0])
		rpc_server_reply_error(r->g->rpc, r->call, RPC_ERR_GENERIC,
				       "%s", err->desc);
	else if (!strcmp(err->cls, "CommandNotFound"))
		rpc_server_reply_error(r->g->rpc, r->call,
				       RPC_ERR_COMMAND_NOT_FOUND,
				       "domain %s: its VMM does not support %s",
				       r->name, what);
	else
		rpc_server_reply_error(r->g->rpc, r->call, RPC_ERR_GENERIC,
				       "domain %s: %s", r->name, err->desc);
}

static void fwd_done(void *opaque, int rc, struct json_object *ret,
		     const struct vmlink_err *err)
{
	struct ctl_req *f = opaque;
	struct dom *d = reg_by_serial(f->g, f->serial);

	if (rc == 0) {
		if (d && !strcmp(f->command, "stop"))
			job_note_status(d, "paused", NULL);
		if (d && !strcmp(f->command, "cont"))
			job_note_status(d, "running", NULL);
		rpc_server_reply(f->g->rpc, f->call, json_object_get(ret), -1);
	} else {
		reply_vmm_error(f, f->command, err);
	}
	free(f);
}

enum rpc_reply_kind ctl_forward(struct rpc_request *req, struct dom *d,
				const char *command, struct json_object *args,
				int timeout_ms, bool verbatim,
				struct rpc_reply *reply)
{
	struct ctl_req *f;

	if (!ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	f = ctl_req_new(d, req->call);
	if (!f)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	snprintf(f->command, sizeof(f->command), "%s", command);
	f->verbatim = verbatim;
	return ctl_call(d, command, args, timeout_ms, fwd_done, f, reply);
}

/* ---- list ---- */

struct list_req {
	struct gwd *g;
	struct rpc_call call;
	unsigned int outstanding;
	struct evloop_timer *landing; /* waiting for arrival_landing() */
	uint64_t deadline_ns;
};

struct list_item {
	struct list_req *lr;
	uint64_t serial;
};

static struct json_object *list_json(struct gwd *g)
{
	struct json_object *arr = json_object_new_array();
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (d->registered)
			json_object_array_add(arr, dom_json(d));
	managed_list(g, arr);
	return arr;
}

static void list_item_done(void *opaque, int rc, struct json_object *ret,
			   const struct vmlink_err *err)
{
	struct list_item *it = opaque;
	struct list_req *lr = it->lr;
	struct dom *d = reg_by_serial(lr->g, it->serial);
	struct rpc_vm_domain q;
	char why[RPC_MSG_WHY_MAX];

	if (d && rc == 0 &&
	    !rpc_msg_decode(&rpc_msg_vm_domain, ret, &q, why, sizeof(why))) {
		d->cpu_ns = q.cpu_time_ns;
		if (q.status[0])
			job_note_status(d, q.status, NULL);
	}
	free(it);
	if (--lr->outstanding == 0) {
		rpc_server_reply(lr->g->rpc, lr->call, list_json(lr->g), -1);
		free(lr);
	}
}

/*
 * Refresh every live domain's status and CPU time, then answer (reply
 * NULL: answered later, through the server).
 */
static enum rpc_reply_kind list_start(struct list_req *lr,
				      struct rpc_reply *reply)
{
	struct gwd *g = lr->g;
	struct list_item *it;
	struct dom *d;

	for (d = g->doms; d; d = d->next) {
		if (!d->registered || d->state != DOM_LIVE ||
		    !vmlink_is_up(d->link))
			continue;
		it = malloc(sizeof(*it));
		if (!it)
			continue;
		*it = (struct list_item){ lr, d->serial };
		if (vmlink_call(d->link, "query-domain", NULL,
				LIST_QUERY_TIMEOUT_MS, list_item_done, it))
			free(it);
		else
			lr->outstanding++;
	}
	if (--lr->outstanding == 0) {
		/* Nothing to ask: answer now (no reply can be pending yet). */
		if (reply)
			reply->ret = list_json(g);
		else
			rpc_server_reply(g->rpc, lr->call, list_json(g), -1);
		free(lr);
		return reply ? RPC_REPLY_RETURN : RPC_REPLY_LATER;
	}
	return RPC_REPLY_LATER;
}

static void list_landing(struct evloop *loop, struct evloop_timer *t,
			 void *opaque)
{
	struct list_req *lr = opaque;

	if (arrival_landing(lr->g) && time_mono_ns() < lr->deadline_ns)
		return evloop_timer_arm(t, 10 * NSEC_PER_MSEC, 0);
	evloop_timer_free(t);
	list_start(lr, NULL);
}

static enum rpc_reply_kind cmd_list(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	struct gwd *g = req_gwd(req);
	struct list_req *lr = calloc(1, sizeof(*lr));

	if (!lr)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	*lr = (struct list_req){ .g = g, .call = req->call, .outstanding = 1 };
	if (!arrival_landing(g) ||
	    evloop_timer_new(g->loop, list_landing, lr, &lr->landing))
		return list_start(lr, reply);
	lr->deadline_ns = time_mono_ns() + ARRIVAL_LANDING_MS * NSEC_PER_MSEC;
	evloop_timer_arm(lr->landing, 10 * NSEC_PER_MSEC, 0);
	return RPC_REPLY_LATER;
}

/* ---- pause, unpause, shutdown, console ---- */

static enum rpc_reply_kind cmd_pause(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);

	if (!d)
		return RPC_REPLY_ERROR;
	return ctl_forward(req, d, "stop", NULL, FORWARD_TIMEOUT_MS, false,
			   reply);
}

static enum rpc_reply_kind cmd_announce(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);

	if (!d)
		return RPC_REPLY_ERROR;
	return ctl_forward(req, d, "announce-self", NULL, FORWARD_TIMEOUT_MS,
			   false, reply);
}

static enum rpc_reply_kind cmd_unpause(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);

	if (!d)
		return RPC_REPLY_ERROR;
	/* The VMM refuses an unconfirmed VM with a line saying what to do
	 * (godwit migrate-resolve): the user gets that line as it is. */
	return ctl_forward(req, d, "cont", NULL, FORWARD_TIMEOUT_MS, true,
			   reply);
}

/* xl reboot: the VMM resets the VM and ends; on_reboot decides. */
static enum rpc_reply_kind cmd_reboot(struct rpc_request *req,
				      struct json_object *args,
				      struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);

	if (!d)
		return RPC_REPLY_ERROR;
	return ctl_forward(req, d, "system_reset", NULL, FORWARD_TIMEOUT_MS,
			   true, reply);
}

static void shutdown_done(void *opaque, int rc, struct json_object *ret,
			  const struct vmlink_err *err)
{
	struct ctl_req *s = opaque;
	struct dom *d = reg_by_serial(s->g, s->serial);

	if (rc)
		reply_vmm_error(s, "system_powerdown (the ACPI power button)",
				err);
	else if (!s->wait || !d || d->pid <= 0)
		rpc_server_reply(s->g->rpc, s->call, NULL, -1);
	else if (dom_wait_add(d, WAIT_GONE, s->call, NULL))
		rpc_server_reply_error(s->g->rpc, s->call, RPC_ERR_GENERIC,
				       "domain %s: too many clients waiting",
				       s->name);
	if (!rc)
		log_info("domain %s: power button pressed", s->name);
	free(s);
}

static enum rpc_reply_kind cmd_shutdown(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct rpc_shutdown_args a;
	struct ctl_req *s;
	struct dom *d;

	if (!ctl_decode(&rpc_msg_shutdown, args, &a, reply))
		return RPC_REPLY_ERROR;
	d = ctl_find_dom(req_gwd(req), a.domain, reply);
	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	s = ctl_req_new(d, req->call);
	if (!s)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	s->wait = a.wait;
	return ctl_call(d, "system_powerdown", NULL, FORWARD_TIMEOUT_MS,
			shutdown_done, s, reply);
}

static enum rpc_reply_kind cmd_console(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);
	struct rpc_console c = { .type = "pty" };

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	if (!d->rec.console[0])
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"domain %s has no console (its serial port goes to a file or nowhere)",
			d->rec.name);
	snprintf(c.path, sizeof(c.path), "%s", d->rec.console);
	reply->ret = rpc_msg_encode(&rpc_msg_console, &c);
	return RPC_REPLY_RETURN;
}

/* ---- destroy ---- */

static void quit_done(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct ctl_req *f = opaque;
	struct dom *d = reg_by_serial(f->g, f->serial);

	/* Busy with a save or migration, or not answering: pull the plug. */
	if (rc && d) {
		log_info("domain %s: quit refused (%s); killing its VMM",
			 d->rec.name, err->desc);
		sup_kill(d);
	}
	free(f);
}

static void destroy_live(struct dom *d)
{
	struct ctl_req *f = ctl_req_new(d, (struct rpc_call){ 0 });

	d->destroying = true;
	d->state = DOM_DYING;
	reg_save(d);
	if (f && vmlink_is_up(d->link)) {
		if (!vmlink_call(d->link, "quit", NULL, QUIT_TIMEOUT_MS,
				 quit_done, f)) {
			evloop_timer_arm(d->kill_timer,
					 DOM_QUIT_GRACE_MS * NSEC_PER_MSEC, 0);
			return;
		}
	}
	free(f);
	sup_kill(d);
}

static enum rpc_reply_kind cmd_destroy(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req_gwd(req), args, reply);

	if (!d)
		return RPC_REPLY_ERROR;
	if (d->pid <= 0) {
		log_info("domain %s (id %u): destroyed", d->rec.name,
			 d->rec.domid);
		reg_remove(d, NULL);
		return RPC_REPLY_RETURN;
	}
	if (dom_wait_add(d, WAIT_GONE, req->call, NULL))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s: too many clients waiting",
				       d->rec.name);
	if (d->state != DOM_DYING) {
		log_info("domain %s (id %u): destroy requested", d->rec.name,
			 d->rec.domid);
		destroy_live(d);
	}
	return RPC_REPLY_LATER;
}

int ctl_start(struct gwd *g)
{
	static struct rpc_command cmds[] = {
		{ "create", ctl_create, NULL },
		{ "list", cmd_list, NULL },
		{ "pause", cmd_pause, NULL },
		{ "unpause", cmd_unpause, NULL },
		{ "announce", cmd_announce, NULL },
		{ "shutdown", cmd_shutdown, NULL },
		{ "reboot", cmd_reboot, NULL },
		{ "destroy", cmd_destroy, NULL },
		{ "console", cmd_console, NULL },
		{ "save", ctl_save, NULL },
		{ "restore", ctl_restore, NULL },
		{ "migrate", ctl_migrate, NULL },
		{ "job-info", ctl_job_info, NULL },
		{ "job-abort", ctl_job_abort, NULL },
		{ "migrate-resolve", ctl_migrate_resolve, NULL },
		{ "migrate-recover", ctl_migrate_recover, NULL },
		{ "managedsave", ctl_managedsave, NULL },
		{ "managedsave-remove", ctl_managedsave_remove, NULL },
		{ "start", ctl_start_domain, NULL },
	};
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		cmds[i].opaque = g;
	rc = rpc_server_new(g->loop, cmds, ARRAY_SIZE(cmds), &g->rpc);
	if (rc)
		return rc;
	rpc_server_set_limits(g->rpc, &g->ctl_limits);
	rc = rpc_server_listen(g->rpc, g->paths.sock);
	if (rc)
		log_err("control socket %s: %s", g->paths.sock,
			rc == -EADDRINUSE ? "another godwitd answers there" :
					    strerror(-rc));
	return rc;
}
