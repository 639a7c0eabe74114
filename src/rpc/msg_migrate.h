/*
 * Live migration's messages (msg.h has the codec):
 *
 *   migrate          {domain?, uri | host+port, live, bandwidth,
 *                     downtime-ms, max-rounds, stall-timeout-ms,
 *                     paused-margin-ms, paused, converge?,
 *                     postcopy, ssh?, receive-command?, tls?,
 *                     tls-dir?, tls-name?, compress?, connections?,
 *                     blk?, inc?, detach?, resume?}            command
 *   godwitd's answer {domain, domid, qmp, exit-file}           answer
 *   migrate-resolve  {domain?, action}                         command
 *   migrate-recover  {domain?, uri?}: answered as query-migrate command
 *   MIGRATION        {status, error?, downtime-ms?, total-time-ms,
 *                     rounds, bytes, postcopy,
 *                     cpu-throttle-percentage, postcopy-faults?,
 *                     postcopy-regions?, postcopy-ms?}         event
 *   query-migrate    the same, with QEMU's MigrationInfo (ram as its
 *                    MigrationStats, total-time, setup-time,
 *                    expected-downtime, downtime, error-desc) and
 *                    godwit's round and expected-downtime-ms once
 *                    there was a job                          answer
 *   MIGRATION_PASS   {pass, round, pages-sent, pages-dirtied, mbps,
 *                     dirty-mbps, duration-ms, expected-downtime-ms,
 *                     cpu-throttle-percentage}
 *
 * migrate's godwit members are each optional: the VMM fills a missing
 * one from its migration parameters (migrate-set-parameters), and a
 * migrate with none of them is QEMU's (its tools send uri, and blk, inc,
 * detach or resume): its source then stays, as QEMU's does, until quit.
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
#define RPC_SSH_MAX 512 /* ssh's command, the remote command */
#define RPC_PATH_MAX 256 /* a directory name */
#define RPC_RECEIVE_COMMAND_DEFAULT "godwit migrate-receive --stdio"

/* The migrate command's defaults (godwit(1) documents them). */
#define RPC_MIGRATE_PORT_DEFAULT 8002 /* xend's relocation port */
#define RPC_MIGRATE_DOWNTIME_MS_DEFAULT 30 /* QEMU: 300; ours aims lower */
#define RPC_MIGRATE_ROUNDS_DEFAULT 30
/* Below the 10 s every fault is decided in, with room for deciding. */
#define RPC_STALL_MS_DEFAULT 8000 /* no byte moved: the peer stalled */

/*
 * What a migration does when pre-copy rounds alone do not fit the
 * downtime limit (godwit migrate --converge; the migration layer's enum
 * precopy_converge, in the same order).
 */
enum rpc_converge {
	RPC_CONVERGE_THROTTLE, /* the default */
	RPC_CONVERGE_POSTCOPY,
	RPC_CONVERGE_AUTO,
	RPC_CONVERGE_NONE,
};

/* The wire word of a converge mode; -EINVAL for an unknown word. */
const char *rpc_converge_name(int converge);
int rpc_converge_parse(const char *s, int *out);
/* Page compression: "none", "zstd", "auto" (migration/compress.h). */
enum rpc_compress {
	RPC_COMPRESS_NONE,
	RPC_COMPRESS_ZSTD,
	RPC_COMPRESS_AUTO,
};
#define RPC_CONNECTIONS_MAX 16 /* the stream format's CONN_MAX */

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
	/*
	 * The ssh transport: ssh's command ("ssh -p 2222"); uri then is
	 * [USER@]HOST as ssh takes it (host gets it too, port 0), and
	 * receive_command is run there (RPC_RECEIVE_COMMAND_DEFAULT).
	 */
	char ssh[RPC_SSH_MAX];
	char receive_command[RPC_SSH_MAX];
	/* TLS (GnuTLS, x509 from tls_dir); tls_name: the name the
	 * destination's certificate must carry ("": the host). */
	bool tls, has_tls; /* has_tls: encoded only when given */
	char tls_dir[RPC_PATH_MAX];
	char tls_name[RPC_HOST_MAX];
	bool has_converge; /* not given: throttle (postcopy: postcopy) */
	int converge; /* enum rpc_converge */
	bool postcopy; /* switch to post-copy after round 0 */
	bool has_postcopy; /* encoded only when given */
	bool paused; /* the destination leaves the VM paused (xl's -p) */
	/* Which of the seven above were given (encoded only when set). */
	bool has_live, has_bandwidth, has_downtime, has_max_rounds;
	bool has_stall_timeout, has_paused_margin, has_paused;
	/* QEMU's (decoding only): block migration and resume are refused. */
	bool blk, inc, detach, resume, has_qemu;
	int compress; /* enum rpc_compress */
	int64_t connections; /* 1..RPC_CONNECTIONS_MAX */
	bool has_compress, has_connections; /* encoded only when given */
};
extern const struct rpc_msg_type rpc_msg_migrate;
extern const char *const rpc_compress_names[]; /* enum rpc_compress */

/* Was any of godwit's own members given (else: QEMU's migrate)? */
bool rpc_migrate_has_own(const struct rpc_migrate_args *a);

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

/* migrate-recover: on the destination, reconnect a paused post-copy. */
struct rpc_recover_args {
	char domain[RPC_DOMAIN_MAX]; /* godwitd only */
	char uri[RPC_URI_MAX]; /* the source's HOST[:PORT]; "": as before */
};
extern const struct rpc_msg_type rpc_msg_recover;

enum rpc_mig_status {
	RPC_MIG_NONE,
	RPC_MIG_ACTIVE,
	RPC_MIG_COMPLETED, /* the destination runs the VM */
	RPC_MIG_FAILED, /* the VM runs here again */
	RPC_MIG_UNCONFIRMED, /* handed over, no confirmation: paused here */
	RPC_MIG_POSTCOPY_ACTIVE, /* handed over; the last pages on demand */
	RPC_MIG_POSTCOPY_FAILED, /* source: ended before they were all sent */
	RPC_MIG_POSTCOPY_PAUSED, /* destination: a connection broke */
	RPC_MIG_STOPPED, /* destination: the VM ended during post-copy */
};

/*
 * query-migrate's "ram": QEMU's MigrationStats, the pages of the
 * migration so far; what godwit has no use for is 0, as in QEMU.
 */
struct rpc_mig_ram {
	int64_t transferred; /* stream bytes */
	int64_t remaining; /* bytes the current pass has still to look at */
	int64_t total; /* guest RAM */
	int64_t duplicate; /* zero pages */
	int64_t skipped;
	int64_t normal; /* pages sent with their data */
	int64_t normal_bytes;
	int64_t dirty_pages_rate; /* pages per second */
	double mbps; /* megabits per second, as QEMU counts */
	int64_t dirty_sync_count;
	int64_t postcopy_requests;
	int64_t page_size;
	int64_t multifd_bytes;
	int64_t pages_per_second;
	int64_t precopy_bytes; /* sent while the guest ran */
	int64_t downtime_bytes; /* sent while it was paused */
	int64_t postcopy_bytes;
	int64_t dirty_sync_missed_zero_copy;
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
	bool postcopy; /* completed through post-copy */
	/* the most the vCPUs were throttled (query-migrate: right now) */
	int64_t cpu_throttle_pct;
	/* the destination's post-copy */
	bool has_postcopy_faults;
	int64_t postcopy_faults; /* guest faults on missing regions */
	bool has_postcopy_regions;
	int64_t postcopy_regions; /* regions it had to fetch */
	bool has_postcopy_time;
	double postcopy_ms; /* from the switch until it had them all */
	/* QEMU's MigrationInfo members, whole milliseconds */
	bool has_total_time, has_setup_time, has_qemu_expected_downtime;
	bool has_qemu_downtime;
	int64_t total_time, setup_time, qemu_expected_downtime, qemu_downtime;
	char error_desc[RPC_ERROR_MAX]; /* QEMU's name for error */
};
extern const struct rpc_msg_type rpc_msg_migration;

/* One pre-copy round: MIGRATION_PASS. */
struct rpc_mig_round {
	int64_t pass; /* QEMU's: dirty-bitmap syncs from 1, so round + 1 */
	int64_t round;
	int64_t pages_sent;
	int64_t pages_dirtied;
	double mbps;
	double dirty_mbps;
	double duration_ms;
	double expected_downtime_ms;
	int64_t cpu_throttle_pct; /* the vCPUs' throttle in this round */
};
extern const struct rpc_msg_type rpc_msg_mig_round;

/* The wire word of a migration status ("active", ...). */
const char *rpc_mig_status_name(int status);

#endif
