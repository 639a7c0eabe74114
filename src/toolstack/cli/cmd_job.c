/*
 * job-info and job-abort: watch or stop a domain's save or migration.
 * job-info prints virsh domjobinfo's table (or --json): the client
 * library asks godwitd's job-info, or the VM's own queries, and reads
 * either answer as one job (<godwit/jobinfo.h>).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <godwit/jobinfo.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

static void info_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit job-info [--json] DOMAIN\n"
		"Show DOMAIN's save or migration in progress (or the last one).\n");
}

static int info_show(struct json_object *ret, bool json)
{
	char err[GODWIT_ERROR_MAX];
	struct godwit_job job;

	if (json) {
		printf("%s\n",
		       json_object_to_json_string_ext(
			       ret, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
		return CLI_OK;
	}
	if (godwit_decode_job(ret, &job, err, sizeof(err))) {
		fprintf(stderr, "godwit: job-info: %s\n", err);
		return CLI_FAIL;
	}
	godwit_job_print(stdout, &job);
	return CLI_OK;
}

int cmd_job_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct godwit_result res = GODWIT_RESULT_INIT;
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
	rc = route_wait(&r, "job-info",
			godwit_job_info(r.c, argv[optind], ROUTE_TIMEOUT_MS,
					godwit_result_fn, &res),
			&res);
	route_close(&r);
	if (!rc)
		rc = info_show(res.ret, json);
	godwit_result_release(&res);
	return rc;
}

int cmd_job_abort(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct route r;
	int rc = route_dom_argv(
		argc, argv,
		"Cancel DOMAIN's save or migration; the domain goes on as it was.\n");

	if (rc >= 0)
		return rc;
	if (route_open(&r, "job-abort", argv[1], false))
		return CLI_FAIL;
	rc = route_wait(&r, "job-abort",
			godwit_job_abort(r.c, argv[1], ROUTE_TIMEOUT_MS,
					 godwit_result_fn, &res),
			&res);
	godwit_result_release(&res);
	route_close(&r);
	if (!rc)
		fprintf(stderr, "godwit: %s: job aborted\n", argv[1]);
	return rc;
}
