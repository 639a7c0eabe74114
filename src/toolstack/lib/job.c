/*
 * Jobs as virsh domjobinfo shows them (jobinfo.h): godwitd answers
 * job-info itself; on a VM's own socket the library asks the VMM
 * (query-migrate, then query-save) and builds the same answer from the
 * protocol's structs (rpc/msg_job.h), so a caller reads one message.
 */
#include <godwit/jobinfo.h>

#include "toolstack/lib/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/msg_domain.h"

/* A request that takes two commands on a VM's socket. */
struct job_req {
	godwit_reply_fn fn;
	void *opaque;
	int timeout_ms;
};

static void job_deliver(struct godwit_conn *c, struct job_req *q,
			const struct godwit_reply *r, struct json_object *ret)
{
	struct godwit_reply out = *r;

	out.ret = ret;
	q->fn(c, &out, q->opaque);
	free(q);
}

/* The reply's failure, or (rc 0) job j as job-info's answer. */
static void job_answer(struct godwit_conn *c, struct job_req *q,
		       const struct godwit_reply *r,
		       const struct rpc_job_info *j)
{
	struct json_object *o;

	if (r->rc || !j) {
		job_deliver(c, q, r, NULL);
		return;
	}
	o = rpc_msg_encode(&rpc_msg_job_info, j);
	job_deliver(c, q, r, o);
	json_object_put(o);
}

static void on_query_save(struct godwit_conn *c, const struct godwit_reply *r,
			  void *opaque)
{
	struct rpc_save_result s;
	struct rpc_job_info j;
	char why[RPC_MSG_WHY_MAX];
	struct godwit_reply bad = *r;

	if (!r->rc && rpc_msg_decode(&rpc_msg_save_result, r->ret, &s, why,
				     sizeof(why))) {
		bad.rc = -EPROTO;
		bad.error = why;
		return job_answer(c, opaque, &bad, NULL);
	}
	if (!r->rc && s.status == RPC_SAVE_NONE)
		rpc_job_info_none(&j);
	else if (!r->rc)
		rpc_job_info_from_save(&j, &s, "", 0);
	job_answer(c, opaque, r, r->rc ? NULL : &j);
}

static void on_query_migrate(struct godwit_conn *c,
			     const struct godwit_reply *r, void *opaque)
{
	struct job_req *q = opaque;
	struct rpc_migration m;
	struct rpc_job_info j;
	char why[RPC_MSG_WHY_MAX];
	struct godwit_reply bad = *r;
	int rc;

	if (r->rc)
		return job_answer(c, q, r, NULL);
	if (rpc_msg_decode(&rpc_msg_migration, r->ret, &m, why, sizeof(why))) {
		bad.rc = -EPROTO;
		bad.error = why;
		return job_answer(c, q, &bad, NULL);
	}
	if (m.status != RPC_MIG_NONE) {
		rpc_job_info_from_migration(&j, &m, "");
		return job_answer(c, q, r, &j);
	}
	/* No migration: a save, if there is or was one. */
	rc = godwit_call(c, "query-save", NULL, q->timeout_ms, on_query_save,
			 q);
	if (rc) {
		bad.rc = rc;
		bad.error = "query-save: the connection is down";
		job_answer(c, q, &bad, NULL);
	}
}

static struct job_req *job_req_new(godwit_reply_fn fn, void *opaque,
				   int timeout_ms)
{
	struct job_req *q = malloc(sizeof(*q));

	if (q)
		*q = (struct job_req){ fn, opaque, timeout_ms };
	return q;
}

int godwit_job_info(struct godwit_conn *c, const char *dom, int timeout_ms,
		    godwit_reply_fn fn, void *opaque)
{
	char err[GODWIT_ERROR_MAX];
	struct rpc_dom_args a;
	struct job_req *q;
	int rc;

	if (godwit_conn_is_daemon(c)) {
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
		return lib_send(c, "job-info", &rpc_msg_dom, &a, timeout_ms, fn,
				opaque, err, sizeof(err));
	}
	q = job_req_new(fn, opaque, timeout_ms);
	if (!q)
		return -ENOMEM;
	rc = godwit_call(c, "query-migrate", NULL, timeout_ms, on_query_migrate,
			 q);
	if (rc)
		free(q);
	return rc;
}

int godwit_decode_job(struct json_object *ret, struct godwit_job *out,
		      char *err, size_t errlen)
{
	struct rpc_job_info j;
	int rc = lib_decode(&rpc_msg_job_info, ret, &j, err, errlen);

	if (!rc)
		lib_job_from(&j, out);
	return rc;
}

/* ---- job-abort ---- */

static void on_abort_query(struct godwit_conn *c, const struct godwit_reply *r,
			   void *opaque)
{
	struct job_req *q = opaque;
	char why[RPC_MSG_WHY_MAX];
	struct godwit_reply bad = *r;
	struct rpc_save_result s;
	int rc;

	if (!r->rc && rpc_msg_decode(&rpc_msg_save_result, r->ret, &s, why,
				     sizeof(why))) {
		bad.rc = -EPROTO;
		bad.error = why;
	}
	if (bad.rc)
		return job_deliver(c, q, &bad, NULL);
	rc = godwit_call(c,
			 s.status == RPC_SAVE_ACTIVE ? "save-cancel" :
						       "migrate_cancel",
			 NULL, q->timeout_ms, q->fn, q->opaque);
	if (rc) {
		bad.rc = rc;
		bad.error = "job-abort: the connection is down";
		return job_deliver(c, q, &bad, NULL);
	}
	free(q);
}

int godwit_job_abort(struct godwit_conn *c, const char *dom, int timeout_ms,
		     godwit_reply_fn fn, void *opaque)
{
	char err[GODWIT_ERROR_MAX];
	struct rpc_dom_args a;
	struct job_req *q;
	int rc;

	if (godwit_conn_is_daemon(c)) {
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
		return lib_send(c, "job-abort", &rpc_msg_dom, &a, timeout_ms,
				fn, opaque, err, sizeof(err));
	}
	q = job_req_new(fn, opaque, timeout_ms);
	if (!q)
		return -ENOMEM;
	rc = godwit_call(c, "query-save", NULL, timeout_ms, on_abort_query, q);
	if (rc)
		free(q);
	return rc;
}

/* ---- printing ---- */

/* A label padded as virsh does it: "Data processed:   ". */
static void label(FILE *f, const char *text)
{
	fprintf(f, "%-17s ", text);
}

static void line_mib(FILE *f, bool has, int64_t bytes, const char *text)
{
	if (!has)
		return;
	label(f, text);
	fprintf(f, "%.3f MiB\n", bytes / 1048576.0);
}

static void line_int(FILE *f, bool has, int64_t v, const char *text,
		     const char *unit)
{
	if (!has)
		return;
	label(f, text);
	fprintf(f, "%-12lld %s\n", (long long)v, unit);
}

static void line_num(FILE *f, bool has, double v, const char *text,
		     const char *unit)
{
	if (!has)
		return;
	label(f, text);
	fprintf(f, "%-12.3f %s\n", v, unit);
}

static void line_str(FILE *f, const char *s, const char *text, bool capital)
{
	if (!*s)
		return;
	label(f, text);
	if (capital)
		fprintf(f, "%c%s\n", toupper((unsigned char)s[0]), s + 1);
	else
		fprintf(f, "%s\n", s);
}

static const char *const job_types[] = { "none", "unbounded", "completed",
					 "failed", "unconfirmed" };

void godwit_job_print(FILE *f, const struct godwit_job *j)
{
	line_str(f, job_types[j->type % ARRAY_SIZE(job_types)],
		 "Job type:", true);
	line_str(f, j->operation, "Operation:", true);
	line_str(f, j->target, "Destination:", false);
	line_num(f, j->has_time_elapsed, j->time_elapsed_ms,
		 "Time elapsed:", "ms");
	line_mib(f, j->has_data_processed, j->data_processed,
		 "Data processed:");
	line_mib(f, j->has_data_remaining, j->data_remaining,
		 "Data remaining:");
	line_mib(f, j->has_data_total, j->data_total, "Data total:");
	line_mib(f, j->has_memory_processed, j->memory_processed,
		 "Memory processed:");
	line_mib(f, j->has_memory_remaining, j->memory_remaining,
		 "Memory remaining:");
	line_mib(f, j->has_memory_total, j->memory_total, "Memory total:");
	line_num(f, j->has_bandwidth, j->memory_bandwidth_mbps,
		 "Memory bandwidth:", "MB/s");
	line_int(f, j->has_dirty_rate, j->dirty_rate_pps,
		 "Dirty rate:", "pages/s");
	line_int(f, j->has_iteration, j->iteration, "Iteration:", "");
	line_num(f, j->has_expected_downtime, j->expected_downtime_ms,
		 "Expected downtime:", "ms");
	line_num(f, j->has_downtime, j->downtime_ms, "Downtime:", "ms");
	line_int(f, j->has_cpu_throttle, j->cpu_throttle_pct,
		 "Auto converge:", "%");
	if (j->type == GODWIT_JOB_UNCONFIRMED) {
		/* "unconfirmed: handed over to HOST:PORT, no confirmation: ..." */
		label(f, "Status:");
		fprintf(f, "unconfirmed: %s\n", j->error);
		fprintf(f,
			"%-17s godwit migrate-resolve decides (--resume-here or --discard)\n",
			"");
		return;
	}
	line_str(f, j->error, "Error:", false);
}
