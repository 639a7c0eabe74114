/*
 * Domain verbs in xl's words: create (godwitd only), shutdown and
 * destroy (godwitd, or a VM socket directly). list is cmd_list.c.
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
#include "monitor/console.h" /* CONSOLE_ESCAPE */
#include "toolstack/cli/cli.h"
#include "toolstack/cli/follow.h"
#include "toolstack/cli/route.h"

/* ---- create ---- */

static void create_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit create [-p] [-c] [-q] [-n] [-F] [-f FILE] CONFIG [key=value ...]\n"
		"Create a domain from an xl.cfg-style file (godwit.cfg(5)) in godwitd.\n"
		"  -p        leave it paused (godwit unpause starts it)\n"
		"  -c        attach to its console once it runs (^] detaches)\n"
		"  -q        quiet\n"
		"  -n        dry run: check the config and print it, create nothing\n"
		"  -F        stay in the foreground until the domain's VM process ends\n"
		"  -f FILE   the config file (then every argument is a key=value)\n");
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
			  size_t len, int64_t *domid)
{
	struct godwit_domain_made m;
	char err[GODWIT_ERROR_MAX];
	size_t i;

	name[0] = 0;
	*domid = -1;
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
	*domid = m.domid;
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

/*
 * Hand the config text to godwitd; it answers once the domain runs. With
 * keep, the connection stays open in *keep (-F follows its events).
 */
static int create_by_daemon(const char *file, const char *text, char **kv,
			    int nkv, bool paused, bool quiet, char *name,
			    size_t len, int64_t *domid,
			    struct godwit_conn **keep)
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
	if (keep && !rc)
		*keep = c;
	else
		godwit_conn_close(c);
	if (rc)
		fprintf(stderr, "godwit: create: %s\n",
			err[0] ? err : res.error);
	else
		create_report(res.ret, quiet, name, len, domid);
	godwit_result_release(&res);
	return rc ? CLI_FAIL : CLI_OK;
}

/*
 * -F: until the domain's VM process ends (godwitd's VMM_ENDED for its
 * id), as xl create -F stays until the domain dies.
 */
static int create_follow(struct godwit_conn *c, const char *name, int64_t domid)
{
	struct godwit_event *ev;
	int rc;

	for (;;) {
		rc = follow_next_event_until(c, 0, &ev);
		if (rc) {
			fprintf(stderr, "godwit: create -F %s: godwitd: %s\n",
				name, strerror(-rc));
			return CLI_FAIL;
		}
		if (ev->kind == GODWIT_EVENT_VMM_ENDED && ev->domid == domid)
			break;
		godwit_event_free(ev);
	}
	fprintf(stderr, "godwit: domain %s ended: %s%s%s\n", name,
		ev->as.ended.end, ev->as.ended.reason[0] ? ": " : "",
		ev->as.ended.reason);
	godwit_event_free(ev);
	return CLI_OK;
}

/* The config file's text, NUL-terminated, or CLI_FAIL after a line. */
static int create_read(const char *file, void **text)
{
	size_t len = 0;
	int rc;

	*text = NULL;
	rc = file_read_all(file, CONFIG_FILE_MAX, text, &len);
	if (!rc && memchr(*text, 0, len))
		rc = -EINVAL;
	if (!rc)
		rc = nul_terminate(text, len);
	if (!rc)
		return 0;
	fprintf(stderr, "godwit: create: %s: %s\n", file,
		rc == -EFBIG  ? "larger than 1 MiB" :
		rc == -EINVAL ? "holds a NUL byte" :
				strerror(-rc));
	free(*text);
	*text = NULL;
	return CLI_FAIL;
}

struct create_opts {
	bool paused, console, quiet, dry, foreground;
	const char *file; /* -f */
};

/* Options into o; -1 to go on, else the exit status. */
static int create_parse(int argc, char **argv, struct create_opts *o)
{
	int opt;

	*o = (struct create_opts){ .paused = false };
	optind = 1;
	while ((opt = getopt(argc, argv, "+pcqnhFf:")) != -1) {
		switch (opt) {
		case 'p':
			o->paused = true;
			break;
		case 'c':
			o->console = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'n':
			o->dry = true;
			break;
		case 'F':
			o->foreground = true;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'h':
			create_usage(stdout);
			return CLI_OK;
		default:
			create_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (!o->file && optind < argc)
		o->file = argv[optind++];
	if (!o->file) {
		create_usage(stderr);
		return CLI_USAGE;
	}
	return -1;
}

int cmd_create(int argc, char **argv)
{
	char name[DOMAIN_NAME_MAX + 1];
	struct godwit_conn *c = NULL;
	struct create_opts o;
	int64_t domid = -1;
	void *text = NULL;
	int rc;

	rc = create_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.dry)
		return create_dry_run(o.file, argv + optind, argc - optind);
	if (create_read(o.file, &text))
		return CLI_FAIL;
	if (!o.quiet)
		fprintf(stderr, "Parsing config from %s\n", o.file);
	rc = create_by_daemon(o.file, text, argv + optind, argc - optind,
			      o.paused, o.quiet, name, sizeof(name), &domid,
			      o.foreground ? &c : NULL);
	free(text);
	if (!rc && !name[0])
		rc = CLI_FAIL;
	if (!rc && o.console)
		rc = cli_console(name, CONSOLE_ESCAPE);
	if (!rc && o.foreground)
		rc = create_follow(c, name, domid);
	godwit_conn_close(c);
	return rc;
}

/* ---- shutdown, destroy ---- */

static void shutdown_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit shutdown [-w] [-F] -a | DOMAIN\n"
		"Press DOMAIN's power button (ACPI); the guest decides.\n"
		"  -w, --wait  wait until the domain has shut down\n"
		"  -a          every domain godwitd runs (with -w: wait for all)\n"
		"  -F          accepted (xl's fallback to the ACPI power button:\n"
		"              godwit always presses it)\n");
}

/* On a VM socket, -w waits for the VM process to close it. */
static void wait_vm_gone(struct godwit_conn *c)
{
	struct godwit_event *ev;

	while (!godwit_next_event(c, -1, &ev))
		godwit_event_free(ev);
}

static int shutdown_one(const char *dom, bool wait)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct route r;
	int rc;

	if (route_open(&r, "shutdown", dom, false))
		return CLI_FAIL;
	rc = route_wait(&r, "shutdown",
			godwit_domain_verb(r.c, dom,
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
		fprintf(stderr, "godwit: %s %s\n", dom,
			wait ? "has shut down" : "is shutting down");
	return rc;
}

/* godwitd's domains that run or are paused (NULL-ended names). */
static char **live_domains(struct godwit_conn *c, size_t *n_out)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct godwit_domain_info *list = NULL;
	char **names = NULL;
	size_t n = 0, i, k = 0;

	if (!godwit_list(c, ROUTE_TIMEOUT_MS, godwit_result_fn, &res) &&
	    !godwit_result_wait(c, &res) &&
	    !godwit_decode_list(res.ret, &list, &n, res.error,
				sizeof(res.error)))
		names = calloc(n + 1, sizeof(*names));
	for (i = 0; names && i < n; i++)
		if (!strcmp(list[i].state, "running") ||
		    !strcmp(list[i].state, "paused"))
			names[k++] = strdup(list[i].name);
	godwit_domain_list_free(list);
	godwit_result_release(&res);
	*n_out = k;
	return names;
}

/*
 * -a: every live domain, all pressed at once on one connection, then
 * (with -w) each waited for, as xl shutdown -a -w does.
 */
static int shutdown_all(bool wait)
{
	struct godwit_result *res = NULL;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	char **names = NULL;
	size_t n = 0, i;
	int rc = CLI_OK;

	if (godwit_open_daemon(&c, err, sizeof(err))) {
		fprintf(stderr, "godwit: shutdown -a: %s\n", err);
		return CLI_FAIL;
	}
	names = live_domains(c, &n);
	res = names ? calloc(n + 1, sizeof(*res)) : NULL;
	if (!res) {
		fprintf(stderr,
			"godwit: shutdown -a: cannot list the domains\n");
		rc = CLI_FAIL;
	}
	for (i = 0; res && i < n; i++) {
		if (!godwit_domain_verb(c, names[i],
					wait ? GODWIT_VERB_SHUTDOWN_WAIT :
					       GODWIT_VERB_SHUTDOWN,
					wait ? -1 : ROUTE_TIMEOUT_MS,
					godwit_result_fn, &res[i]))
			continue;
		/* Not sent: waiting on it reports this. */
		res[i].done = true;
		res[i].rc = -EIO;
		snprintf(res[i].error, sizeof(res[i].error),
			 "cannot send the command");
	}
	for (i = 0; res && i < n; i++) {
		if (godwit_result_wait(c, &res[i])) {
			fprintf(stderr, "godwit: shutdown %s: %s\n", names[i],
				res[i].error);
			rc = CLI_FAIL;
		} else {
			fprintf(stderr, "godwit: %s %s\n", names[i],
				wait ? "has shut down" : "is shutting down");
		}
		godwit_result_release(&res[i]);
	}
	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(res);
	godwit_conn_close(c);
	return rc;
}

int cmd_shutdown(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool wait = false, all = false;
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+awFh", lo, NULL)) != -1) {
		if (opt == 'w')
			wait = true;
		else if (opt == 'a')
			all = true;
		else if (opt == 'F')
			continue; /* the ACPI power button is what it presses */
		else if (opt == 'h')
			return shutdown_usage(stdout), CLI_OK;
		else
			return shutdown_usage(stderr), CLI_USAGE;
	}
	if (argc - optind != (all ? 0 : 1))
		return shutdown_usage(stderr), CLI_USAGE;
	return all ? shutdown_all(wait) : shutdown_one(argv[optind], wait);
}

int cmd_destroy(int argc, char **argv)
{
	int rc = route_dom_argv(argc, argv,
				"End DOMAIN at once (no guest shutdown).\n");

	if (rc >= 0)
		return rc;
	return cli_verb("destroy", argv[1], GODWIT_VERB_DESTROY, 60000);
}
