/* Following a migration to its outcome: see follow.h. */
#include "toolstack/cli/follow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/util.h"

void follow_vm_from(struct follow_vm *w,
		    const struct godwit_migrate_started *st)
{
	snprintf(w->qmp, sizeof(w->qmp), "%s", st->qmp);
	snprintf(w->exit_file, sizeof(w->exit_file), "%s", st->exit_file);
}

int follow_next_event_until(struct godwit_conn *c, uint64_t until,
			    struct godwit_event **ev_out)
{
	char err[GODWIT_ERROR_MAX];
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
		rc = godwit_next_event(c, wait_ms, ev_out);
		if (rc != -ETIMEDOUT)
			return rc;
		if (until && time_mono_ns() >= until)
			return -ETIMEDOUT;
		/* Quiet: is anyone still there? */
		rc = godwit_execute(c, "query-version", NULL, FOLLOW_PING_MS,
				    NULL, err, sizeof(err));
		if (rc == -ETIMEDOUT)
			return -EHOSTDOWN; /* not our deadline: the peer's */
		if (rc && rc != -EREMOTEIO)
			return rc;
	}
}

int follow_reconnect(const struct follow_vm *w, struct godwit_conn **c_out,
		     struct godwit_migration *final_out, bool *ended)
{
	struct json_object *q = NULL;
	char err[GODWIT_ERROR_MAX];
	int rc;

	*c_out = NULL;
	*ended = false;
	if (!w->qmp[0])
		return -ENOENT;
	rc = godwit_open_vm(w->qmp, c_out, err, sizeof(err));
	if (rc)
		return rc;
	rc = godwit_execute(*c_out, "query-migrate", NULL, FOLLOW_PING_MS, &q,
			    err, sizeof(err));
	if (!rc)
		rc = godwit_decode_migration(q, final_out, err, sizeof(err));
	json_object_put(q);
	if (rc) {
		godwit_conn_close(*c_out);
		*c_out = NULL;
		return rc;
	}
	*ended = final_out->status != GODWIT_MIGRATION_ACTIVE &&
		 final_out->status != GODWIT_MIGRATION_NONE;
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
