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
	RPC_FIELD_BOOL("live", struct rpc_migrate_args, live, 0, true),
	RPC_FIELD_INT("bandwidth", struct rpc_migrate_args, bandwidth_mibps, 0,
		      0, 1 << 30, 0),
	RPC_FIELD_INT("downtime-ms", struct rpc_migrate_args, downtime_ms, 0, 0,
		      MS_HOUR, RPC_MIGRATE_DOWNTIME_MS_DEFAULT),
	RPC_FIELD_INT("max-rounds", struct rpc_migrate_args, max_rounds, 0, 1,
		      10000, RPC_MIGRATE_ROUNDS_DEFAULT),
	RPC_FIELD_INT("stall-timeout-ms", struct rpc_migrate_args,
		      stall_timeout_ms, 0, 100, MS_HOUR, RPC_STALL_MS_DEFAULT),
	RPC_FIELD_INT("paused-margin-ms", struct rpc_migrate_args,
		      paused_margin_ms, 0, 0, MS_HOUR, 0),
	RPC_FIELD_ENUM("compress", struct rpc_migrate_args, compress, 0,
		       rpc_compress_names, RPC_COMPRESS_NONE),
	RPC_FIELD_INT("connections", struct rpc_migrate_args, connections, 0, 1,
		      RPC_CONNECTIONS_MAX, 1),
};

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

	if (a->legacy) {
		rc = migrate_join_legacy(a, why, whylen);
		if (rc)
			return rc;
		hp = a->uri;
	}
	if (!a->uri[0])
		return why_set(why, whylen, -EINVAL,
			       "migrate: 'uri' (HOST[:PORT]) is required");
	if (net_parse_hostport(hp, a->host, sizeof(a->host), &port,
			       RPC_MIGRATE_PORT_DEFAULT) ||
	    !a->host[0] || !port)
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

/* ---- MIGRATION, query-migrate ---- */

static const char *const mig_status_names[] = {
	"none", "active", "completed", "failed", "unconfirmed", NULL,
};

const char *rpc_mig_status_name(int status)
{
	return rpc_msg_enum_name(mig_status_names, status);
}

static const struct rpc_field ram_fields[] = {
	RPC_FIELD_INT("transferred", struct rpc_mig_ram, transferred, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_INT("remaining", struct rpc_mig_ram, remaining, 0, 0,
		      INT64_MAX, 0),
	RPC_FIELD_INT("total", struct rpc_mig_ram, total, 0, 0, INT64_MAX, 0),
	RPC_FIELD_INT("dirty-pages-rate", struct rpc_mig_ram, dirty_pages_rate,
		      0, 0, INT64_MAX, 0),
	RPC_FIELD_NUM("mbps", struct rpc_mig_ram, mbps, 0),
};
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
};
const struct rpc_msg_type rpc_msg_migration = RPC_MSG_TYPE(
	"MIGRATION", struct rpc_migration, migration_fields, false, NULL);

/* ---- MIGRATION_PASS ---- */

static const struct rpc_field round_fields[] = {
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
};
const struct rpc_msg_type rpc_msg_mig_round = RPC_MSG_TYPE(
	"MIGRATION_PASS", struct rpc_mig_round, round_fields, false, NULL);
