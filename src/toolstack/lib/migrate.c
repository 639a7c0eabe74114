/* Live migration's commands and answers (migrate.h). */
#include <godwit/migrate.h>

#include "toolstack/lib/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void godwit_migrate_params_init(struct godwit_migrate_params *p)
{
	struct rpc_migrate_args a;

	/* The protocol's defaults are the ones: one place says them. */
	rpc_msg_init(&rpc_msg_migrate, &a);
	*p = (struct godwit_migrate_params){
		.destination = "",
		.live = a.live,
		.bandwidth_mibps = a.bandwidth_mibps,
		.downtime_ms = a.downtime_ms,
		.max_rounds = a.max_rounds,
		.stall_timeout_ms = a.stall_timeout_ms,
		.paused_margin_ms = a.paused_margin_ms,
		.converge = GODWIT_CONVERGE_DEFAULT,
		.postcopy = a.postcopy,
		.paused = a.paused,
	};
}

int godwit_converge_parse(const char *s, enum godwit_converge *out)
{
	int c;

	if (!s || rpc_converge_parse(s, &c))
		return -EINVAL;
	*out = (enum godwit_converge)(c + 1);
	return 0;
}

/* The public modes are the protocol's, one up (0 is "not given"). */
_Static_assert((int)GODWIT_CONVERGE_THROTTLE == RPC_CONVERGE_THROTTLE + 1 &&
		       (int)GODWIT_CONVERGE_NONE == RPC_CONVERGE_NONE + 1,
	       "converge");

int godwit_migrate(struct godwit_conn *c, const char *dom,
		   const struct godwit_migrate_params *p, int timeout_ms,
		   godwit_reply_fn fn, void *opaque, char *err, size_t errlen)
{
	struct rpc_migrate_args a;

	rpc_msg_init(&rpc_msg_migrate, &a);
	if (godwit_conn_is_daemon(c))
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
	snprintf(a.uri, sizeof(a.uri), "%s",
		 p->destination ? p->destination : "");
	a.live = p->live;
	a.bandwidth_mibps = p->bandwidth_mibps;
	a.downtime_ms = p->downtime_ms;
	a.max_rounds = p->max_rounds;
	a.stall_timeout_ms = p->stall_timeout_ms;
	a.paused_margin_ms = p->paused_margin_ms;
	snprintf(a.ssh, sizeof(a.ssh), "%s",
		 p->ssh_command ? p->ssh_command : "");
	snprintf(a.receive_command, sizeof(a.receive_command), "%s",
		 p->receive_command ? p->receive_command : "");
	a.tls = a.has_tls = p->tls;
	snprintf(a.tls_dir, sizeof(a.tls_dir), "%s",
		 p->tls_dir ? p->tls_dir : "");
	snprintf(a.tls_name, sizeof(a.tls_name), "%s",
		 p->tls_name ? p->tls_name : "");
	a.has_converge = p->converge != GODWIT_CONVERGE_DEFAULT;
	a.converge = a.has_converge ? (int)p->converge - 1 : 0;
	a.postcopy = a.has_postcopy = p->postcopy;
	a.paused = p->paused;
	/* All said: the VM's own parameters (migrate-set-parameters) and
	 * QEMU's style (a source that stays) are for QEMU's tools. */
	a.has_live = a.has_bandwidth = a.has_downtime = true;
	a.has_max_rounds = a.has_stall_timeout = a.has_paused_margin = true;
	a.has_paused = true;
	return lib_send(c, "migrate", &rpc_msg_migrate, &a, timeout_ms, fn,
			opaque, err, errlen);
}

int godwit_decode_started(struct json_object *ret,
			  struct godwit_migrate_started *out, char *err,
			  size_t errlen)
{
	struct rpc_migrate_started st;
	int rc = lib_decode(&rpc_msg_migrate_started, ret, &st, err, errlen);

	if (rc)
		return rc;
	snprintf(out->domain, sizeof(out->domain), "%s", st.domain);
	/* A VM's own socket answers {}: no domain to name. */
	out->domid = json_object_object_get_ex(ret, "domid", NULL) ? st.domid :
								     -1;
	snprintf(out->qmp, sizeof(out->qmp), "%s", st.qmp);
	snprintf(out->exit_file, sizeof(out->exit_file), "%s", st.exit_file);
	return 0;
}

int godwit_decode_migration(struct json_object *ret,
			    struct godwit_migration *out, char *err,
			    size_t errlen)
{
	struct rpc_migration m;
	int rc = lib_decode(&rpc_msg_migration, ret, &m, err, errlen);

	if (!rc)
		lib_migration_from(&m, out);
	return rc;
}

int godwit_migrate_resolve(struct godwit_conn *c, const char *dom,
			   enum godwit_resolve action, int timeout_ms,
			   godwit_reply_fn fn, void *opaque)
{
	struct rpc_resolve_args a = { .action = (int)action };
	char err[GODWIT_ERROR_MAX];

	if (godwit_conn_is_daemon(c))
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
	return lib_send(c, "migrate-resolve", &rpc_msg_resolve, &a, timeout_ms,
			fn, opaque, err, sizeof(err));
}

int godwit_migrate_recover(struct godwit_conn *c, const char *dom,
			   const char *source, int timeout_ms,
			   godwit_reply_fn fn, void *opaque, char *err,
			   size_t errlen)
{
	struct rpc_recover_args a;

	rpc_msg_init(&rpc_msg_recover, &a);
	if (godwit_conn_is_daemon(c))
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
	if (source && snprintf(a.uri, sizeof(a.uri), "%s", source) >=
			      (int)sizeof(a.uri)) {
		snprintf(err, errlen,
			 "migrate-recover: source '%.64s' is too long", source);
		return -EINVAL;
	}
	return lib_send(c, "migrate-recover", &rpc_msg_recover, &a, timeout_ms,
			fn, opaque, err, errlen);
}
