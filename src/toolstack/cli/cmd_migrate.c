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

#include "common/clock.h"
#include "common/net.h"
#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/follow.h"
#include "toolstack/cli/route.h"
#include "rpc/client.h"

struct mig_opts {
	bool live, verbose, postcopy;
	const char *converge;
	int64_t bandwidth, downtime, rounds, stall_s, margin_ms;
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
		"  --max-rounds N     pre-copy rounds at most (default 30)\n"
		"  --converge MODE    when rounds alone do not fit the downtime: throttle\n"
		"                     (slow the vCPUs that dirty memory; the default),\n"
		"                     postcopy, auto (throttle, then post-copy) or none;\n"
		"                     otherwise the migration fails and the VM runs on here\n"
		"  --postcopy         after one pre-copy round the VM moves at once and\n"
		"                     fetches what changed since from here (lost if either\n"
		"                     host dies before it has it all; see godwit(1))\n"
		"  --stall-timeout S  fail when the destination takes or sends nothing for S\n"
		"                     seconds (default 10)\n"
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
		{ "converge", required_argument, NULL, 'c' },
		{ "postcopy", no_argument, NULL, 'P' },
		{ "stall-timeout", required_argument, NULL, 's' },
		{ "paused-margin", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = 0;

	*o = (struct mig_opts){ .live = true,
				.downtime = -1,
				.rounds = -1,
				.stall_s = -1,
				.margin_ms = -1 };
	optind = 0;
	while (!rc && (opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (opt) {
		case 'L':
			o->live = false;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'b':
			rc = num_arg("--bandwidth", optarg, &o->bandwidth);
			break;
		case 'd':
			rc = num_arg("--downtime", optarg, &o->downtime);
			break;
		case 'r':
			rc = num_arg("--max-rounds", optarg, &o->rounds);
			break;
		case 'c':
			o->converge = optarg;
			break;
		case 'P':
			o->postcopy = true;
			break;
		case 's':
			rc = num_arg("--stall-timeout", optarg, &o->stall_s);
			break;
		case 'm':
			rc = num_arg("--paused-margin", optarg, &o->margin_ms);
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
	return rc;
}

/* Daemon: {domain, host, port}; VM socket: {uri}; then the options. */
static struct json_object *migrate_args(const struct mig_opts *o, bool daemon)
{
	struct json_object *a = json_object_new_object();
	char host[NET_HOST_MAX];
	uint16_t port;

	if (daemon && !net_parse_hostport(o->dest, host, sizeof(host), &port,
					  NET_DEFAULT_PORT)) {
		json_object_object_add(a, "domain",
				       json_object_new_string(o->vm));
		json_object_object_add(a, "host", json_object_new_string(host));
		json_object_object_add(a, "port", json_object_new_int(port));
	} else {
		json_object_object_add(a, "uri",
				       json_object_new_string(o->dest));
	}
	json_object_object_add(a, "live", json_object_new_boolean(o->live));
	json_object_object_add(a, "bandwidth",
			       json_object_new_int64(o->bandwidth));
	if (o->downtime >= 0)
		json_object_object_add(a, "downtime-ms",
				       json_object_new_int64(o->downtime));
	if (o->rounds >= 0)
		json_object_object_add(a, "max-rounds",
				       json_object_new_int64(o->rounds));
	if (o->stall_s >= 0)
		json_object_object_add(
			a, "stall-timeout-ms",
			json_object_new_int64(o->stall_s * 1000));
	if (o->margin_ms >= 0)
		json_object_object_add(a, "paused-margin-ms",
				       json_object_new_int64(o->margin_ms));
	if (o->converge)
		json_object_object_add(a, "converge",
				       json_object_new_string(o->converge));
	if (o->postcopy)
		json_object_object_add(a, "postcopy",
				       json_object_new_boolean(true));
	return a;
}

static double num(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
		       json_object_get_double(v) :
		       0;
}

/* xc_domain_save's per-round line, in our words. */
static void print_round(struct json_object *d, bool tty)
{
	fprintf(stderr,
		"%sround %d: %lld pages sent, %lld dirtied, %.1f MB/s sent, %.1f MB/s dirtied, expected downtime %.2f ms, throttle %d%%%s",
		tty ? "\r\033[K" : "", (int)num(d, "round"),
		(long long)num(d, "pages-sent"),
		(long long)num(d, "pages-dirtied"), num(d, "mbps"),
		num(d, "dirty-mbps"), num(d, "expected-downtime-ms"),
		(int)num(d, "cpu-throttle-percentage"), tty ? "" : "\n");
}

static int outcome(const struct mig_opts *o, struct json_object *d, bool tty)
{
	const char *status = rpc_json_str(d, "status", "");
	struct json_object *v;

	if (tty && o->verbose)
		fputc('\n', stderr);
	if (!strcmp(status, "completed") &&
	    !json_object_object_get_ex(d, "downtime-ms", &v)) {
		fprintf(stderr,
			"godwit: migrated %s to %s: confirmed by asking the destination; downtime unknown, total %.1f ms\n",
			o->vm, o->dest, num(d, "total-time-ms"));
		return CLI_OK;
	}
	if (!strcmp(status, "completed")) {
		fprintf(stderr,
			"godwit: migrated %s to %s: total %.1f ms, downtime %.2f ms, %d rounds, %.1f MiB sent%s\n",
			o->vm, o->dest, num(d, "total-time-ms"),
			num(d, "downtime-ms"), (int)num(d, "rounds"),
			num(d, "bytes") / 1048576.0,
			num(d, "postcopy") ? ", then post-copy" : "");
		return CLI_OK;
	}
	if (!strcmp(status, "unconfirmed")) {
		fprintf(stderr,
			"godwit: migrate %s: unconfirmed: %s; the VM stays paused here until the destination answers; 'godwit migrate-resolve %s --resume-here|--discard' settles it by hand\n",
			o->vm, rpc_json_str(d, "error", ""), o->vm);
		return CLI_FAIL;
	}
	if (!strcmp(status, "failed"))
		fprintf(stderr, "godwit: migrate %s: failed, VM resumed: %s\n",
			o->vm, rpc_json_str(d, "error", ""));
	else
		fprintf(stderr, "godwit: migrate %s: %s: %s\n", o->vm, status,
			rpc_json_str(d, "error", ""));
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
 * go on with the VM's own control socket (*c becomes that client).
 * Returns -1 to go on following, else the exit status.
 */
static int daemon_lost(struct rpc_client **c, const struct mig_opts *o,
		       const struct follow_vm *w, bool tty)
{
	struct json_object *final = NULL;
	struct rpc_client *vm = NULL;
	int rc;

	fprintf(stderr,
		"godwit: migrate %s: godwitd went away; following the VM process\n",
		o->vm);
	if (follow_reconnect(w, &vm, &final))
		return vm_gone(o, w);
	if (final) {
		rc = outcome(o, final, tty);
		json_object_put(final);
		rpc_client_close(vm);
		return rc;
	}
	rpc_client_close(*c);
	*c = vm;
	return -1;
}

/* Through the daemon, events of every domain arrive: keep ours. */
static bool ours(struct json_object *d, int64_t domid)
{
	struct json_object *v;

	if (domid < 0)
		return true;
	return json_object_object_get_ex(d, "domid", &v) &&
	       json_object_get_int64(v) == domid;
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

/*
 * Follow the events until the outcome, never waiting on a process that
 * is gone (follow.h). An unconfirmed handover usually settles within
 * seconds (the source asks the destination): wait for that a while, then
 * report it unconfirmed.
 */
static int follow(struct rpc_client **cp, const struct mig_opts *o,
		  int64_t domid, const struct follow_vm *w)
{
	bool tty = isatty(STDERR_FILENO), direct = domid < 0;
	struct json_object *ev, *d, *last = NULL;
	uint64_t until = 0;
	int rc;

	for (;;) {
		rc = follow_next_event_until(*cp, until, &ev);
		if (rc == -ETIMEDOUT && last) {
			rc = outcome(o, last, tty);
			json_object_put(last);
			return rc;
		}
		if (rc && !direct) {
			rc = daemon_lost(cp, o, w, tty);
			if (rc >= 0) {
				json_object_put(last);
				return rc;
			}
			direct = true;
			domid = -1;
			continue;
		}
		if (rc && last) {
			rc = outcome(o, last, tty);
			json_object_put(last);
			return rc;
		}
		if (rc && w->qmp[0])
			return vm_gone(o, w);
		if (rc) {
			fprintf(stderr,
				"godwit: migrate %s: the VM process went away without reporting the outcome\n",
				o->vm);
			return CLI_FAIL;
		}
		d = NULL;
		json_object_object_get_ex(ev, "data", &d);
		if (!ours(d, domid)) {
			json_object_put(ev);
			continue;
		}
		if (!strcmp(rpc_json_str(ev, "event", ""), "MIGRATION_PASS") &&
		    o->verbose)
			print_round(d, tty);
		/* godwitd says the VMM ended: nothing more will come. */
		if (!strcmp(rpc_json_str(ev, "event", ""), "VMM_ENDED")) {
			rc = ended(o, rpc_json_str(d, "end", ""),
				   rpc_json_str(d, "reason", ""));
			json_object_put(last);
			json_object_put(ev);
			return rc;
		}
		if (!strcmp(rpc_json_str(ev, "event", ""), "MIGRATION") &&
		    !strcmp(rpc_json_str(d, "status", ""), "unconfirmed") &&
		    !last) {
			fprintf(stderr,
				"godwit: migrate %s: %s; asking the destination\n",
				o->vm, rpc_json_str(d, "error", ""));
			last = json_object_get(d);
			until = time_mono_ns() +
				unconfirmed_wait_ms() * NSEC_PER_MSEC;
		} else if (!strcmp(rpc_json_str(ev, "event", ""),
				   "MIGRATION") &&
			   !strcmp(rpc_json_str(d, "status", ""),
				   "postcopy-active")) {
			fprintf(stderr,
				"godwit: migrate %s: post-copy: the VM runs at %s, which fetches its last pages from here\n",
				o->vm, o->dest);
		} else if (!strcmp(rpc_json_str(ev, "event", ""),
				   "MIGRATION") &&
			   strcmp(rpc_json_str(d, "status", ""), "active")) {
			rc = outcome(o, d, tty);
			json_object_put(last);
			json_object_put(ev);
			return rc;
		}
		json_object_put(ev);
	}
}

int cmd_migrate(int argc, char **argv)
{
	struct json_object *args, *ret = NULL, *id;
	struct follow_vm w = { "", "" };
	int64_t domid = -1;
	struct mig_opts o;
	struct route r;
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (route_open(&r, "migrate", o.vm, false))
		return CLI_FAIL;
	args = migrate_args(&o, r.daemon);
	rc = route_call(&r, "migrate", "migrate", args, &ret);
	json_object_put(args);
	if (!rc && r.daemon) {
		domid = json_object_object_get_ex(ret, "domid", &id) ?
				json_object_get_int64(id) :
				-2;
		follow_vm_from(&w, ret);
	}
	json_object_put(ret);
	if (!rc)
		rc = follow(&r.c, &o, domid, &w);
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
	const char *dom = NULL, *action;
	struct json_object *args;
	struct route r;
	int rc;

	action = resolve_parse(argc, argv, &dom, &rc);
	if (!action)
		return rc;
	if (route_open(&r, "migrate-resolve", dom, false))
		return CLI_FAIL;
	/* Answered once the VM runs here again, or has ended. */
	rpc_client_set_timeout(r.c, 60000);
	args = r.daemon ? route_dom_args(&r) : json_object_new_object();
	json_object_object_add(args, "action", json_object_new_string(action));
	rc = route_call(&r, "migrate-resolve", "migrate-resolve", args, NULL);
	json_object_put(args);
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
	struct json_object *args;
	struct route r;
	int rc;

	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout :
								  stderr,
			"usage: godwit migrate-recover DOMAIN [SOURCE[:PORT]]\n"
			"Reconnect a post-copy migration whose connections to the source broke\n"
			"(run on the destination, where the VM waits paused).\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? CLI_OK :
								 CLI_USAGE;
	}
	if (route_open(&r, "migrate-recover", argv[1], false))
		return CLI_FAIL;
	rpc_client_set_timeout(r.c, 60000);
	args = r.daemon ? route_dom_args(&r) : json_object_new_object();
	if (argc == 3)
		json_object_object_add(args, "uri",
				       json_object_new_string(argv[2]));
	rc = route_call(&r, "migrate-recover", "migrate-recover", args, NULL);
	json_object_put(args);
	route_close(&r);
	if (!rc)
		fprintf(stderr,
			"godwit: %s: post-copy reconnected; the VM runs again\n",
			argv[1]);
	return rc;
}
