/* Following a migration to its outcome: see follow.h. */
#include "toolstack/cli/follow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/util.h"
#include "rpc/client.h"
#include <godwit/vmctl.h>

void follow_vm_from(struct follow_vm *w, struct json_object *ret)
{
	snprintf(w->qmp, sizeof(w->qmp), "%s", rpc_json_str(ret, "qmp", ""));
	snprintf(w->exit_file, sizeof(w->exit_file), "%s",
		 rpc_json_str(ret, "exit-file", ""));
}

int follow_next_event_until(struct rpc_client *c, uint64_t until,
			    struct json_object **ev_out)
{
	struct rpc_result res;
	uint64_t now;
	int rc, wait_ms;

	for (;;) {
		wait_ms = FOLLOW_PING_MS;
		if (until) {
			now = time_mono_ns();
			if (now >= until)
				return -ETIMEDOUT;
			wait_ms = MIN((uint64_t)wait_ms,
				      (until - now) / NSEC_PER_MSEC + 1);
		}
		rc = rpc_client_next_event(c, wait_ms, ev_out);
		if (rc != -ETIMEDOUT)
			return rc;
		if (until && time_mono_ns() >= until)
			return -ETIMEDOUT;
		/* Quiet: is anyone still there? */
		rpc_client_set_timeout(c, FOLLOW_PING_MS);
		rc = rpc_client_execute(c, "query-version", NULL, -1, &res);
		rpc_result_release(&res);
		if (rc == -ETIMEDOUT)
			return -EHOSTDOWN; /* not our deadline: the peer's */
		if (rc && rc != -EREMOTEIO)
			return rc;
	}
}

int follow_next_event(struct rpc_client *c, struct json_object **ev_out)
{
	return follow_next_event_until(c, 0, ev_out);
}

int follow_reconnect(const struct follow_vm *w, struct rpc_client **c_out,
		     struct json_object **final_out)
{
	struct json_object *q = NULL;
	char err[VMCTL_ERR_MAX];
	const char *status;
	int rc;

	*c_out = NULL;
	*final_out = NULL;
	if (!w->qmp[0])
		return -ENOENT;
	rc = vmctl_open(w->qmp, c_out, err, sizeof(err));
	if (rc)
		return rc;
	rc = vmctl_execute(*c_out, "query-migrate", NULL, &q, err, sizeof(err));
	if (rc) {
		rpc_client_close(*c_out);
		*c_out = NULL;
		return rc;
	}
	status = rpc_json_str(q, "status", "");
	if (!strcmp(status, "active") || !strcmp(status, "none")) {
		json_object_put(q);
		return 0;
	}
	*final_out = q;
	return 0;
}

int follow_exit_file(const struct follow_vm *w, char *kind, size_t klen,
		     char *reason, size_t rlen)
{
	char line[512], k[32];
	size_t len = 0;
	void *text = NULL;
	int status, n = 0, rc;

	if (!w->exit_file[0])
		return -ENOENT;
	rc = file_read_all(w->exit_file, sizeof(line) - 1, &text, &len);
	if (rc)
		return rc;
	memcpy(line, text, len);
	line[len] = 0;
	free(text);
	line[strcspn(line, "\n")] = 0;
	if (sscanf(line, "%d %31s %n", &status, k, &n) < 2 || !n)
		return -EINVAL;
	snprintf(kind, klen, "%s", k);
	snprintf(reason, rlen, "%s", line + n);
	return 0;
}
