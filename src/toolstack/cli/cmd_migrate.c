/*
 * godwit migrate: live-migrate a domain to another host, through godwitd
 * (to the destination's relocation server) or straight on the VM's
 * control socket (route.h). The VM process does the work; this command
 * starts it and follows its events (the daemon relays them, naming the
 * domain): one line per round with --verbose (redrawn in place on a
 * terminal), and the outcome.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <godwit/migrate.h>

#include "common/clock.h"
#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/follow.h"
#include "toolstack/cli/route.h"

struct mig_opts {
	bool verbose;
	struct godwit_migrate_params p; /* the library's, its defaults */
	const char *vm, *dest;
};

/* How long to follow an unconfirmed migration before leaving it be. */
#define MIGRATE_UNCONFIRMED_WAIT_MS 30000

static void migrate_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit migrate [OPTIONS] DOMAIN HOST[:PORT]\n"
		"Live-migrate DOMAIN to HOST: to its godwitd's relocation server, or to a\n"
		"`godwit migrate-receive` listening there (port 8002 by default).\n"
		"  --no-live          pause first, then copy (no pre-copy rounds)\n"
		"  --bandwidth MIBPS  limit the pre-copy bandwidth (MiB/s)\n"
		"  --downtime MS      maximum downtime to aim for (default 30)\n"
		"  --max-rounds N     pre-copy rounds before stopping anyway (default 30)\n"
		"  --stall-timeout S  fail when the destination takes or sends nothing for S\n"
		"                     seconds (default 8)\n"
		"  --paused-margin MS the VM may stay paused for the downtime limit plus MS\n"
		"                     (default: the limit, at least 1000); then it resumes\n"
		"  --verbose          print progress per round on stderr\n");
}

static int num_arg(const char *name, const char *arg, int64_t *out)
{
	uint64_t v;

	if (parse_u64(arg, &v) || v > INT32_MAX) {
		fprintf(stderr, "godwit: migrate: %s '%s' is not a number\n",
			name, arg);
		return CLI_FAIL;
	}
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct mig_opts *o)
{
	static const struct option lo[] = {
		{ "no-live", no_argument, NULL, 'L' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "downtime", required_argument, NULL, 'd' },
		{ "max-rounds", required_argument, NULL, 'r' },
		{ "stall-timeout", required_argument, NULL, 's' },
		{ "paused-margin", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t stall_s = -1;
	int opt, rc = 0;

	*o = (struct mig_opts){ .verbose = false };
	godwit_migrate_params_init(&o->p);
	optind = 0;
	while (!rc && (opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (opt) {
		case 'L':
			o->p.live = false;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'b':
			rc = num_arg("--bandwidth", optarg,
				     &o->p.bandwidth_mibps);
			break;
		case 'd':
			rc = num_arg("--downtime", optarg, &o->p.downtime_ms);
			break;
		case 'r':
			rc = num_arg("--max-rounds", optarg, &o->p.max_rounds);
			break;
		case 's':
			rc = num_arg("--stall-timeout", optarg, &stall_s);
			break;
		case 'm':
			rc = num_arg("--paused-margin", optarg,
				     &o->p.paused_margin_ms);
			break;
		case 'h':
			migrate_usage(stdout);
			return -1;
		default:
			migrate_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (!rc && argc - optind != 2) {
		migrate_usage(stderr);
		return CLI_USAGE;
	}
	o->vm = argv[optind];
	o->dest = argv[optind + 1];
	o->p.destination = o->dest;
	if (stall_s >= 0)
		o->p.stall_timeout_ms = stall_s * 1000;
	return rc;
}

/* xc_domain_save's per-round line, in our words. */
static void print_round(const struct godwit_migration_round *r, bool tty)
{
	fprintf(stderr,
		"%sround %lld: %lld pages sent, %lld dirtied, %.1f MB/s sent, %.1f MB/s dirtied, expected downtime %.2f ms%s",
		tty ? "\r\033[K" : "", (long long)r->round,
		(long long)r->pages_sent, (long long)r->pages_dirtied, r->mbps,
		r->dirty_mbps, r->expected_downtime_ms, tty ? "" : "\n");
}

static int outcome(const struct mig_opts *o, const struct godwit_migration *m,
		   bool tty)
{
	if (tty && o->verbose)
		fputc('\n', stderr);
	if (m->status == GODWIT_MIGRATION_COMPLETED && !m->has_downtime) {
		fprintf(stderr,
			"godwit: migrated %s to %s: confirmed by asking the destination; downtime unknown, total %.1f ms\n",
			o->vm, o->dest, m->total_time_ms);
		return CLI_OK;
	}
	if (m->status == GODWIT_MIGRATION_COMPLETED) {
		fprintf(stderr,
			"godwit: migrated %s to %s: total %.1f ms, downtime %.2f ms, %lld rounds, %.1f MiB sent\n",
			o->vm, o->dest, m->total_time_ms, m->downtime_ms,
			(long long)m->rounds, m->bytes / 1048576.0);
		return CLI_OK;
	}
	if (m->status == GODWIT_MIGRATION_UNCONFIRMED) {
		fprintf(stderr,
			"godwit: migrate %s: unconfirmed: %s; the VM stays paused here until the destination answers; 'godwit migrate-resolve %s --resume-here|--discard' settles it by hand\n",
			o->vm, m->error, o->vm);
		return CLI_FAIL;
	}
	if (m->status == GODWIT_MIGRATION_FAILED)
		fprintf(stderr, "godwit: migrate %s: failed, VM resumed: %s\n",
			o->vm, m->error);
	else
		fprintf(stderr, "godwit: migrate %s: %s: %s\n", o->vm,
			godwit_migration_status_name(m->status), m->error);
	return CLI_FAIL;
}

/* The VM process ended (kind and reason as its exit file has them). */
static int ended(const struct mig_opts *o, const char *kind, const char *reason)
{
	if (!strcmp(kind, "migrated")) {
		fprintf(stderr, "godwit: migrated %s to %s (%s)\n", o->vm,
			o->dest, reason);
		return CLI_OK;
	}
	fprintf(stderr,
		"godwit: migrate %s: the VM process ended during the migration: %s\n",
		o->vm, reason);
	return CLI_FAIL;
}

/* Neither godwitd nor the VM process is there: its exit file tells. */
static int vm_gone(const struct mig_opts *o, const struct follow_vm *w)
{
	char kind[32], reason[256];

	if (!follow_exit_file(w, kind, sizeof(kind), reason, sizeof(reason)))
		return ended(o, kind, reason);
	fprintf(stderr,
		"godwit: migrate %s: godwitd and the VM process went away and no exit file tells how it ended; `godwit list` and godwitd's log may\n",
		o->vm);
	return CLI_FAIL;
}

/*
 * godwitd went away mid-migration: the VM process does not need it, so
 * go on with the VM's own control socket (*c becomes that connection).
 * Returns -1 to go on following, else the exit status.
 */
static int daemon_lost(struct godwit_conn **c, const struct mig_opts *o,
		       const struct follow_vm *w, bool tty)
{
	struct godwit_migration final;
	struct godwit_conn *vm = NULL;
	bool ended;
	int rc;

	fprintf(stderr,
		"godwit: migrate %s: godwitd went away; following the VM process\n",
		o->vm);
	if (follow_reconnect(w, &vm, &final, &ended))
		return vm_gone(o, w);
	if (ended) {
		rc = outcome(o, &final, tty);
		godwit_conn_close(vm);
		return rc;
	}
	godwit_conn_close(*c);
	*c = vm;
	return -1;
}

/* How long to wait for an unconfirmed handover to settle by itself. */
static int unconfirmed_wait_ms(void)
{
	const char *s = getenv("GODWIT_UNCONFIRMED_WAIT_MS");
	uint64_t v;

	if (s && !parse_u64(s, &v) && v <= 3600 * 1000)
		return v;
	return MIGRATE_UNCONFIRMED_WAIT_MS;
}

/* What following has seen: an unconfirmed report, waiting to settle. */
struct follow_state {
	bool tty, direct;
	int64_t domid; /* through godwitd: the domain's; -1 directly */
	bool have_last;
	struct godwit_migration last;
	uint64_t until; /* how long to wait for it to settle (0: no limit) */
};

/*
 * One event: -1 to go on following, else the exit status. godwitd sends
 * every domain's events: ours are those with our domid.
 */
static int on_event(struct follow_state *f, const struct mig_opts *o,
		    const struct godwit_event *ev)
{
	const struct godwit_migration *m = &ev->as.migration;

	if (!f->direct && ev->domid != f->domid)
		return -1;
	if (ev->kind == GODWIT_EVENT_MIGRATION_ROUND && o->verbose)
		print_round(&ev->as.round, f->tty);
	/* godwitd says the VMM ended: nothing more will come. */
	if (ev->kind == GODWIT_EVENT_VMM_ENDED)
		return ended(o, ev->as.ended.end, ev->as.ended.reason);
	if (ev->kind != GODWIT_EVENT_MIGRATION)
		return -1;
	if (m->status == GODWIT_MIGRATION_UNCONFIRMED && !f->have_last) {
		fprintf(stderr,
			"godwit: migrate %s: %s; asking the destination\n",
			o->vm, m->error);
		f->last = *m;
		f->have_last = true;
		f->until =
			time_mono_ns() + unconfirmed_wait_ms() * NSEC_PER_MSEC;
		return -1;
	}
	if (m->status != GODWIT_MIGRATION_ACTIVE)
		return outcome(o, m, f->tty);
	return -1;
}

/* The events stopped (rc): the peer's end, or our wait for it. */
static int on_silence(struct follow_state *f, struct godwit_conn **cp,
		      const struct mig_opts *o, const struct follow_vm *w,
		      int rc)
{
	if (rc == -ETIMEDOUT && f->have_last)
		return outcome(o, &f->last, f->tty);
	if (!f->direct) {
		rc = daemon_lost(cp, o, w, f->tty);
		f->direct = true;
		return rc;
	}
	if (f->have_last)
		return outcome(o, &f->last, f->tty);
	if (w->qmp[0])
		return vm_gone(o, w);
	fprintf(stderr,
		"godwit: migrate %s: the VM process went away without reporting the outcome\n",
		o->vm);
	return CLI_FAIL;
}

/*
 * Follow the events until the outcome, never waiting on a process that
 * is gone (follow.h). An unconfirmed handover usually settles within
 * seconds (the source asks the destination): wait for that a while, then
 * report it unconfirmed.
 */
static int follow(struct godwit_conn **cp, const struct mig_opts *o,
		  int64_t domid, const struct follow_vm *w)
{
	struct follow_state f = { .tty = isatty(STDERR_FILENO),
				  .direct = domid < 0,
				  .domid = domid };
	struct godwit_event *ev;
	int rc;

	for (;;) {
		rc = follow_next_event_until(*cp, f.until, &ev);
		if (rc)
			rc = on_silence(&f, cp, o, w, rc);
		else {
			rc = on_event(&f, o, ev);
			godwit_event_free(ev);
		}
		if (rc >= 0)
			return rc;
	}
}

int cmd_migrate(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct godwit_migrate_started st;
	struct follow_vm w = { "", "" };
	struct mig_opts o;
	struct route r;
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (route_open(&r, "migrate", o.vm, false))
		return CLI_FAIL;
	rc = route_wait(&r, "migrate",
			godwit_migrate(r.c, o.vm, &o.p, ROUTE_TIMEOUT_MS,
				       godwit_result_fn, &res, r.err,
				       sizeof(r.err)),
			&res);
	if (!rc && godwit_decode_started(res.ret, &st, r.err, sizeof(r.err))) {
		fprintf(stderr, "godwit: migrate %s: %s\n", o.vm, r.err);
		rc = CLI_FAIL;
	}
	godwit_result_release(&res);
	if (!rc) {
		follow_vm_from(&w, &st);
		rc = follow(&r.c, &o, route_is_daemon(&r) ? st.domid : -1, &w);
	}
	route_close(&r);
	return rc;
}

static void resolve_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit migrate-resolve DOMAIN --resume-here | --discard\n"
		"Settle a migration left unconfirmed (handed over, no confirmation).\n"
		"  --resume-here  resume the VM here: if the destination runs it, it then\n"
		"                 runs twice and must be stopped there\n"
		"  --discard      end the VM here as migrated away: the destination is\n"
		"                 trusted to run it\n");
}

/* "resume-here" or "discard" from argv; NULL after printing usage. */
static const char *resolve_parse(int argc, char **argv, const char **dom_out,
				 int *rc_out)
{
	static const struct option lo[] = {
		{ "resume-here", no_argument, NULL, 'r' },
		{ "discard", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *action = NULL;
	int opt, n = 0;

	optind = 0;
	*rc_out = CLI_USAGE;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (opt == 'h') {
			resolve_usage(stdout);
			*rc_out = CLI_OK;
			return NULL;
		}
		if (opt == '?')
			break;
		action = opt == 'r' ? "resume-here" : "discard";
		n++;
	}
	if (opt != -1 || n != 1 || argc - optind != 1) {
		resolve_usage(stderr);
		return NULL;
	}
	*dom_out = argv[optind];
	return action;
}

int cmd_migrate_resolve(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	const char *dom = NULL, *action;
	struct route r;
	int rc;

	action = resolve_parse(argc, argv, &dom, &rc);
	if (!action)
		return rc;
	if (route_open(&r, "migrate-resolve", dom, false))
		return CLI_FAIL;
	/* Answered once the VM runs here again, or has ended. */
	rc = route_wait(
		&r, "migrate-resolve",
		godwit_migrate_resolve(r.c, dom,
				       !strcmp(action, "resume-here") ?
					       GODWIT_RESOLVE_RESUME_HERE :
					       GODWIT_RESOLVE_DISCARD,
				       60000, godwit_result_fn, &res),
		&res);
	godwit_result_release(&res);
	route_close(&r);
	if (rc)
		return rc;
	if (!strcmp(action, "resume-here"))
		fprintf(stderr,
			"godwit: %s resumed here. WARNING: if the destination runs this VM it now runs twice: stop it there\n",
			dom);
	else
		fprintf(stderr,
			"godwit: %s discarded here as migrated away; the destination is trusted to run it\n",
			dom);
	return CLI_OK;
}
