/*
 * Domain verbs in xl's words: create and list (godwitd only), shutdown
 * and destroy (godwitd, or a VM socket directly). list prints xl's
 * columns exactly: Name, ID, Mem, VCPUs, State (r b p s c d), Time(s).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"
#include "config/domain_config.h"
#include <godwit/gwdctl.h>
#include "rpc/client.h"

static int64_t int_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
		       json_object_get_int64(v) :
		       0;
}

/* ---- create ---- */

static void create_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit create [-p] [-c] [-q] [-n] CONFIG [key=value ...]\n"
		"Create a domain from an xl.cfg-style file (godwit.cfg(5)) in godwitd.\n"
		"  -p   leave it paused (godwit unpause starts it)\n"
		"  -c   attach to its console once it runs (^] detaches)\n"
		"  -q   quiet\n"
		"  -n   dry run: check the config and print it, create nothing\n");
}

/* -n: what the daemon would run, from a local parse. */
static int create_dry_run(const char *file, char **kv, int nkv)
{
	struct domain_config *cfg = malloc(sizeof(*cfg));
	struct config_diag *diag = malloc(sizeof(*diag));
	char *text = malloc(DOMAIN_CONFIG_TEXT_MAX);
	unsigned int i;
	int rc = CLI_FAIL;

	if (cfg && diag && text &&
	    !domain_config_load(file, (const char *const *)kv, nkv, cfg,
				diag)) {
		for (i = 0; i < diag->nr_warnings; i++)
			fprintf(stderr, "godwit: warning: %s\n",
				diag->warnings[i]);
		if (!domain_config_format(cfg, text, DOMAIN_CONFIG_TEXT_MAX)) {
			fputs(text, stdout);
			rc = CLI_OK;
		}
	} else if (diag) {
		fprintf(stderr, "godwit: %s\n", diag->error);
	}
	free(cfg);
	free(diag);
	free(text);
	return rc;
}

static struct json_object *create_args(const char *file, const char *text,
				       size_t len, char **kv, int nkv,
				       bool paused)
{
	struct json_object *a = json_object_new_object();
	struct json_object *ov = json_object_new_array();
	char cwd[PATH_MAX];
	int i;

	json_object_object_add(a, "config",
			       json_object_new_string_len(text, (int)len));
	json_object_object_add(a, "file", json_object_new_string(file));
	for (i = 0; i < nkv; i++)
		json_object_array_add(ov, json_object_new_string(kv[i]));
	json_object_object_add(a, "overrides", ov);
	json_object_object_add(a, "paused", json_object_new_boolean(paused));
	if (getcwd(cwd, sizeof(cwd)))
		json_object_object_add(a, "cwd", json_object_new_string(cwd));
	return a;
}

static void create_report(struct json_object *ret, bool quiet)
{
	struct json_object *w, *item;
	size_t i;

	if (json_object_object_get_ex(ret, "warnings", &w))
		for (i = 0; i < json_object_array_length(w); i++) {
			item = json_object_array_get_idx(w, i);
			fprintf(stderr, "godwit: warning: %s\n",
				json_object_get_string(item));
		}
	if (!quiet)
		fprintf(stderr, "godwit: domain %s created (id %lld)\n",
			rpc_json_str(ret, "name", ""),
			(long long)int_of(ret, "domid"));
}

int cmd_create(int argc, char **argv)
{
	bool paused = false, console = false, quiet = false, dry = false;
	struct json_object *args, *ret = NULL;
	char err[VMCTL_ERR_MAX], name[DOMAIN_NAME_MAX + 1];
	struct rpc_client *c;
	size_t len = 0;
	void *text = NULL;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+pcqnh")) != -1) {
		switch (opt) {
		case 'p':
			paused = true;
			break;
		case 'c':
			console = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'n':
			dry = true;
			break;
		case 'h':
			create_usage(stdout);
			return CLI_OK;
		default:
			create_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		create_usage(stderr);
		return CLI_USAGE;
	}
	if (dry)
		return create_dry_run(argv[optind], argv + optind + 1,
				      argc - optind - 1);
	rc = file_read_all(argv[optind], CONFIG_FILE_MAX, &text, &len);
	if (rc) {
		fprintf(stderr, "godwit: create: %s: %s\n", argv[optind],
			rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return CLI_FAIL;
	}
	if (!quiet)
		fprintf(stderr, "Parsing config from %s\n", argv[optind]);
	if (gwdctl_open(&c, err, sizeof(err))) {
		fprintf(stderr, "godwit: create: %s\n", err);
		free(text);
		return CLI_FAIL;
	}
	rpc_client_set_timeout(c, -1); /* the daemon answers once it runs */
	args = create_args(argv[optind], text, len, argv + optind + 1,
			   argc - optind - 1, paused);
	free(text);
	rc = gwdctl_execute(c, "create", args, &ret, err, sizeof(err));
	json_object_put(args);
	rpc_client_close(c);
	if (rc) {
		fprintf(stderr, "godwit: create: %s\n", err);
		return CLI_FAIL;
	}
	create_report(ret, quiet);
	snprintf(name, sizeof(name), "%s", rpc_json_str(ret, "name", ""));
	json_object_put(ret);
	return console ? cli_console(name) : CLI_OK;
}

/* ---- list ---- */

/*
 * xl's six state flags: running, blocked, paused, shutdown, crashed,
 * dying. An unconfirmed domain (handed over to another host without
 * confirmation) is paused here; its row then ends with the reason, as
 * xl has no flag for it.
 */
static const char *state_flags(const char *state)
{
	static const struct {
		const char *state, *flags;
	} map[] = {
		{ "running", "r-----" },  { "paused", "--p---" },
		{ "shutdown", "---s--" }, { "crashed", "---sc-" },
		{ "dying", "-----d" },	  { "unconfirmed", "--p---" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(state, map[i].state))
			return map[i].flags;
	return "------";
}

static bool listed(struct json_object *d, char **want, int nwant)
{
	char id[24];
	int i;

	if (!nwant)
		return true;
	snprintf(id, sizeof(id), "%lld", (long long)int_of(d, "domid"));
	for (i = 0; i < nwant; i++)
		if (!strcmp(want[i], rpc_json_str(d, "name", "")) ||
		    !strcmp(want[i], id) ||
		    !strcasecmp(want[i], rpc_json_str(d, "uuid", "")))
			return true;
	return false;
}

/* "xvda:rw:/srv/a.img,xvdb:ro:/dev/sdb", or "-" without disks. */
static void list_disks(struct json_object *d)
{
	struct json_object *disks, *k;
	size_t i, n = 0;

	if (json_object_object_get_ex(d, "disks", &disks) &&
	    json_object_is_type(disks, json_type_array))
		n = json_object_array_length(disks);
	for (i = 0; i < n; i++) {
		k = json_object_array_get_idx(disks, i);
		printf("%s%s:%s:%s", i ? "," : "", rpc_json_str(k, "vdev", "?"),
		       rpc_json_str(k, "access", "?"),
		       rpc_json_str(k, "target", ""));
	}
	if (!n)
		printf("-");
}

/* "00:16:3e:56:af:69@br0,00:16:3e:01:02:03", or "-" without vifs. */
static void list_vifs(struct json_object *d)
{
	struct json_object *vifs, *v;
	const char *bridge;
	size_t i, n = 0;

	if (json_object_object_get_ex(d, "vifs", &vifs) &&
	    json_object_is_type(vifs, json_type_array))
		n = json_object_array_length(vifs);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(vifs, i);
		bridge = rpc_json_str(v, "bridge", NULL);
		printf("%s%s%s%s", i ? "," : "", rpc_json_str(v, "mac", "?"),
		       bridge ? "@" : "", bridge ? bridge : "");
	}
	if (!n)
		printf("-");
}

static void list_print(struct json_object *arr, bool lng, char **want,
		       int nwant)
{
	struct json_object *d;
	bool unconfirmed;
	size_t i;

	printf("Name                                        ID   Mem VCPUs\tState\tTime(s)%s\n",
	       lng ? "\tUUID                                \tReason\tDisks\tVifs" :
		     "");
	for (i = 0; i < json_object_array_length(arr); i++) {
		d = json_object_array_get_idx(arr, i);
		if (!listed(d, want, nwant))
			continue;
		printf("%-40s %5lld %5lld %5lld     %s  %8.1f",
		       rpc_json_str(d, "name", ""),
		       (long long)int_of(d, "domid"),
		       (long long)int_of(d, "memory-mib"),
		       (long long)int_of(d, "vcpus"),
		       state_flags(rpc_json_str(d, "state", "")),
		       int_of(d, "cpu-time-ns") / 1e9);
		unconfirmed =
			!strcmp(rpc_json_str(d, "state", ""), "unconfirmed");
		if (lng) {
			printf("	%s	%s%s	",
			       rpc_json_str(d, "uuid", ""),
			       unconfirmed ? "unconfirmed: " : "",
			       rpc_json_str(d, "reason", ""));
			list_disks(d);
			printf("\t");
			list_vifs(d);
		} else if (unconfirmed) {
			printf("  unconfirmed: %s",
			       rpc_json_str(d, "reason", ""));
		}
		printf("\n");
	}
}

static void list_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit list [-l] [--json] [DOMAIN ...]\n"
		"List godwitd's domains as xl does.\n"
		"  -l, --long   add each domain's UUID, how it last ended, its disks and vifs\n"
		"  --json       print the daemon's JSON\n");
}

int cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *ret = NULL;
	char err[VMCTL_ERR_MAX];
	bool lng = false, json = false;
	struct rpc_client *c;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "lh", lo, NULL)) != -1) {
		if (opt == 'l')
			lng = true;
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return list_usage(stdout), CLI_OK;
		else
			return list_usage(stderr), CLI_USAGE;
	}
	if (gwdctl_open(&c, err, sizeof(err))) {
		fprintf(stderr, "godwit: list: %s\n", err);
		return CLI_FAIL;
	}
	rc = gwdctl_execute(c, "list", NULL, &ret, err, sizeof(err));
	rpc_client_close(c);
	if (rc || !json_object_is_type(ret, json_type_array)) {
		fprintf(stderr, "godwit: list: %s\n", rc ? err : "bad answer");
		json_object_put(ret);
		return CLI_FAIL;
	}
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       ret, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		list_print(ret, lng, argv + optind, argc - optind);
	json_object_put(ret);
	return CLI_OK;
}

/* ---- shutdown, destroy ---- */

static void shutdown_usage(FILE *f)
{
	fprintf(f, "usage: godwit shutdown [-w] DOMAIN\n"
		   "Press DOMAIN's power button (ACPI); the guest decides.\n"
		   "  -w   wait until the domain has shut down\n");
}

/* On a VM socket, -w waits for the VM process to close it. */
static void wait_vm_gone(struct rpc_client *c)
{
	struct json_object *ev;

	rpc_client_set_timeout(c, -1);
	while (!rpc_client_next_event(c, -1, &ev))
		json_object_put(ev);
}

int cmd_shutdown(int argc, char **argv)
{
	struct json_object *args;
	bool wait = false;
	struct route r;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+wh")) != -1) {
		if (opt == 'w')
			wait = true;
		else if (opt == 'h')
			return shutdown_usage(stdout), CLI_OK;
		else
			return shutdown_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != 1)
		return shutdown_usage(stderr), CLI_USAGE;
	if (route_open(&r, "shutdown", argv[optind], false))
		return CLI_FAIL;
	if (wait)
		rpc_client_set_timeout(r.c, -1);
	args = r.daemon ? route_dom_args(&r) : NULL;
	if (args)
		json_object_object_add(args, "wait",
				       json_object_new_boolean(wait));
	rc = route_call(&r, "shutdown",
			r.daemon ? "shutdown" : "system_powerdown", args, NULL);
	json_object_put(args);
	if (!rc && wait && !r.daemon)
		wait_vm_gone(r.c);
	route_close(&r);
	if (!rc)
		fprintf(stderr, "godwit: %s %s\n", argv[optind],
			wait ? "has shut down" : "is shutting down");
	return rc;
}

int cmd_destroy(int argc, char **argv)
{
	int rc = route_dom_argv(argc, argv,
				"End DOMAIN at once (no guest shutdown).\n");

	if (rc >= 0)
		return rc;
	return route_dom_call("destroy", argv[1], "destroy", "quit", 60000,
			      NULL);
}
