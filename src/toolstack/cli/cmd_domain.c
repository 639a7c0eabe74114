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

#include <godwit/domain.h>

#include "common/util.h"
#include "config/domain_config.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

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

static void create_report(struct json_object *ret, bool quiet, char *name,
			  size_t len)
{
	struct godwit_domain_made m;
	char err[GODWIT_ERROR_MAX];
	size_t i;

	name[0] = 0;
	if (godwit_decode_made(ret, &m, err, sizeof(err))) {
		fprintf(stderr, "godwit: create: %s\n", err);
		return;
	}
	for (i = 0; i < m.nr_warnings && i < ARRAY_SIZE(m.warnings); i++)
		fprintf(stderr, "godwit: warning: %s\n", m.warnings[i]);
	if (!quiet)
		fprintf(stderr, "godwit: domain %s created (id %lld)\n", m.name,
			(long long)m.domid);
	snprintf(name, len, "%s", m.name);
}

/* The file's len bytes at *text as a string (one more byte, a NUL). */
static int nul_terminate(void **text, size_t len)
{
	char *s = realloc(*text, len + 1);

	if (!s)
		return -ENOMEM;
	s[len] = 0;
	*text = s;
	return 0;
}

/* Hand the config text to godwitd; it answers once the domain runs. */
static int create_by_daemon(const char *file, const char *text, char **kv,
			    int nkv, bool paused, bool quiet, char *name,
			    size_t len)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char cwd[PATH_MAX] = "", err[GODWIT_ERROR_MAX] = "";
	struct godwit_conn *c;
	int rc;

	name[0] = 0;
	if (godwit_open_daemon(&c, err, sizeof(err))) {
		fprintf(stderr, "godwit: create: %s\n", err);
		return CLI_FAIL;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	rc = godwit_create(c, text, file, (const char *const *)kv, nkv, paused,
			   cwd, -1, godwit_result_fn, &res, err, sizeof(err));
	if (!rc)
		rc = godwit_result_wait(c, &res);
	godwit_conn_close(c);
	if (rc)
		fprintf(stderr, "godwit: create: %s\n",
			err[0] ? err : res.error);
	else
		create_report(res.ret, quiet, name, len);
	godwit_result_release(&res);
	return rc ? CLI_FAIL : CLI_OK;
}

int cmd_create(int argc, char **argv)
{
	bool paused = false, console = false, quiet = false, dry = false;
	char name[DOMAIN_NAME_MAX + 1];
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
	if (!rc && memchr(text, 0, len))
		rc = -EINVAL;
	if (!rc)
		rc = nul_terminate(&text, len);
	if (rc) {
		fprintf(stderr, "godwit: create: %s: %s\n", argv[optind],
			rc == -EFBIG  ? "larger than 1 MiB" :
			rc == -EINVAL ? "holds a NUL byte" :
					strerror(-rc));
		free(text);
		return CLI_FAIL;
	}
	if (!quiet)
		fprintf(stderr, "Parsing config from %s\n", argv[optind]);
	rc = create_by_daemon(argv[optind], text, argv + optind + 1,
			      argc - optind - 1, paused, quiet, name,
			      sizeof(name));
	free(text);
	if (rc || !name[0])
		return rc ? rc : CLI_FAIL;
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

static bool listed(const struct godwit_domain_info *d, char **want, int nwant)
{
	char id[24];
	int i;

	if (!nwant)
		return true;
	snprintf(id, sizeof(id), "%lld", (long long)d->domid);
	for (i = 0; i < nwant; i++)
		if (!strcmp(want[i], d->name) || !strcmp(want[i], id) ||
		    !strcasecmp(want[i], d->uuid))
			return true;
	return false;
}

/* "xvda:rw:/srv/a.img,xvdb:ro:/dev/sdb", or "-" without disks. */
static void list_disks(const struct godwit_domain_info *d)
{
	size_t i;

	for (i = 0; i < d->nr_disks && i < ARRAY_SIZE(d->disks); i++)
		printf("%s%s:%s:%s", i ? "," : "", d->disks[i].vdev,
		       d->disks[i].access, d->disks[i].target);
	if (!d->nr_disks)
		printf("-");
}

/* "00:16:3e:56:af:69@br0,00:16:3e:01:02:03", or "-" without vifs. */
static void list_vifs(const struct godwit_domain_info *d)
{
	size_t i;

	for (i = 0; i < d->nr_vifs && i < ARRAY_SIZE(d->vifs); i++)
		printf("%s%s%s%s", i ? "," : "", d->vifs[i].mac,
		       d->vifs[i].bridge[0] ? "@" : "", d->vifs[i].bridge);
	if (!d->nr_vifs)
		printf("-");
}

/*
 * A managed save (godwit managedsave): no id, no flag of xl's; the row
 * says "saved" where virsh list --all would, and why its last restore
 * failed if it did.
 */
static void list_saved(const struct godwit_domain_info *d, bool lng)
{
	printf("%-40s %5s %5lld %5s     ------  %8s", d->name, "-",
	       (long long)d->memory_mib, "-", "-");
	if (lng)
		printf("\t%s\tsaved%s%s\t-\t-", d->uuid[0] ? d->uuid : "-",
		       d->reason[0] ? ": " : "", d->reason);
	else
		printf("  saved%s%s", d->reason[0] ? ": " : "", d->reason);
	printf("\n");
}

static void list_print(const struct godwit_domain_info *list, size_t n,
		       bool lng, char **want, int nwant)
{
	const struct godwit_domain_info *d;
	bool unconfirmed;
	size_t i;

	printf("Name                                        ID   Mem VCPUs\tState\tTime(s)%s\n",
	       lng ? "\tUUID                                \tReason\tDisks\tVifs" :
		     "");
	for (i = 0; i < n; i++) {
		d = &list[i];
		if (!listed(d, want, nwant))
			continue;
		if (!strcmp(d->state, "saved")) {
			list_saved(d, lng);
			continue;
		}
		printf("%-40s %5lld %5lld %5lld     %s  %8.1f", d->name,
		       (long long)d->domid, (long long)d->memory_mib,
		       (long long)d->vcpus, state_flags(d->state),
		       d->cpu_time_ns / 1e9);
		unconfirmed = !strcmp(d->state, "unconfirmed");
		if (lng) {
			printf("\t%s\t%s%s\t", d->uuid,
			       unconfirmed ? "unconfirmed: " : "", d->reason);
			list_disks(d);
			printf("\t");
			list_vifs(d);
		} else if (unconfirmed) {
			printf("  unconfirmed: %s", d->reason);
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
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct godwit_domain_info *list = NULL;
	bool lng = false, json = false;
	char err[GODWIT_ERROR_MAX];
	struct route r;
	size_t n = 0;
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
	if (godwit_open_daemon(&r.c, err, sizeof(err))) {
		fprintf(stderr, "godwit: list: %s\n", err);
		return CLI_FAIL;
	}
	r.dom = "";
	r.err[0] = 0;
	rc = godwit_list(r.c, ROUTE_TIMEOUT_MS, godwit_result_fn, &res);
	if (!rc)
		rc = godwit_result_wait(r.c, &res);
	route_close(&r);
	if (!rc && !json)
		rc = godwit_decode_list(res.ret, &list, &n, res.error,
					sizeof(res.error));
	if (rc) {
		fprintf(stderr, "godwit: list: %s\n",
			res.error[0] ? res.error : strerror(-rc));
		godwit_result_release(&res);
		return CLI_FAIL;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(
				       res.ret,
				       JSON_C_TO_STRING_PRETTY |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		list_print(list, n, lng, argv + optind, argc - optind);
	godwit_domain_list_free(list);
	godwit_result_release(&res);
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
static void wait_vm_gone(struct godwit_conn *c)
{
	struct godwit_event *ev;

	while (!godwit_next_event(c, -1, &ev))
		godwit_event_free(ev);
}

int cmd_shutdown(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
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
	rc = route_wait(&r, "shutdown",
			godwit_domain_verb(r.c, argv[optind],
					   wait ? GODWIT_VERB_SHUTDOWN_WAIT :
						  GODWIT_VERB_SHUTDOWN,
					   wait ? -1 : ROUTE_TIMEOUT_MS,
					   godwit_result_fn, &res),
			&res);
	godwit_result_release(&res);
	if (!rc && wait && !route_is_daemon(&r))
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
	return cli_verb("destroy", argv[1], GODWIT_VERB_DESTROY, 60000);
}
