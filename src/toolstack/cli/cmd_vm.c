/*
 * Verbs that act on a running domain: pause, unpause, announce, reboot,
 * save. Each goes through godwitd or straight to the VM's control socket
 * (route.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <godwit/domain.h>
#include <godwit/jobinfo.h>

#include "common/clock.h"
#include "common/compiler.h"
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

/* xl reboot: godwitd's on_reboot (restart by default) builds it again. */
int cmd_reboot(int argc, char **argv)
{
	int rc = route_dom_argv(
		argc, argv,
		"Reboot DOMAIN: it is reset, and its on_reboot (restart by default)\n"
		"builds it again, as a reboot from inside the guest does.\n");

	if (rc >= 0)
		return rc;
	rc = cli_verb("reboot", argv[1], GODWIT_VERB_REBOOT, ROUTE_TIMEOUT_MS);
	if (!rc)
		fprintf(stderr, "godwit: %s is rebooting\n", argv[1]);
	return rc;
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
	fprintf(f,
		"usage: godwit save [-c] [-p] [-q] [--compress] DOMAIN FILE\n"
		"Save DOMAIN to FILE; by default the domain then ends. FILE - is\n"
		"standard output (a pipe to 'godwit restore -', not a terminal).\n"
		"  -c          leave the domain running after saving\n"
		"  -p          leave the domain paused after saving\n"
		"  -q          no progress line (by default one a second: written, rate)\n"
		"  --compress  compress guest memory with zstd\n"
		"xl's -D and CONFIG argument are refused with the reason (godwit(1)).\n");
}

/* xl's -D, and its CONFIG argument: refused with why. */
static int save_refused(const char *what)
{
	fprintf(stderr, "godwit: save: %s\n",
		!strcmp(what, "-D") ?
			"-D: godwitd gives a restored domain the next free id; a saved domain's id cannot be kept for it" :
			"CONFIG: the file carries the configuration the domain runs with; another one cannot be written into it");
	return CLI_FAIL;
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

/* How often the progress line is brought up to date. */
#define SAVE_PROGRESS_MS 1000

/* One progress line: job-info's figures, asked on a connection of its own. */
static void save_progress(const char *dom, bool tty)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	struct godwit_job j;

	if (godwit_open_domain(dom, false, &c, err, sizeof(err)))
		return;
	if (!godwit_job_info(c, dom, SAVE_PROGRESS_MS * 2, godwit_result_fn,
			     &res) &&
	    !godwit_result_wait(c, &res) &&
	    !godwit_decode_job(res.ret, &j, err, sizeof(err)) &&
	    j.type == GODWIT_JOB_UNBOUNDED && j.has_data_processed)
		fprintf(stderr,
			"%ssave: %.1f MiB written, guest RAM %lld MiB, %.1f MB/s%s",
			tty ? "\r\033[K" : "", j.data_processed / 1048576.0,
			(long long)(j.memory_total >> 20),
			j.time_elapsed_ms > 0 ?
				j.data_processed / 1e3 / j.time_elapsed_ms :
				0.0,
			tty ? "" : "\n");
	godwit_result_release(&res);
	godwit_conn_close(c);
}

/*
 * Drive c until res is done, a progress line every second unless quiet
 * (the save runs as long as the guest's RAM takes: no deadline).
 */
static void save_follow(struct godwit_conn *c, const char *dom,
			struct godwit_result *res, bool quiet)
{
	bool tty = isatty(STDERR_FILENO), shown = false;
	uint64_t next = time_mono_ns() + SAVE_PROGRESS_MS * NSEC_PER_MSEC;
	struct pollfd p;
	int wait, n;

	while (!res->done) {
		wait = godwit_conn_timeout(c);
		if (!quiet) {
			n = (int)((next - MIN(next, time_mono_ns())) /
				  NSEC_PER_MSEC);
			wait = wait < 0 ? n : MIN(wait, n);
		}
		p = (struct pollfd){ .fd = godwit_conn_fd(c),
				     .events = godwit_conn_events(c) };
		n = poll(&p, 1, wait);
		if (n < 0 && errno != EINTR)
			break;
		if (godwit_conn_dispatch(c, n > 0 ? p.revents : 0))
			break;
		if (!quiet && !res->done && time_mono_ns() >= next) {
			save_progress(dom, tty);
			shown = true;
			next += SAVE_PROGRESS_MS * NSEC_PER_MSEC;
		}
	}
	if (shown && tty)
		fputc('\n', stderr);
}

/*
 * save DOMAIN -: the stream goes to our stdout (a pipe to `godwit restore
 * -`, ssh, a file), passed with the command to godwitd, which passes it
 * on, or to the VM's control socket; the VM writes the stream into it.
 * Progress lines on stderr.
 */
static int save_to_stdout(const char *dom, unsigned int flags, bool quiet)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct route r;
	int rc;

	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr,
			"godwit: save %s -: standard output is a terminal: redirect it to a pipe or a file\n",
			dom);
		return CLI_FAIL;
	}
	if (route_open(&r, "save", dom, false))
		return CLI_FAIL;
	rc = godwit_save_to_fd(r.c, dom, STDOUT_FILENO, flags, -1,
			       godwit_result_fn, &res, r.err, sizeof(r.err));
	if (!rc)
		save_follow(r.c, dom, &res, quiet);
	rc = route_wait(&r, "save", rc, &res);
	route_close(&r);
	if (!rc)
		save_report(dom, res.ret);
	godwit_result_release(&res);
	return rc;
}

int cmd_save(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	unsigned int flags = 0;
	char path[PATH_MAX];
	bool quiet = false;
	struct route r;
	static const struct option lo[] = {
		{ "compress", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+cphDq", lo, NULL)) != -1) {
		if (opt == 'D')
			return save_refused("-D");
		if (opt == 'z')
			flags |= GODWIT_SAVE_COMPRESS;
		else if (opt == 'q')
			quiet = true;
		else if (opt == 'c')
			flags |= GODWIT_SAVE_KEEP_RUNNING;
		else if (opt == 'p')
			flags |= GODWIT_SAVE_LEAVE_PAUSED;
		else if (opt == 'h')
			return save_usage(stdout), CLI_OK;
		else
			return save_usage(stderr), CLI_USAGE;
	}
	if (argc - optind == 3)
		return save_refused("CONFIG");
	if (argc - optind != 2 || (flags & GODWIT_SAVE_KEEP_RUNNING &&
				   flags & GODWIT_SAVE_LEAVE_PAUSED)) {
		save_usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[optind + 1], "-"))
		return save_to_stdout(argv[optind], flags, quiet);
	/* The VM process and godwitd have their own working directory. */
	if (cli_absolute(argv[optind + 1], path, sizeof(path))) {
		fprintf(stderr, "godwit: save: file name too long\n");
		return CLI_FAIL;
	}
	if (route_open(&r, "save", argv[optind], false))
		return CLI_FAIL;
	/* Big guests take a while: no limit. */
	rc = godwit_save(r.c, argv[optind], path, flags, -1, godwit_result_fn,
			 &res, r.err, sizeof(r.err));
	if (!rc)
		save_follow(r.c, argv[optind], &res, quiet);
	rc = route_wait(&r, "save", rc, &res);
	route_close(&r);
	if (!rc)
		save_report(argv[optind], res.ret);
	godwit_result_release(&res);
	return rc;
}
