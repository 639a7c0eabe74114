/*
 * Verbs that act on a running domain: pause, unpause, announce, save.
 * Each goes through godwitd or straight to the VM's control socket
 * (route.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <godwit/domain.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

int cli_verb(const char *verb, const char *dom, int v, int timeout_ms)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct route r;
	int rc;

	if (route_open(&r, verb, dom, false))
		return CLI_FAIL;
	rc = route_wait(&r, verb,
			godwit_domain_verb(r.c, dom, v, timeout_ms,
					   godwit_result_fn, &res),
			&res);
	godwit_result_release(&res);
	route_close(&r);
	return rc;
}

static int simple(int argc, char **argv, enum godwit_verb v, const char *done)
{
	int rc = route_dom_argv(argc, argv, NULL);

	if (rc >= 0)
		return rc;
	rc = cli_verb(argv[0], argv[1], v, ROUTE_TIMEOUT_MS);
	if (!rc)
		fprintf(stderr, "godwit: %s %s\n", argv[1], done);
	return rc;
}

int cmd_pause(int argc, char **argv)
{
	return simple(argc, argv, GODWIT_VERB_PAUSE, "paused");
}

int cmd_unpause(int argc, char **argv)
{
	return simple(argc, argv, GODWIT_VERB_UNPAUSE, "unpaused");
}

/* QMP announce-self with QEMU's defaults: 5 rounds over 800 ms. */
int cmd_announce(int argc, char **argv)
{
	return simple(argc, argv, GODWIT_VERB_ANNOUNCE, "announced");
}

int cli_absolute(const char *file, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (file[0] == '/')
		return snprintf(out, len, "%s", file) >= (int)len ? -1 : 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, len, "%s/%s", cwd, file) >= (int)len ? -1 : 0;
}

static void save_usage(FILE *f)
{
	fprintf(f, "usage: godwit save [-c] [-p] DOMAIN FILE\n"
		   "Save DOMAIN to FILE; by default the domain then ends.\n"
		   "  -c   leave the domain running after saving\n"
		   "  -p   leave the domain paused after saving\n");
}

static void save_report(const char *vm, struct json_object *ret)
{
	struct godwit_save_result s;
	char err[GODWIT_ERROR_MAX];

	if (!godwit_decode_save(ret, &s, err, sizeof(err)))
		fprintf(stderr,
			"godwit: saved %s to %s (%.1f MiB in %lld ms)\n", vm,
			s.file, s.bytes / 1048576.0,
			(long long)s.total_time_ms);
}

int cmd_save(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	unsigned int flags = 0;
	char path[PATH_MAX];
	struct route r;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+cph")) != -1) {
		if (opt == 'c')
			flags |= GODWIT_SAVE_KEEP_RUNNING;
		else if (opt == 'p')
			flags |= GODWIT_SAVE_LEAVE_PAUSED;
		else if (opt == 'h')
			return save_usage(stdout), CLI_OK;
		else
			return save_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != 2 ||
	    flags == (GODWIT_SAVE_KEEP_RUNNING | GODWIT_SAVE_LEAVE_PAUSED)) {
		save_usage(stderr);
		return CLI_USAGE;
	}
	/* The VM process and godwitd have their own working directory. */
	if (cli_absolute(argv[optind + 1], path, sizeof(path))) {
		fprintf(stderr, "godwit: save: file name too long\n");
		return CLI_FAIL;
	}
	if (route_open(&r, "save", argv[optind], false))
		return CLI_FAIL;
	/* Big guests take a while: no limit. */
	rc = route_wait(&r, "save",
			godwit_save(r.c, argv[optind], path, flags, -1,
				    godwit_result_fn, &res, r.err,
				    sizeof(r.err)),
			&res);
	route_close(&r);
	if (!rc)
		save_report(argv[optind], res.ret);
	godwit_result_release(&res);
	return rc;
}
