/*
 * libgodwit-client: live migration (client.h has the conventions). A
 * migration starts with godwit_migrate(); its rounds arrive as
 * GODWIT_EVENT_MIGRATION_ROUND events and its outcome as a
 * GODWIT_EVENT_MIGRATION event whose status is no longer ACTIVE (or, if
 * the VMM ends first, godwitd's GODWIT_EVENT_VMM_ENDED). Through godwitd,
 * keep the events whose domid is the one godwit_decode_started() gives.
 */
#ifndef GODWIT_MIGRATE_H
#define GODWIT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <godwit/api.h>
#include <godwit/client.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a migration does when pre-copy rounds alone do not fit the
 * downtime limit (godwit migrate --converge): otherwise it fails and the
 * VM runs on at the source.
 */
enum godwit_converge {
	GODWIT_CONVERGE_DEFAULT, /* throttle; with postcopy, post-copy */
	GODWIT_CONVERGE_THROTTLE, /* slow the vCPUs that dirty memory */
	GODWIT_CONVERGE_POSTCOPY, /* switch to post-copy */
	GODWIT_CONVERGE_AUTO, /* throttle, then post-copy */
	GODWIT_CONVERGE_NONE,
};

/* "throttle", "postcopy", "auto" or "none"; -EINVAL for anything else. */
int godwit_converge_parse(const char *s,
			  enum godwit_converge *out) GODWIT_MUST_CHECK;

/* How to migrate: godwit_migrate_params_init gives godwit(1)'s defaults. */
struct godwit_migrate_params {
	const char *destination; /* HOST[:PORT] or tcp:HOST:PORT; port 8002 */
	bool live; /* false: pause first, no pre-copy rounds */
	int64_t bandwidth_mibps; /* 0: no limit */
	int64_t downtime_ms; /* the downtime to aim for (30) */
	int64_t max_rounds; /* pre-copy rounds at most (30) */
	int64_t stall_timeout_ms; /* the destination silent this long: fail */
	int64_t paused_margin_ms; /* 0: the downtime limit, at least 1 s */
	/*
	 * ssh transport (xl's): ssh's command, e.g. "ssh -p 2222"; NULL or
	 * "": TCP (unless destination is "ssh:[USER@]HOST"). destination is
	 * then [USER@]HOST, where receive_command runs (NULL: "godwit
	 * migrate-receive --stdio").
	 */
	const char *ssh_command;
	const char *receive_command;
	/* TLS over TCP: x509 credentials from tls_dir (NULL: the VMM's
	 * default, /etc/godwit/tls); tls_name: the name the destination's
	 * certificate must carry (NULL: the host). */
	bool tls;
	const char *tls_dir;
	const char *tls_name;
	enum godwit_converge converge;
	/*
	 * Post-copy after one pre-copy round: the VM runs at the destination
	 * at once and fetches what is left from here (lost if either host
	 * dies before it has it all). converge may be DEFAULT, POSTCOPY or
	 * AUTO with it.
	 */
	bool postcopy;
	bool paused; /* the destination leaves it paused (xl migrate -p) */
};
void godwit_migrate_params_init(struct godwit_migrate_params *p);

/*
 * Start migrating dom as p says; answered as soon as it has started
 * (godwit_decode_started), then events follow. -EINVAL with err when a
 * parameter is out of range, before anything is sent.
 */
int godwit_migrate(struct godwit_conn *conn, const char *dom,
		   const struct godwit_migrate_params *p, int timeout_ms,
		   godwit_reply_fn fn, void *opaque, char *err,
		   size_t errlen) GODWIT_MUST_CHECK;

/* Whom to follow: godwitd's answer to migrate. */
struct godwit_migrate_started {
	char domain[GODWIT_DOMAIN_MAX];
	int64_t domid; /* -1 on a VM's own socket */
	char qmp[GODWIT_PATH_MAX]; /* the VM's socket, if godwitd goes away */
	char exit_file[GODWIT_PATH_MAX]; /* how its VMM ended, once it has */
};
/* migrate's answer (from a VM's socket: domid -1, the rest ""). */
int godwit_decode_started(struct json_object *ret,
			  struct godwit_migrate_started *out, char *err,
			  size_t errlen) GODWIT_MUST_CHECK;

/* query-migrate's answer, or migrate-resolve's. */
int godwit_decode_migration(struct json_object *ret,
			    struct godwit_migration *out, char *err,
			    size_t errlen) GODWIT_MUST_CHECK;

enum godwit_resolve {
	GODWIT_RESOLVE_RESUME_HERE, /* run it here (it may run twice) */
	GODWIT_RESOLVE_DISCARD, /* the destination runs it: end it here */
};

/*
 * Settle a migration left unconfirmed (handed over, no confirmation).
 * Answered once the VM runs here again or has ended here.
 */
int godwit_migrate_resolve(struct godwit_conn *conn, const char *dom,
			   enum godwit_resolve action, int timeout_ms,
			   godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;

/*
 * On the destination: reconnect a post-copy migration whose connections
 * to the source broke (its VM waits paused), to the same source or to
 * source (HOST[:PORT]; NULL: as before). Answered, once the attempt is
 * over, with the migration's state (godwit_decode_migration).
 */
int godwit_migrate_recover(struct godwit_conn *conn, const char *dom,
			   const char *source, int timeout_ms,
			   godwit_reply_fn fn, void *opaque, char *err,
			   size_t errlen) GODWIT_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
