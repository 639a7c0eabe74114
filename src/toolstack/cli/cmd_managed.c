/*
 * Managed save verbs, as virsh's managedsave, managedsave-remove and
 * start: godwitd keeps the save file (include/godwit/managed.h), so they
 * need the daemon. `godwit create CONFIG` of a domain with a managed
 * save restores it too (godwitd decides).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <godwit/domain.h>
#include <godwit/managed.h>

#include "monitor/console.h" /* CONSOLE_ESCAPE */
#include "toolstack/cli/cli.h"
#include "toolstack/cli/cmd_managed.h"
#include "toolstack/cli/route.h"

int cmd_managedsave(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct godwit_save_result s;
	char err[GODWIT_ERROR_MAX];
	struct route r;
	int rc = route_dom_argv(
		argc, argv,
		"Save DOMAIN to godwitd's state directory and end it; godwit start\n"
		"or create of the domain restores it (virsh managedsave).\n");

	if (rc >= 0)
		return rc;
	if (route_open(&r, argv[0], argv[1], true))
		return CLI_FAIL;
	/* Big guests take a while: no limit. */
	rc = route_wait(&r, argv[0],
			godwit_managedsave(r.c, argv[1], -1, godwit_result_fn,
					   &res, r.err, sizeof(r.err)),
			&res);
	route_close(&r);
	if (!rc && !godwit_decode_save(res.ret, &s, err, sizeof(err)))
		fprintf(stderr,
			"godwit: saved %s to %s (%.1f MiB in %lld ms); godwit start %s restores it\n",
			argv[1], s.file, s.bytes / 1048576.0,
			(long long)s.total_time_ms, argv[1]);
	godwit_result_release(&res);
	return rc;
}

int cmd_managedsave_remove(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char err[GODWIT_ERROR_MAX], file[4096];
	struct route r;
	int rc = route_dom_argv(argc, argv,
				"Remove the managed save of DOMAIN.\n");

	if (rc >= 0)
		return rc;
	if (route_open(&r, argv[0], argv[1], true))
		return CLI_FAIL;
	rc = route_wait(&r, argv[0],
			godwit_managedsave_remove(
				r.c, argv[1], ROUTE_TIMEOUT_MS,
				godwit_result_fn, &res, r.err, sizeof(r.err)),
			&res);
	route_close(&r);
	if (!rc && !godwit_decode_managed_removed(res.ret, file, sizeof(file),
						  err, sizeof(err)))
		fprintf(stderr, "godwit: removed the managed save of %s (%s)\n",
			argv[1], file);
	godwit_result_release(&res);
	return rc;
}

static void start_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit start [-p] [-c] DOMAIN\n"
		"Restore DOMAIN from its managed save (godwit managedsave).\n"
		"  -p   leave it paused\n"
		"  -c   attach to its console once it runs\n");
}

static int start_report(struct json_object *ret, const char *name)
{
	struct godwit_domain_made m;
	char err[GODWIT_ERROR_MAX];

	if (godwit_decode_made(ret, &m, err, sizeof(err))) {
		fprintf(stderr, "godwit: start %s: %s\n", name, err);
		return CLI_FAIL;
	}
	fprintf(stderr,
		"godwit: domain %s restored from its managed save (id %lld)\n",
		m.name, (long long)m.domid);
	return CLI_OK;
}

int cmd_start(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	bool paused = false, console = false;
	struct route r;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+pch")) != -1) {
		if (opt == 'p')
			paused = true;
		else if (opt == 'c')
			console = true;
		else if (opt == 'h')
			return start_usage(stdout), CLI_OK;
		else
			return start_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != 1)
		return start_usage(stderr), CLI_USAGE;
	if (route_open(&r, "start", argv[optind], true))
		return CLI_FAIL;
	rc = route_wait(&r, "start",
			godwit_start(r.c, argv[optind], paused, -1,
				     godwit_result_fn, &res, r.err,
				     sizeof(r.err)),
			&res);
	route_close(&r);
	if (!rc)
		rc = start_report(res.ret, argv[optind]);
	godwit_result_release(&res);
	if (!rc && console)
		return cli_console(argv[optind], CONSOLE_ESCAPE);
	return rc;
}
