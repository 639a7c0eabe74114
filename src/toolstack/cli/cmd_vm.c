/*
 * Verbs that act on a running domain: pause, unpause, announce, save. Each goes
 * through godwitd or straight to the VM's control socket (route.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"
#include "rpc/client.h"

static int simple(int argc, char **argv, const char *daemon_cmd,
		  const char *vm_cmd, const char *done)
{
	int rc = route_dom_argv(argc, argv, NULL);

	if (rc >= 0)
		return rc;
	rc = route_dom_call(argv[0], argv[1], daemon_cmd, vm_cmd,
			    RPC_CLIENT_TIMEOUT_MS, NULL);
	if (!rc)
		fprintf(stderr, "godwit: %s %s\n", argv[1], done);
	return rc;
}

int cmd_pause(int argc, char **argv)
{
	return simple(argc, argv, "pause", "stop", "paused");
}

int cmd_unpause(int argc, char **argv)
{
	return simple(argc, argv, "unpause", "cont", "unpaused");
}

/* QMP announce-self with QEMU's defaults: 5 rounds over 800 ms. */
int cmd_announce(int argc, char **argv)
{
	return simple(argc, argv, "announce", "announce-self", "announced");
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

static int save_report(const char *vm, struct json_object *ret)
{
	struct json_object *b, *t, *f;

	if (json_object_object_get_ex(ret, "bytes", &b) &&
	    json_object_object_get_ex(ret, "total-time-ms", &t) &&
	    json_object_object_get_ex(ret, "file", &f))
		fprintf(stderr,
			"godwit: saved %s to %s (%.1f MiB in %lld ms)\n", vm,
			json_object_get_string(f),
			json_object_get_int64(b) / 1048576.0,
			(long long)json_object_get_int64(t));
	return CLI_OK;
}

int cmd_save(int argc, char **argv)
{
	struct json_object *args, *ret = NULL;
	char path[PATH_MAX];
	bool keep = false, paused = false;
	struct route r;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+cph")) != -1) {
		if (opt == 'c')
			keep = true;
		else if (opt == 'p')
			paused = true;
		else if (opt == 'h')
			return save_usage(stdout), CLI_OK;
		else
			return save_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != 2 || (keep && paused)) {
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
	rpc_client_set_timeout(r.c, -1); /* big guests take a while */
	args = r.daemon ? route_dom_args(&r) : json_object_new_object();
	json_object_object_add(args, "file", json_object_new_string(path));
	json_object_object_add(args, "continue", json_object_new_boolean(keep));
	json_object_object_add(args, "paused", json_object_new_boolean(paused));
	rc = route_call(&r, "save", "save", args, &ret);
	json_object_put(args);
	route_close(&r);
	if (rc)
		return rc;
	save_report(argv[optind], ret);
	json_object_put(ret);
	return CLI_OK;
}
