/*
 * Managed save's commands (include/godwit/managed.h): godwitd's only,
 * each a message of rpc/msg_managed.h or msg_domain.h through the same
 * codec the daemon decodes with.
 */
#include <godwit/managed.h>

#include "toolstack/lib/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rpc/msg_domain.h"
#include "rpc/msg_managed.h"

/* Only godwitd keeps managed saves. */
static int daemon_only(struct godwit_conn *c, const char *what, char *err,
		       size_t errlen)
{
	if (godwit_conn_is_daemon(c))
		return 0;
	snprintf(err, errlen, "%s: only godwitd keeps managed saves", what);
	return -EOPNOTSUPP;
}

static int dom_command(struct godwit_conn *c, const char *command,
		       const char *dom, int timeout_ms, godwit_reply_fn fn,
		       void *opaque, char *err, size_t errlen)
{
	struct rpc_dom_args a;
	int rc = daemon_only(c, command, err, errlen);

	if (rc)
		return rc;
	rpc_msg_init(&rpc_msg_dom, &a);
	snprintf(a.domain, sizeof(a.domain), "%s", dom);
	return lib_send(c, command, &rpc_msg_dom, &a, timeout_ms, fn, opaque,
			err, errlen);
}

int godwit_managedsave(struct godwit_conn *c, const char *dom, int timeout_ms,
		       godwit_reply_fn fn, void *opaque, char *err,
		       size_t errlen)
{
	return dom_command(c, "managedsave", dom, timeout_ms, fn, opaque, err,
			   errlen);
}

int godwit_managedsave_remove(struct godwit_conn *c, const char *name,
			      int timeout_ms, godwit_reply_fn fn, void *opaque,
			      char *err, size_t errlen)
{
	return dom_command(c, "managedsave-remove", name, timeout_ms, fn,
			   opaque, err, errlen);
}

int godwit_decode_managed_removed(struct json_object *ret, char *file,
				  size_t len, char *err, size_t errlen)
{
	struct rpc_managed_removed r;
	int rc = lib_decode(&rpc_msg_managed_removed, ret, &r, err, errlen);

	if (!rc)
		snprintf(file, len, "%s", r.file);
	return rc;
}

int godwit_start(struct godwit_conn *c, const char *name, bool paused,
		 int timeout_ms, godwit_reply_fn fn, void *opaque, char *err,
		 size_t errlen)
{
	struct rpc_start_args a;
	int rc = daemon_only(c, "start", err, errlen);

	if (rc)
		return rc;
	rpc_msg_init(&rpc_msg_start, &a);
	snprintf(a.domain, sizeof(a.domain), "%s", name);
	a.paused = paused;
	return lib_send(c, "start", &rpc_msg_start, &a, timeout_ms, fn, opaque,
			err, errlen);
}
