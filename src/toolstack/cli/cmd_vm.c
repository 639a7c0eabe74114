/*
 * Verbs that act on a running VM through its control socket: pause,
 * unpause, save.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolstack/cli/cli.h"
#include "toolstack/lib/vmctl.h"
#include "toolstack/rpc/client.h"

static int simple(int argc, char **argv, const char *command,
		  const char *done)
{
	char err[VMCTL_ERR_MAX];

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: godwit %s VM\n", argv[0]);
		return CLI_OK;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: godwit %s VM\n", argv[0]);
		return CLI_USAGE;
	}
	if (vmctl_call(argv[1], command, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "godwit: %s %s: %s\n", argv[0], argv[1], err);
		return CLI_FAIL;
	}
	if (done)
		fprintf(stderr, "godwit: %s %s\n", argv[1], done);
	return CLI_OK;
}

int cmd_pause(int argc, char **argv)
{
	return simple(argc, argv, "stop", "paused");
}

int cmd_unpause(int argc, char **argv)
{
	return simple(argc, argv, "cont", "unpaused");
}

/* The VM process has its own working directory: send absolute paths. */
static int absolute(const char *file, char *out, size_t len)
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
	fprintf(f, "usage: godwit save [-c] [-p] VM FILE\n"
		   "Save VM to FILE; by default the VM then ends.\n"
		   "  -c   leave the VM running after saving\n"
		   "  -p   leave the VM paused after saving\n");
}

static int save_report(const char *vm, struct json_object *ret)
{
	struct json_object *b, *t, *f;

	if (json_object_object_get_ex(ret, "bytes", &b) &&
	    json_object_object_get_ex(ret, "total-time-ms", &t) &&
	    json_object_object_get_ex(ret, "file", &f))
		fprintf(stderr, "godwit: saved %s to %s (%.1f MiB in %lld ms)\n",
			vm, json_object_get_string(f),
			json_object_get_int64(b) / 1048576.0,
			(long long)json_object_get_int64(t));
	return CLI_OK;
}

int cmd_save(int argc, char **argv)
{
	struct json_object *args, *ret = NULL;
	char err[VMCTL_ERR_MAX], path[PATH_MAX];
	struct rpc_client *c;
	bool keep = false, paused = false;
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
	if (absolute(argv[optind + 1], path, sizeof(path))) {
		fprintf(stderr, "godwit: save: file name too long\n");
		return CLI_FAIL;
	}
	if (vmctl_open(argv[optind], &c, err, sizeof(err))) {
		fprintf(stderr, "godwit: save %s: %s\n", argv[optind], err);
		return CLI_FAIL;
	}
	rpc_client_set_timeout(c, -1); /* big guests take a while */
	args = json_object_new_object();
	json_object_object_add(args, "file", json_object_new_string(path));
	json_object_object_add(args, "continue", json_object_new_boolean(keep));
	json_object_object_add(args, "paused", json_object_new_boolean(paused));
	rc = vmctl_execute(c, "save", args, &ret, err, sizeof(err));
	json_object_put(args);
	rpc_client_close(c);
	if (rc) {
		fprintf(stderr, "godwit: save %s: %s\n", argv[optind], err);
		return CLI_FAIL;
	}
	save_report(argv[optind], ret);
	json_object_put(ret);
	return CLI_OK;
}
