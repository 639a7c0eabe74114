/*
 * job-info and job-abort: the save or migration a domain's VMM runs, in
 * the terms of virsh domjobinfo (rpc/msg_job.h), built from the VMM's
 * query-migrate or query-save; and stopping a migration before the
 * handover.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/msg_job.h"
#include "toolstack/daemon/vmlink.h"

#define QUERY_TIMEOUT_MS 5000

struct info_req {
	struct gwd *g;
	struct rpc_call call;
	char name[DOMAIN_NAME_MAX + 1];
	char target[PATH_MAX];
	enum job_kind kind;
	uint64_t mem_bytes;
};

/* The VMM's query answer as job-info's (both rpc/msg_*.h). */
static int info_build(const struct info_req *r, struct json_object *ret,
		      struct rpc_job_info *j, char *why, size_t whylen)
{
	struct rpc_save_result s;
	struct rpc_migration q;
	int rc;

	if (r->kind == JOB_SAVE) {
		rc = rpc_msg_decode(&rpc_msg_save_result, ret, &s, why, whylen);
		if (!rc)
			rpc_job_info_from_save(j, &s, r->target, r->mem_bytes);
		return rc;
	}
	rc = rpc_msg_decode(&rpc_msg_migration, ret, &q, why, whylen);
	if (!rc)
		rpc_job_info_from_migration(j, &q, r->target);
	return rc;
}

static void info_done(void *opaque, int rc, struct json_object *ret,
		      const struct vmlink_err *err)
{
	struct info_req *r = opaque;
	char why[RPC_MSG_WHY_MAX];
	struct rpc_job_info j;

	if (rc)
		rpc_server_reply_error(r->g->rpc, r->call, RPC_ERR_GENERIC,
				       "domain %s: %s", r->name, err->desc);
	else if (info_build(r, ret, &j, why, sizeof(why)))
		rpc_server_reply_error(r->g->rpc, r->call, RPC_ERR_GENERIC,
				       "domain %s: its VMM answered: %s",
				       r->name, why);
	else
		rpc_server_reply(r->g->rpc, r->call,
				 rpc_msg_encode(&rpc_msg_job_info, &j), -1);
	free(r);
}

enum rpc_reply_kind ctl_job_info(struct rpc_request *req,
				 struct json_object *args,
				 struct rpc_reply *reply)
{
	struct dom *d = ctl_arg_dom(req->opaque, args, reply);
	struct rpc_job_info none;
	struct info_req *r;

	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	if (d->job.kind == JOB_NONE) {
		rpc_job_info_none(&none);
		reply->ret = rpc_msg_encode(&rpc_msg_job_info, &none);
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
 * A domain's command the VMM does itself: decoded with type t into msg
 * (domain: its "domain" member), forwarded without the domain, the
 * VMM's answer or refusal going to the client as it is.
 */
static enum rpc_reply_kind forward_msg(struct rpc_request *req,
				       struct json_object *args,
				       const struct rpc_msg_type *t, void *msg,
				       char *domain, const char *cmd,
				       struct rpc_reply *reply)
{
	enum rpc_reply_kind kind;
	struct json_object *fwd;
	struct dom *d;

	if (!ctl_decode(t, args, msg, reply))
		return RPC_REPLY_ERROR;
	d = ctl_find_dom(req->opaque, domain, reply);
	if (!d || !ctl_dom_is_live(d, reply))
		return RPC_REPLY_ERROR;
	domain[0] = 0; /* ours; the rest is the VMM's */
	fwd = rpc_msg_encode(t, msg);
	kind = ctl_forward(req, d, cmd, fwd, QUERY_TIMEOUT_MS, true, reply);
	json_object_put(fwd);
	return kind;
}

/*
 * migrate-resolve {domain, action: "resume-here" | "discard"}: decide
 * what becomes of a VM handed over without confirmation. After discard
 * the VMM ends ("migrated").
 */
enum rpc_reply_kind ctl_migrate_resolve(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct rpc_resolve_args a;

	return forward_msg(req, args, &rpc_msg_resolve, &a, a.domain,
			   "migrate-resolve", reply);
}

/*
 * migrate-recover {domain, uri?}: reconnect a post-copy migration whose
 * connections broke (the VM is paused here until then); the answer comes
 * when the attempt is over.
 */
enum rpc_reply_kind ctl_migrate_recover(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct rpc_recover_args a;

	return forward_msg(req, args, &rpc_msg_recover, &a, a.domain,
			   "migrate-recover", reply);
}
