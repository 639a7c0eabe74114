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

#include <godwit/jobinfo.h>
#include <godwit/migrate.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/follow.h"
#include "toolstack/cli/route.h"

struct mig_opts {
	bool verbose, debug;
	bool quiet; /* -q: no progress line */
	char receive_command[512]; /* ssh: --debug puts GODWIT_DEBUG=1 first */
	struct godwit_migrate_params p; /* the library's, its defaults */
	const char *vm, *dest;
};

/* How often the progress line is brought up to date. */
#define PROGRESS_EVERY_MS 1000

/* How long a migrated domain's VMM may take to end here (it is done). */
#define DONE_WAIT_MS 10000
/* How long to follow an unconfirmed migration before leaving it be. */
#define MIGRATE_UNCONFIRMED_WAIT_MS 30000

static void migrate_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit migrate [OPTIONS] DOMAIN HOST[:PORT]\n"
		"       godwit migrate -s SSHCOMMAND [OPTIONS] DOMAIN [USER@]HOST\n"
		"Live-migrate DOMAIN to HOST: to its godwitd's relocation server, or to a\n"
		"`godwit migrate-receive` listening there (port 8002 by default); with -s\n"
		"(or HOST given as ssh:[USER@]HOST), through ssh to a godwit\n"
		"migrate-receive it runs on HOST, on ssh's standard input and output.\n"
		"  -s SSHCOMMAND      ssh's command line, e.g. \"ssh -p 2222\"\n"
		"  --receive-command CMD  what ssh runs on HOST (default: godwit\n"
		"                     migrate-receive, stdio option)\n"
		"  -e                 accepted as xl's (the VM always runs on in the background\n"
		"                     on HOST: its VMM process is the domain)\n"
		"  --debug            ssh: the receiver on HOST logs debug lines (they come\n"
		"                     back through ssh into the VM's log here)\n"
		"  --tls              TLS (x509 certificates, both ends verified)\n"
		"  --tls-dir DIR      the certificates (default /etc/godwit/tls)\n"
		"  --tls-name NAME    the name the destination's certificate must carry\n"
		"                     (default HOST)\n"
		"  --no-live          pause first, then copy (no pre-copy rounds)\n"
		"  --bandwidth MIBPS  limit the pre-copy bandwidth (MiB/s)\n"
		"  --downtime MS      maximum downtime to aim for (default 30)\n"
		"  --max-rounds N     pre-copy rounds at most (default 30)\n"
		"  --converge MODE    when rounds alone do not fit the downtime: throttle\n"
		"                     (slow the vCPUs that dirty memory; the default),\n"
		"                     postcopy, auto (throttle, then post-copy) or none;\n"
		"                     otherwise the migration fails and the VM runs on here\n"
		"  --postcopy         after one pre-copy round the VM moves at once and\n"
		"                     fetches what changed since from here (lost if either\n"
		"                     host dies before it has it all; see godwit(1))\n"
		"  --stall-timeout S  fail when the destination takes or sends nothing for S\n"
		"                     seconds (default 8)\n"
		"  --paused-margin MS the VM may stay paused for the downtime limit plus MS\n"
		"                     (default: the limit, at least 1000); then it resumes\n"
		"  --compress MODE    none (default), zstd, or auto: zstd when the link, not\n"
		"                     the CPU, is the bottleneck\n"
		"  --connections N    send guest memory over N connections (1..16, default 1;\n"
		"                     to a `godwit migrate-receive` only)\n"
		"  --verbose, --debug print a line per round on stderr\n"
		"  -q, --quiet        no progress line (by default one, redrawn on a terminal,\n"
		"                     says each second what is sent, of which pass, how fast)\n"
		"  -p                 leave the domain paused on the destination (xl's)\n"
		"xl's options: --live (xm's; live is the default) and -e (the destination's\n"
		"godwitd supervises the domain; nothing waits there) are accepted; -s and\n"
		"-C are refused with the reason (godwit(1) has it).\n");
}

/*
 * xl's options godwit does not have, each refused with why: the
 * relocation server speaks TCP, and the destination runs the
 * configuration the domain runs with.
 */
static int refused_xl_option(int opt)
{
	static const struct {
		int opt;
		const char *why;
	} no[] = {
		{ 'C',
		  "-C: the destination runs the domain with the configuration it runs with here; another one cannot be sent (disk paths must be the same on both hosts)" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(no); i++)
		if (no[i].opt == opt)
			fprintf(stderr, "godwit: migrate: %s\n", no[i].why);
	return CLI_FAIL;
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

/* -s, -e, --receive-command, --debug, --tls*: the transport's options. */
static void set_transport(struct mig_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		o->p.ssh_command = arg;
		break;
	case 'R':
		o->p.receive_command = arg;
		break;
	case 'D': /* as xl: more said here, and by the receiver */
		o->debug = o->verbose = true;
		break;
	case 'T':
		o->p.tls = true;
		break;
	case 't':
		o->p.tls_dir = arg;
		break;
	case 'N':
		o->p.tls_name = arg;
		break;
	default: /* -e: xl's "no waiting on HOST"; ours never waits there */
		break;
	}
}

/* --debug over ssh: the remote receiver logs its debug lines. */
static int debug_receive_command(struct mig_opts *o)
{
	const char *cmd = o->p.receive_command ?
				  o->p.receive_command :
				  "godwit migrate-receive --stdio";
	int n = snprintf(o->receive_command, sizeof(o->receive_command),
			 "GODWIT_DEBUG=1 %s", cmd);

	if (n < 0 || (size_t)n >= sizeof(o->receive_command)) {
		fprintf(stderr,
			"godwit: migrate: --receive-command is too long\n");
		return CLI_USAGE;
	}
	o->p.receive_command = o->receive_command;
	return 0;
}

static int compress_arg(const char *arg, enum godwit_compress *out)
{
	static const char *const names[] = { "none", "zstd", "auto" };
	static const enum godwit_compress modes[] = { GODWIT_COMPRESS_NONE,
						      GODWIT_COMPRESS_ZSTD,
						      GODWIT_COMPRESS_AUTO };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(arg, names[i])) {
			*out = modes[i];
			return 0;
		}
	}
	fprintf(stderr,
		"godwit: migrate: --compress '%s': expected none, zstd or auto\n",
		arg);
	return CLI_FAIL;
}

static int converge_arg(const char *arg, enum godwit_converge *out)
{
	if (!godwit_converge_parse(arg, out))
		return 0;
	fprintf(stderr,
		"godwit: migrate: --converge must be throttle, postcopy, auto or none, not '%s'\n",
		arg);
	return CLI_FAIL;
}

static int parse(int argc, char **argv, struct mig_opts *o)
{
	static const struct option lo[] = {
		{ "no-live", no_argument, NULL, 'L' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "downtime", required_argument, NULL, 'd' },
		{ "max-rounds", required_argument, NULL, 'r' },
		{ "converge", required_argument, NULL, 'c' },
		{ "postcopy", no_argument, NULL, 'P' },
		{ "stall-timeout", required_argument, NULL, 'S' },
		{ "paused-margin", required_argument, NULL, 'm' },
		{ "compress", required_argument, NULL, 'z' },
		{ "connections", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "live", no_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "receive-command", required_argument, NULL, 'R' },
		{ "debug", no_argument, NULL, 'D' },
		{ "tls", no_argument, NULL, 'T' },
		{ "tls-dir", required_argument, NULL, 't' },
		{ "tls-name", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t stall_s = -1;
	int opt, rc = 0;

	*o = (struct mig_opts){ .verbose = false };
	godwit_migrate_params_init(&o->p);
	optind = 0;
	while (!rc &&
	       (opt = getopt_long(argc, argv, "vhqes:C:p", lo, NULL)) != -1) {
		if (strchr("sReDTtN", opt)) {
			set_transport(o, opt, optarg);
			continue;
		}
		switch (opt) {
		case 'l':
			break;
		case 'p':
			o->p.paused = true;
			break;
		case 'C':
			return refused_xl_option(opt);
		case 'L':
			o->p.live = false;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'q':
			o->quiet = true;
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
		case 'c':
			rc = converge_arg(optarg, &o->p.converge);
			break;
		case 'P':
			o->p.postcopy = true;
			break;
		case 'S':
			rc = num_arg("--stall-timeout", optarg, &stall_s);
			break;
		case 'm':
			rc = num_arg("--paused-margin", optarg,
				     &o->p.paused_margin_ms);
			break;
		case 'z':
			rc = compress_arg(optarg, &o->p.compress);
			break;
		case 'n':
			rc = num_arg("--connections", optarg,
				     &o->p.connections);
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
	if (!rc && o->debug &&
	    (o->p.ssh_command || !strncmp(o->dest, "ssh:", 4)))
		rc = debug_receive_command(o);
	if (stall_s >= 0)
		o->p.stall_timeout_ms = stall_s * 1000;
	return rc;
}

/* xc_domain_save's per-round line, in our words. */
static void print_round(const struct godwit_migration_round *r, bool tty)
{
	fprintf(stderr,
		"%sround %lld: %lld pages sent, %lld dirtied, %.1f MB/s sent, %.1f MB/s dirtied, expected downtime %.2f ms, throttle %lld%%%s",
		tty ? "\r\033[K" : "", (long long)r->round,
		(long long)r->pages_sent, (long long)r->pages_dirtied, r->mbps,
		r->dirty_mbps, r->expected_downtime_ms,
		(long long)r->cpu_throttle_pct, tty ? "" : "\n");
}

/*
 * The progress line, as xl prints one: what query-migrate says now
 * (job-info's figures move within a round). On a terminal it is redrawn
 * in place; otherwise a line each time.
 */
static void print_progress(const struct godwit_job *j, bool tty)
{
	double pct = 0;

	if (j->type != GODWIT_JOB_UNBOUNDED || !j->has_memory_total ||
	    !j->memory_total)
		return;
	if (j->has_memory_remaining && j->memory_remaining <= j->memory_total)
		pct = 100.0 * (j->memory_total - j->memory_remaining) /
		      j->memory_total;
	fprintf(stderr,
		"%smigrate: %.1f MiB sent, round %lld %.0f%% of %lld MiB, %.1f MB/s%s",
		tty ? "\r\033[K" : "", j->memory_processed / 1048576.0,
		(long long)j->iteration, pct,
		(long long)(j->memory_total >> 20),
		j->has_bandwidth ? j->memory_bandwidth_mbps : 0.0,
		tty ? "" : "\n");
}

/* Ask for the job's figures now and print them (errors: no line). */
static void progress_tick(struct godwit_conn *c, const char *dom, bool tty)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char err[GODWIT_ERROR_MAX];
	struct godwit_job j;

	if (!godwit_job_info(c, dom, PROGRESS_EVERY_MS * 4, godwit_result_fn,
			     &res) &&
	    !godwit_result_wait(c, &res) &&
	    !godwit_decode_job(res.ret, &j, err, sizeof(err)))
		print_progress(&j, tty);
	godwit_result_release(&res);
}

static int outcome(const struct mig_opts *o, const struct godwit_migration *m,
		   bool tty)
{
	if (tty && (o->verbose || !o->quiet))
		fputc('\n', stderr);
	if (m->status == GODWIT_MIGRATION_COMPLETED && !m->has_downtime) {
		fprintf(stderr,
			"godwit: migrated %s to %s: confirmed by asking the destination; downtime unknown, total %.1f ms\n",
			o->vm, o->dest, m->total_time_ms);
		return CLI_OK;
	}
	if (m->status == GODWIT_MIGRATION_COMPLETED) {
		fprintf(stderr,
			"godwit: migrated %s to %s: total %.1f ms, downtime %.2f ms, %lld rounds, %.1f MiB sent%s\n",
			o->vm, o->dest, m->total_time_ms, m->downtime_ms,
			(long long)m->rounds, m->bytes / 1048576.0,
			m->postcopy ? ", then post-copy" : "");
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
	/* Completed through godwitd: waiting for the VMM to end here. */
	bool have_done;
	struct godwit_migration done;
	uint64_t until; /* how long to wait for it to settle (0: no limit) */
	uint64_t next_tick; /* the next progress line (0: none) */
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
	if (ev->kind == GODWIT_EVENT_MIGRATION_ROUND && o->verbose) {
		if (f->tty && !o->quiet)
			fputc('\n', stderr); /* keep the progress line */
		print_round(&ev->as.round, f->tty);
	}
	/* godwitd says the VMM ended: nothing more will come. */
	if (ev->kind == GODWIT_EVENT_VMM_ENDED && f->have_done)
		return outcome(o, &f->done, f->tty);
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
	/* Handed over: the VM runs there and fetches its last pages. */
	if (m->status == GODWIT_MIGRATION_POSTCOPY_ACTIVE) {
		fprintf(stderr,
			"godwit: migrate %s: post-copy: the VM runs at %s, which fetches its last pages from here\n",
			o->vm, o->dest);
		return -1;
	}
	/*
	 * Migrated: as xl, return once the domain is gone here too (godwitd
	 * drops it when its VMM ends, moments later), so that what comes
	 * next (a migration back) finds it gone. Bounded: DONE_WAIT_MS.
	 */
	if (m->status == GODWIT_MIGRATION_COMPLETED && !f->direct) {
		f->done = *m;
		f->have_done = true;
		f->until = time_mono_ns() + DONE_WAIT_MS * NSEC_PER_MSEC;
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
	if (f->have_done)
		return outcome(o, &f->done, f->tty);
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
	uint64_t until;
	int rc;

	if (!o->quiet)
		f.next_tick =
			time_mono_ns() + PROGRESS_EVERY_MS * NSEC_PER_MSEC;
	for (;;) {
		until = f.until;
		if (f.next_tick && !f.have_last && !f.have_done &&
		    (!until || f.next_tick < until))
			until = f.next_tick;
		rc = follow_next_event_until(*cp, until, &ev);
		if (rc == -ETIMEDOUT && until == f.next_tick) {
			progress_tick(*cp, o->vm, f.tty);
			f.next_tick += PROGRESS_EVERY_MS * NSEC_PER_MSEC;
			continue;
		}
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

/*
 * godwit migrate-recover DOMAIN [SOURCE[:PORT]]: on the destination, a
 * post-copy whose connections to the source broke (the VM is paused
 * until then) connects again, to where it was or to SOURCE, and goes on.
 */
int cmd_migrate_recover(int argc, char **argv)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	bool help = false;
	struct route r;
	int rc, i;

	for (i = 1; i < argc; i++)
		help |= !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
	if (help || argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(help ? stdout : stderr,
			"usage: godwit migrate-recover DOMAIN [SOURCE[:PORT]]\n"
			"Reconnect a post-copy migration whose connections to the source broke\n"
			"(run on the destination, where the VM waits paused).\n");
		return help ? CLI_OK : CLI_USAGE;
	}
	if (route_open(&r, "migrate-recover", argv[1], false))
		return CLI_FAIL;
	/* Answered once the attempt is over: connected, or why not. */
	rc = route_wait(&r, "migrate-recover",
			godwit_migrate_recover(
				r.c, argv[1], argc == 3 ? argv[2] : NULL, 60000,
				godwit_result_fn, &res, r.err, sizeof(r.err)),
			&res);
	godwit_result_release(&res);
	route_close(&r);
	if (!rc)
		fprintf(stderr,
			"godwit: %s: post-copy reconnected; the VM runs again\n",
			argv[1]);
	return rc;
}
