/*
 * job-info and job-abort: watch or stop a domain's save or migration.
 * job-info prints virsh domjobinfo's table (or --json); through godwitd
 * the daemon builds it, on a VM socket this command does, from the same
 * library code (<godwit/jobinfo.h>).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"
#include <godwit/jobinfo.h>
#include "rpc/client.h"

static void info_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit job-info [--json] DOMAIN\n"
		"Show DOMAIN's save or migration in progress (or the last one).\n");
}

/* Does a query-migrate or query-save answer tell of a job? */
static bool has_job(struct json_object *q)
{
	return strcmp(rpc_json_str(q, "status", "none"), "none") != 0;
}

/* On a VM socket: a migration if there is or was one, else a save. */
static int direct_info(struct route *r, struct json_object **job_out)
{
	struct json_object *q = NULL;
	int rc;

	rc = route_call(r, "job-info", "query-migrate", NULL, &q);
	if (!rc && has_job(q)) {
		*job_out = jobinfo_build(JOBINFO_MIGRATE, q, "", 0);
		json_object_put(q);
		return 0;
	}
	json_object_put(q);
	q = NULL;
	if (!rc)
		rc = route_call(r, "job-info", "query-save", NULL, &q);
	if (!rc)
		*job_out = has_job(q) ? jobinfo_build(JOBINFO_SAVE, q, "", 0) :
					jobinfo_none();
	json_object_put(q);
	return rc;
}

int cmd_job_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *args, *job = NULL;
	bool json = false;
	struct route r;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return info_usage(stdout), CLI_OK;
		else
			return info_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != 1)
		return info_usage(stderr), CLI_USAGE;
	if (route_open(&r, "job-info", argv[optind], false))
		return CLI_FAIL;
	if (r.daemon) {
		args = route_dom_args(&r);
		rc = route_call(&r, "job-info", "job-info", args, &job);
		json_object_put(args);
	} else {
		rc = direct_info(&r, &job);
	}
	route_close(&r);
	if (rc)
		return rc;
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       job, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		jobinfo_print(stdout, job);
	json_object_put(job);
	return CLI_OK;
}

/* On a VM socket: a save in progress gets save-cancel, else a migration. */
static const char *direct_abort_command(struct route *r)
{
	struct json_object *q = NULL;
	bool save;

	if (route_call(r, "job-abort", "query-save", NULL, &q))
		return NULL;
	save = !strcmp(rpc_json_str(q, "status", ""), "active");
	json_object_put(q);
	return save ? "save-cancel" : "migrate_cancel";
}

int cmd_job_abort(int argc, char **argv)
{
	struct json_object *args;
	const char *cmd;
	struct route r;
	int rc = route_dom_argv(
		argc, argv,
		"Cancel DOMAIN's save or migration; the domain goes on as it was.\n");

	if (rc >= 0)
		return rc;
	if (route_open(&r, "job-abort", argv[1], false))
		return CLI_FAIL;
	args = r.daemon ? route_dom_args(&r) : NULL;
	cmd = r.daemon ? "job-abort" : direct_abort_command(&r);
	rc = cmd ? route_call(&r, "job-abort", cmd, args, NULL) : CLI_FAIL;
	json_object_put(args);
	route_close(&r);
	if (!rc)
		fprintf(stderr, "godwit: %s: job aborted\n", argv[1]);
	return rc;
}
