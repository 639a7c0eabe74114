/*
 * job-info and job-abort: the save or migration a domain's VMM runs, in
 * the terms of virsh domjobinfo (<godwit/jobinfo.h>), built from the VMM's
 * query-migrate or query-save; and stopping a migration before the
 * handover.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/daemon/vmlink.h"
#include <godwit/jobinfo.h>

#define QUERY_TIMEOUT_MS 5000

struct info_req {
	struct gwd *g;
	struct rpc_call call;
	char name[DOMAIN_NAME_MAX + 1];
	char target[PATH_MAX];
	enum job_kind kind;
	uint64_t mem_bytes;
};

static void info_done(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct info_req *r = opaque;

	if (rc)
		rpc_server_reply_error(r->g->rpc, r->call, RPC_ERR_GENERIC,
				       "domain %s: %s", r->name, err->desc);
	else
		rpc_server_reply(r->g->rpc, r->call,
				 jobinfo_build(r->kind == JOB_SAVE ?
						       JOBINFO_SAVE :
						       JOBINFO_MIGRATE,
					       ret, r->target, r->mem_bytes),
				 -1);
	free(r);
}

enum rpc_reply_kind ctl_job_info(struct rpc_request *req,
				 struct json_object *args,
				 struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	struct info_req *r;

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	if (d->job.kind == JOB_NONE) {
		reply->ret = jobinfo_none();
		return RPC_REPLY_RETURN;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
	*r = (struct info_req){ .g = d->gwd,
				.call = req->call,
				.kind = d->job.kind };
	snprintf(r->name, sizeof(r->name), "%s", d->rec.name);
	snprintf(r->target, sizeof(r->target), "%s", d->job.target);
	r->mem_bytes = d->cfg ? d->cfg->memory_mib << 20 : 0;
	return ctl_call(
		d, d->job.kind == JOB_SAVE ? "query-save" : "query-migrate",
		NULL, QUERY_TIMEOUT_MS, info_done, r, reply);
}

enum rpc_reply_kind ctl_job_abort(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	if (!d->job.active)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s has no job in progress",
				       d->rec.name);
	return ctl_forward(req, d,
			   d->job.kind == JOB_SAVE ? "save-cancel" :
						     "migrate_cancel",
			   NULL, QUERY_TIMEOUT_MS, false, reply);
}

/*
 * migrate-resolve {domain, action: "resume-here" | "discard"}: decide
 * what becomes of a VM handed over without confirmation. The VMM's
 * command of the same name does it; its answer, or its refusal, goes to
 * the client as it is. After discard the VMM ends ("migrated").
 */
enum rpc_reply_kind ctl_migrate_resolve(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	const char *action = rpc_json_str(args, "action", "");
	enum rpc_reply_kind kind;
	struct json_object *a;

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	if (strcmp(action, "resume-here") && strcmp(action, "discard"))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-resolve: 'action' must be \"resume-here\" or \"discard\"");
	a = json_object_new_object();
	json_object_object_add(a, "action", json_object_new_string(action));
	kind = ctl_forward(req, d, "migrate-resolve", a, QUERY_TIMEOUT_MS, true,
			   reply);
	json_object_put(a);
	return kind;
}

/*
 * migrate-recover {domain, uri?}: reconnect a post-copy migration whose
 * connections broke (the VM is paused here until then). Forwarded to the
 * VMM as it is; its answer comes when the attempt is over.
 */
enum rpc_reply_kind ctl_migrate_recover(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	const char *uri = rpc_json_str(args, "uri", NULL);
	enum rpc_reply_kind kind;
	struct json_object *a;

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	a = json_object_new_object();
	if (uri)
		json_object_object_add(a, "uri", json_object_new_string(uri));
	kind = ctl_forward(req, d, "migrate-recover", a, QUERY_TIMEOUT_MS, true,
			   reply);
	json_object_put(a);
	return kind;
}
