/*
 * Live migration's messages (msg.h has the codec):
 *
 *   migrate          {domain?, uri | host+port, live, bandwidth,
 *                     downtime-ms, max-rounds, stall-timeout-ms,
 *                     paused-margin-ms}                       command
 *   godwitd's answer {domain, domid, qmp, exit-file}           answer
 *   migrate-resolve  {domain?, action}                         command
 *   MIGRATION        {status, error?, downtime-ms?, total-time-ms,
 *                     rounds, bytes}                           event
 *   query-migrate    the same, with ram, round and
 *                    expected-downtime-ms while there is a job answer
 *   MIGRATION_PASS   {round, pages-sent, pages-dirtied, mbps,
 *                     dirty-mbps, duration-ms, expected-downtime-ms}
 *
 * "domain" names the domain for godwitd, which takes it off and passes
 * the rest to the VMM as it is; the VMM ignores it. godwitd adds
 * "domain" and "domid" to the events it relays (rpc_event_origin_get).
 */
#ifndef GODWIT_RPC_MSG_MIGRATE_H
#define GODWIT_RPC_MSG_MIGRATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/msg.h"

#define RPC_DOMAIN_MAX 64 /* a domain's name, id or uuid, NUL included */
#define RPC_HOST_MAX 256
#define RPC_URI_MAX 300 /* "[HOST]:PORT" */
#define RPC_ERROR_MAX 256 /* an error or reason line, NUL included */

/* The migrate command's defaults (godwit(1) documents them). */
#define RPC_MIGRATE_PORT_DEFAULT 8002 /* xend's relocation port */
#define RPC_MIGRATE_DOWNTIME_MS_DEFAULT 30 /* QEMU: 300; ours aims lower */
#define RPC_MIGRATE_ROUNDS_DEFAULT 30
/* Below the 10 s every fault is decided in, with room for deciding. */
#define RPC_STALL_MS_DEFAULT 8000 /* no byte moved: the peer stalled */

struct rpc_migrate_args {
	char domain[RPC_DOMAIN_MAX]; /* godwitd only */
	/*
	 * Where to: "HOST[:PORT]" or "tcp:HOST:PORT" as given; after
	 * decoding or rpc_msg_check, the canonical "HOST:PORT" ("[V6]:PORT"),
	 * split into host and port.
	 */
	char uri[RPC_URI_MAX];
	char host[RPC_HOST_MAX];
	int64_t port;
	/* Decoding only: godwitd's older "host" and "port" were given. */
	bool legacy;
	bool live;
	int64_t bandwidth_mibps; /* 0: no limit */
	int64_t downtime_ms;
	int64_t max_rounds;
	int64_t stall_timeout_ms;
	int64_t paused_margin_ms; /* 0: the downtime limit, at least 1 s */
};
extern const struct rpc_msg_type rpc_msg_migrate;

/* godwitd's answer to migrate: whom to follow, and where if it goes. */
struct rpc_migrate_started {
	char domain[RPC_DOMAIN_MAX];
	int64_t domid;
	char qmp[PATH_MAX]; /* the VM's control socket */
	char exit_file[PATH_MAX]; /* how its VMM ended, once it has */
};
extern const struct rpc_msg_type rpc_msg_migrate_started;

enum rpc_resolve_action {
	RPC_RESOLVE_RESUME_HERE,
	RPC_RESOLVE_DISCARD,
};

struct rpc_resolve_args {
	char domain[RPC_DOMAIN_MAX]; /* godwitd only */
	int action; /* enum rpc_resolve_action */
};
extern const struct rpc_msg_type rpc_msg_resolve;

enum rpc_mig_status {
	RPC_MIG_NONE,
	RPC_MIG_ACTIVE,
	RPC_MIG_COMPLETED, /* the destination runs the VM */
	RPC_MIG_FAILED, /* the VM runs here again */
	RPC_MIG_UNCONFIRMED, /* handed over, no confirmation: paused here */
};

/* query-migrate's "ram": the pages of the migration so far. */
struct rpc_mig_ram {
	int64_t transferred; /* bytes */
	int64_t remaining;
	int64_t total;
	int64_t dirty_pages_rate; /* pages per second */
	double mbps;
};

/* A migration's state: MIGRATION events, query-migrate, migrate-resolve. */
struct rpc_migration {
	int status; /* enum rpc_mig_status */
	char error[RPC_ERROR_MAX]; /* "" unless failed or unconfirmed */
	bool has_downtime; /* completed, and the destination said when */
	double downtime_ms;
	double total_time_ms;
	int64_t rounds;
	int64_t bytes;
	/* query-migrate while a job exists */
	bool has_ram;
	struct rpc_mig_ram ram;
	bool has_round;
	int64_t round;
	bool has_expected_downtime;
	double expected_downtime_ms;
};
extern const struct rpc_msg_type rpc_msg_migration;

/* One pre-copy round: MIGRATION_PASS. */
struct rpc_mig_round {
	int64_t round;
	int64_t pages_sent;
	int64_t pages_dirtied;
	double mbps;
	double dirty_mbps;
	double duration_ms;
	double expected_downtime_ms;
};
extern const struct rpc_msg_type rpc_msg_mig_round;

/* The wire word of a migration status ("active", ...). */
const char *rpc_mig_status_name(int status);

#endif
