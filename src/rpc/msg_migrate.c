/*
 * Live migration's messages: their members, defaults and ranges
 * (msg_migrate.h lists them), and the destination's one parse.
 */
#include "rpc/msg_migrate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "common/net.h"
#include "common/why.h"

#define MS_HOUR 3600000 /* an hour in ms: the longest limit taken */

/* ---- migrate ---- */

const char *const rpc_compress_names[] = { "none", "zstd", "auto", NULL };
static const char *const converge_names[] = { "throttle", "postcopy", "auto",
					      "none", NULL };

const char *rpc_converge_name(int converge)
{
	return rpc_msg_enum_name(converge_names, converge);
}

int rpc_converge_parse(const char *s, int *out)
{
	int i;

	for (i = 0; converge_names[i]; i++) {
		if (!strcmp(s, converge_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}
/* godwit's own members: optional, each with its has_ flag. */
#define OPT_INT(k, M, H, lo, hi, d)                                       \
	{                                                                 \
		.key = (k), .kind = RPC_F_INT, .flags = RPC_F_OPTIONAL,   \
		.off = offsetof(struct rpc_migrate_args, M), .min = (lo), \
		.max = (hi), .dflt = (d),                                 \
		.has_off = offsetof(struct rpc_migrate_args, H)           \
	}
#define OPT_BOOL(k, M, H, d)                                              \
	{                                                                 \
		.key = (k), .kind = RPC_F_BOOL, .flags = RPC_F_OPTIONAL,  \
		.off = offsetof(struct rpc_migrate_args, M), .dflt = (d), \
		.has_off = offsetof(struct rpc_migrate_args, H)           \
	}
/* QEMU's members, read and checked, never sent. */
#define QEMU_BOOL(k, M)                                                \
	{                                                              \
		.key = (k), .kind = RPC_F_BOOL,                        \
		.flags = RPC_F_OPTIONAL | RPC_F_DECODE_ONLY,           \
		.off = offsetof(struct rpc_migrate_args, M),           \
		.has_off = offsetof(struct rpc_migrate_args, has_qemu) \
	}

static const struct rpc_field migrate_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_migrate_args, domain,
		      RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("uri", struct rpc_migrate_args, uri, 0),
	{ .key = "host",
	  .kind = RPC_F_STR,
	  .flags = RPC_F_OPTIONAL | RPC_F_DECODE_ONLY,
	  .off = offsetof(struct rpc_migrate_args, host),
	  .size = RPC_HOST_MAX,
	  .has_off = offsetof(struct rpc_migrate_args, legacy) },
	{ .key = "port",
	  .kind = RPC_F_INT,
	  .flags = RPC_F_OPTIONAL | RPC_F_DECODE_ONLY,
	  .off = offsetof(struct rpc_migrate_args, port),
	  .min = 1,
	  .max = 65535,
	  .dflt = RPC_MIGRATE_PORT_DEFAULT,
	  .has_off = offsetof(struct rpc_migrate_args, legacy) },
	OPT_BOOL("live", live, has_live, true),
	OPT_INT("bandwidth", bandwidth_mibps, has_bandwidth, 0, 1 << 30, 0),
	OPT_INT("downtime-ms", downtime_ms, has_downtime, 0, MS_HOUR,
		RPC_MIGRATE_DOWNTIME_MS_DEFAULT),
	OPT_INT("max-rounds", max_rounds, has_max_rounds, 1, 10000,
		RPC_MIGRATE_ROUNDS_DEFAULT),
	OPT_INT("stall-timeout-ms", stall_timeout_ms, has_stall_timeout, 100,
		MS_HOUR, RPC_STALL_MS_DEFAULT),
	OPT_INT("paused-margin-ms", paused_margin_ms, has_paused_margin, 0,
		MS_HOUR, 0),
	OPT_BOOL("paused", paused, has_paused, false),
	QEMU_BOOL("blk", blk),
	QEMU_BOOL("inc", inc),
	QEMU_BOOL("detach", detach),
	QEMU_BOOL("resume", resume),
	{ .key = "converge",
	  .kind = RPC_F_ENUM,
	  .flags = RPC_F_OPTIONAL,
	  .off = offsetof(struct rpc_migrate_args, converge),
	  .names = converge_names,
	  .dflt = RPC_CONVERGE_THROTTLE,
	  .has_off = offsetof(struct rpc_migrate_args, has_converge) },
	OPT_BOOL("postcopy", postcopy, has_postcopy, false),
	RPC_FIELD_STR("ssh", struct rpc_migrate_args, ssh, RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("receive-command", struct rpc_migrate_args,
		      receive_command, RPC_F_OMIT_EMPTY),
	OPT_BOOL("tls", tls, has_tls, false),
	RPC_FIELD_STR("tls-dir", struct rpc_migrate_args, tls_dir,
		      RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("tls-name", struct rpc_migrate_args, tls_name,
		      RPC_F_OMIT_EMPTY),
	{ .key = "compress",
	  .kind = RPC_F_ENUM,
	  .flags = RPC_F_OPTIONAL,
	  .off = offsetof(struct rpc_migrate_args, compress),
	  .names = rpc_compress_names,
	  .dflt = RPC_COMPRESS_NONE,
	  .has_off = offsetof(struct rpc_migrate_args, has_compress) },
	OPT_INT("connections", connections, has_connections, 1,
		RPC_CONNECTIONS_MAX, 1),
};

#undef OPT_BOOL
#undef OPT_INT
#undef QEMU_BOOL

bool rpc_migrate_has_own(const struct rpc_migrate_args *a)
{
	return a->has_live || a->has_bandwidth || a->has_downtime ||
	       a->has_max_rounds || a->has_stall_timeout ||
	       a->has_paused_margin || a->has_converge || a->postcopy ||
	       a->has_paused || a->tls || a->ssh[0] || a->has_compress ||
	       a->has_connections;
}

/* ssh: uri is [USER@]HOST as ssh takes it, given to a shell. */
static int migrate_check_ssh(struct rpc_migrate_args *a, char *why,
			     size_t whylen)
{
	const char *host;
	size_t n;

	if (!strncmp(a->uri, "ssh:", 4))
		memmove(a->uri, a->uri + 4, strlen(a->uri + 4) + 1);
	n = strspn(a->uri, "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789.-_@:[]");
	host = strrchr(a->uri, '@');
	host = host ? host + 1 : a->uri;
	/* ssh takes no :PORT (-s "ssh -p N" does); a colon is IPv6's. */
	if (a->legacy || a->tls || !a->uri[0] || a->uri[0] == '-' ||
	    n != strlen(a->uri) || strlen(a->uri) >= sizeof(a->host) ||
	    (strchr(host, ':') && host[0] != '['))
		return why_set(
			why, whylen, -EINVAL,
			"migrate: bad ssh destination '%.64s' (expected [USER@]HOST, no :PORT, no TLS)",
			a->uri);
	snprintf(a->host, sizeof(a->host), "%s", a->uri);
	a->port = 0;
	if (!a->receive_command[0])
		snprintf(a->receive_command, sizeof(a->receive_command), "%s",
			 RPC_RECEIVE_COMMAND_DEFAULT);
	return 0;
}

/* host and port (godwitd's older form) as a uri to parse. */
static int migrate_join_legacy(struct rpc_migrate_args *a, char *why,
			       size_t whylen)
{
	int n;

	a->legacy = false;
	if (a->uri[0])
		return why_set(
			why, whylen, -EINVAL,
			"migrate: give 'uri' or 'host' and 'port', not both");
	if (!a->host[0])
		return why_set(why, whylen, -EINVAL,
			       "migrate: 'host' (a string) is required");
	n = snprintf(a->uri, sizeof(a->uri),
		     strchr(a->host, ':') ? "[%s]:%lld" : "%s:%lld", a->host,
		     (long long)a->port);
	if (n < 0 || (size_t)n >= sizeof(a->uri))
		return why_set(why, whylen, -EINVAL,
			       "migrate: 'host' is too long");
	return 0;
}

/* The one parse of the destination: uri in, canonical uri, host, port out. */
static int migrate_check(void *msg, char *why, size_t whylen)
{
	struct rpc_migrate_args *a = msg;
	const char *hp = strncmp(a->uri, "tcp:", 4) ? a->uri : a->uri + 4;
	uint16_t port;
	int rc;

	/* --postcopy is post-copy at once: converge may only agree. */
	if (a->postcopy && a->has_converge &&
	    a->converge != RPC_CONVERGE_POSTCOPY &&
	    a->converge != RPC_CONVERGE_AUTO)
		return why_set(
			why, whylen, -EINVAL,
			"migrate: postcopy and converge '%s' contradict each other",
			rpc_converge_name(a->converge));
	/* Post-copy serves faults on the one connection it has. */
	if (a->connections > 1 &&
	    (a->postcopy ||
	     (a->has_converge && (a->converge == RPC_CONVERGE_POSTCOPY ||
				  a->converge == RPC_CONVERGE_AUTO))))
		return why_set(
			why, whylen, -EINVAL,
			"migrate: 'connections' above 1 does not go with post-copy");
	if (a->blk || a->inc)
		return why_set(
			why, whylen, -EINVAL,
			"migrate: block migration ('blk', 'inc') is not supported by godwit: each host opens the disk images itself (shared storage)");
	if (a->resume)
		return why_set(
			why, whylen, -EINVAL,
			"migrate: 'resume' (QEMU's post-copy recovery) is not supported: godwit's is migrate-recover");
	/* Read and judged: like host and port, never passed on. */
	a->blk = a->inc = a->detach = a->resume = a->has_qemu = false;
	/* Post-copy's page connections are plain TCP to the source. */
	if ((a->ssh[0] || !strncmp(a->uri, "ssh:", 4) || a->tls) &&
	    (a->postcopy ||
	     (a->has_converge && (a->converge == RPC_CONVERGE_POSTCOPY ||
				  a->converge == RPC_CONVERGE_AUTO))))
		return why_set(
			why, whylen, -EINVAL,
			"migrate: post-copy is not available over ssh or TLS (its page connections would be plain TCP)");
	if (a->ssh[0] || !strncmp(a->uri, "ssh:", 4)) {
		if (!a->ssh[0])
			snprintf(a->ssh, sizeof(a->ssh), "ssh");
		return migrate_check_ssh(a, why, whylen);
	}
	if (a->legacy) {
		rc = migrate_join_legacy(a, why, whylen);
		if (rc)
			return rc;
		hp = a->uri;
	}
	if (!a->uri[0])
		return why_set(why, whylen, -EINVAL,
			       "migrate: 'uri' (HOST[:PORT]) is required");
	/* A bracket inside the host would not read back as the same. */
	if (net_parse_hostport(hp, a->host, sizeof(a->host), &port,
			       RPC_MIGRATE_PORT_DEFAULT) ||
	    !a->host[0] || !port || strpbrk(a->host, "[]"))
		return why_set(
			why, whylen, -EINVAL,
			"migrate: bad destination '%.64s' (expected HOST[:PORT] or tcp:HOST:PORT)",
			a->uri);
	a->port = port;
	snprintf(a->uri, sizeof(a->uri),
		 strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host, port);
	return 0;
}

const struct rpc_msg_type rpc_msg_migrate =
	RPC_MSG_TYPE("migrate", struct rpc_migrate_args, migrate_fields, true,
		     migrate_check);

static const struct rpc_field started_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_migrate_started, domain, 0),
	RPC_FIELD_INT("domid", struct rpc_migrate_started, domid, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_STR("qmp", struct rpc_migrate_started, qmp, 0),
	RPC_FIELD_STR("exit-file", struct rpc_migrate_started, exit_file, 0),
};
const struct rpc_msg_type rpc_msg_migrate_started =
	RPC_MSG_TYPE("migrate (answer)", struct rpc_migrate_started,
		     started_fields, false, NULL);

/* ---- migrate-resolve ---- */

static const char *const resolve_actions[] = { "resume-here", "discard", NULL };

static const struct rpc_field resolve_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_resolve_args, domain,
		      RPC_F_OMIT_EMPTY),
	RPC_FIELD_ENUM("action", struct rpc_resolve_args, action,
		       RPC_F_REQUIRED, resolve_actions, 0),
};
const struct rpc_msg_type rpc_msg_resolve = RPC_MSG_TYPE(
	"migrate-resolve", struct rpc_resolve_args, resolve_fields, true, NULL);

/* ---- migrate-recover ---- */

static const struct rpc_field recover_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_recover_args, domain,
		      RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("uri", struct rpc_recover_args, uri, RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_recover = RPC_MSG_TYPE(
	"migrate-recover", struct rpc_recover_args, recover_fields, true, NULL);

/* ---- MIGRATION, query-migrate ---- */

static const char *const mig_status_names[] = {
	"none",
	"active",
	"completed",
	"failed",
	"unconfirmed",
	"postcopy-active",
	"postcopy-failed",
	"postcopy-paused",
	"stopped",
	NULL,
};

const char *rpc_mig_status_name(int status)
{
	return rpc_msg_enum_name(mig_status_names, status);
}

#define RAM_INT(k, M) \
	RPC_FIELD_INT(k, struct rpc_mig_ram, M, 0, 0, INT64_MAX, 0)

static const struct rpc_field ram_fields[] = {
	RPC_FIELD_INT("transferred", struct rpc_mig_ram, transferred, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_INT("remaining", struct rpc_mig_ram, remaining, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_INT("total", struct rpc_mig_ram, total, 0, 0, INT64_MAX, 0),
	RPC_FIELD_INT("dirty-pages-rate", struct rpc_mig_ram, dirty_pages_rate,
		      0, 0, INT64_MAX, 0),
	RPC_FIELD_NUM("mbps", struct rpc_mig_ram, mbps, 0),
	RAM_INT("duplicate", duplicate),
	RAM_INT("skipped", skipped),
	RAM_INT("normal", normal),
	RAM_INT("normal-bytes", normal_bytes),
	RAM_INT("dirty-sync-count", dirty_sync_count),
	RAM_INT("postcopy-requests", postcopy_requests),
	RAM_INT("page-size", page_size),
	RAM_INT("multifd-bytes", multifd_bytes),
	RAM_INT("pages-per-second", pages_per_second),
	RAM_INT("precopy-bytes", precopy_bytes),
	RAM_INT("downtime-bytes", downtime_bytes),
	RAM_INT("postcopy-bytes", postcopy_bytes),
	RAM_INT("dirty-sync-missed-zero-copy", dirty_sync_missed_zero_copy),
};
#undef RAM_INT
static const struct rpc_msg_type ram_type =
	RPC_MSG_TYPE("ram", struct rpc_mig_ram, ram_fields, false, NULL);

static const struct rpc_field migration_fields[] = {
	RPC_FIELD_ENUM("status", struct rpc_migration, status, 0,
		       mig_status_names, RPC_MIG_NONE),
	RPC_FIELD_STR("error", struct rpc_migration, error, RPC_F_OMIT_EMPTY),
	RPC_FIELD_OPT_NUM("downtime-ms", struct rpc_migration, downtime_ms,
			  has_downtime),
	RPC_FIELD_NUM("total-time-ms", struct rpc_migration, total_time_ms, 0),
	RPC_FIELD_INT("rounds", struct rpc_migration, rounds, 0, 0, INT64_MAX,
		      0),
	RPC_FIELD_INT("bytes", struct rpc_migration, bytes, 0, 0, INT64_MAX, 0),
	RPC_FIELD_OPT_OBJECT("ram", struct rpc_migration, ram, has_ram,
			     &ram_type),
	RPC_FIELD_OPT_INT("round", struct rpc_migration, round, has_round, 0,
			  INT64_MAX),
	RPC_FIELD_OPT_NUM("expected-downtime-ms", struct rpc_migration,
			  expected_downtime_ms, has_expected_downtime),
	RPC_FIELD_BOOL("postcopy", struct rpc_migration, postcopy, 0, false),
	RPC_FIELD_INT("cpu-throttle-percentage", struct rpc_migration,
		      cpu_throttle_pct, 0, 0, 100, 0),
	RPC_FIELD_OPT_INT("postcopy-faults", struct rpc_migration,
			  postcopy_faults, has_postcopy_faults, 0, INT64_MAX),
	RPC_FIELD_OPT_INT("postcopy-regions", struct rpc_migration,
			  postcopy_regions, has_postcopy_regions, 0, INT64_MAX),
	RPC_FIELD_OPT_NUM("postcopy-ms", struct rpc_migration, postcopy_ms,
			  has_postcopy_time),
	RPC_FIELD_OPT_INT("total-time", struct rpc_migration, total_time,
			  has_total_time, 0, INT64_MAX),
	RPC_FIELD_OPT_INT("setup-time", struct rpc_migration, setup_time,
			  has_setup_time, 0, INT64_MAX),
	RPC_FIELD_OPT_INT("expected-downtime", struct rpc_migration,
			  qemu_expected_downtime, has_qemu_expected_downtime, 0,
			  INT64_MAX),
	RPC_FIELD_OPT_INT("downtime", struct rpc_migration, qemu_downtime,
			  has_qemu_downtime, 0, INT64_MAX),
	RPC_FIELD_STR("error-desc", struct rpc_migration, error_desc,
		      RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_migration = RPC_MSG_TYPE(
	"MIGRATION", struct rpc_migration, migration_fields, false, NULL);

/* ---- MIGRATION_PASS ---- */

static const struct rpc_field round_fields[] = {
	RPC_FIELD_INT("pass", struct rpc_mig_round, pass, 0, 0, INT64_MAX, 0),
	RPC_FIELD_INT("round", struct rpc_mig_round, round, 0, 0, INT64_MAX, 0),
	RPC_FIELD_INT("pages-sent", struct rpc_mig_round, pages_sent, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_INT("pages-dirtied", struct rpc_mig_round, pages_dirtied, 0,
		      0, INT64_MAX, 0),
	RPC_FIELD_NUM("mbps", struct rpc_mig_round, mbps, 0),
	RPC_FIELD_NUM("dirty-mbps", struct rpc_mig_round, dirty_mbps, 0),
	RPC_FIELD_NUM("duration-ms", struct rpc_mig_round, duration_ms, 0),
	RPC_FIELD_NUM("expected-downtime-ms", struct rpc_mig_round,
		      expected_downtime_ms, 0),
	RPC_FIELD_INT("cpu-throttle-percentage", struct rpc_mig_round,
		      cpu_throttle_pct, 0, 0, 100, 0),
};
const struct rpc_msg_type rpc_msg_mig_round = RPC_MSG_TYPE(
	"MIGRATION_PASS", struct rpc_mig_round, round_fields, false, NULL);
