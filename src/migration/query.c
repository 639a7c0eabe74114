/*
 * The source's side of QUERY and OUTCOME: a source that sent YOURS and
 * never got CONFIRMED cannot tell from its socket whether the destination
 * runs the guest (a relay or a firewall may close or reset a connection
 * whose far end is alive), so it asks the destination itself, on new
 * connections, until the destination's word settles it.
 */
#include "migration/query.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "format/record.h"
#include "migration/handover.h"
#include "migration/policy.h"
#include "migration/transport/stream.h"
#include "migration/transport/tls.h"

const char *query_outcome_name(uint32_t outcome)
{
	switch (outcome) {
	case HANDOVER_OUTCOME_RUNNING:
		return "RUNNING";
	case HANDOVER_OUTCOME_DISCARDED:
		return "DISCARDED";
	case HANDOVER_OUTCOME_PENDING:
		return "PENDING";
	case HANDOVER_OUTCOME_UNKNOWN:
		return "UNKNOWN";
	default:
		return "invalid";
	}
}

/* QUERY out, OUTCOME back, on a connected socket, within the deadline. */
static int exchange(const struct query_target *t, int fd, uint64_t deadline,
		    uint32_t *outcome_out, char *why, size_t whylen)
{
	struct handover_msg m;
	struct stream s;
	int rc;

	rc = stream_open_fd(&s, fd, false);
	if (!rc)
		rc = stream_set_stall_timeout(&s, 0);
	if (rc) {
		snprintf(why, whylen, "%s", strerror(-rc));
		stream_close(&s);
		return rc;
	}
	stream_set_cancel_fd(&s, t->cancel_fd);
	stream_set_deadline(&s, deadline, "the time allowed for an answer");
	if (t->tls && (rc = tls_stream_client(&s, t->tls, why, whylen))) {
		stream_close(&s);
		return rc;
	}
	rc = handover_send(&s, HANDOVER_QUERY, t->arrival_id, 0, NULL);
	if (rc)
		stream_error_text(&s, why, whylen);
	else
		rc = handover_recv(&s, &m, why, whylen);
	if (!rc && (m.type != HANDOVER_OUTCOME || m.value != t->arrival_id)) {
		snprintf(why, whylen, "answered %s for arrival %016llx",
			 handover_type_name(m.type),
			 (unsigned long long)m.value);
		rc = -EPROTO;
	}
	if (!rc)
		*outcome_out = m.arg;
	stream_close(&s);
	return rc;
}

int query_ask(const struct query_target *t, uint32_t *outcome_out, char *why,
	      size_t whylen)
{
	uint64_t deadline = time_mono_ns() + t->attempt_ms * NSEC_PER_MSEC;
	int fd, rc;

	rc = net_connect(t->host, t->port, t->attempt_ms, &fd, why, whylen);
	if (rc)
		return rc;
	rc = exchange(t, fd, deadline, outcome_out, why, whylen);
	close(fd);
	return rc;
}

/* Wait ms for the cancel fd; -ECANCELED if it became readable. */
static int pause_ms(const struct query_target *t, int ms)
{
	struct pollfd p = { .fd = t->cancel_fd, .events = POLLIN };
	uint64_t end = ms < 0 ? 0 : time_mono_ns() + ms * NSEC_PER_MSEC, now;
	int r;

	for (;;) {
		now = time_mono_ns();
		if (ms >= 0 && now >= end)
			return 0;
		r = poll(&p, t->cancel_fd >= 0,
			 ms < 0 ? -1 : (int)((end - now) / NSEC_PER_MSEC) + 1);
		if (r > 0)
			return -ECANCELED;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Log what the destination said (or why it could not), when it changes. */
static void note(char *last, size_t lastlen, const struct query_target *t,
		 const char *now)
{
	if (!strcmp(last, now))
		return;
	log_info("asking %s port %u about arrival %016llx: %s", t->host,
		 t->port, (unsigned long long)t->arrival_id, now);
	snprintf(last, lastlen, "%s", now);
}

int query_settle(const struct query_target *t, uint32_t *outcome_out)
{
	char last[200] = "", why[160];
	unsigned int attempt = 0;
	uint32_t outcome;
	int rc;

	if (!t->arrival_id) {
		log_warn(
			"the destination sent no arrival id: it cannot be asked; waiting for the operator");
		return pause_ms(t, -1);
	}
	for (;;) {
		rc = query_ask(t, &outcome, why, sizeof(why));
		if (rc == -ECANCELED)
			return rc;
		note(last, sizeof(last), t,
		     rc ? why : query_outcome_name(outcome));
		if (!rc && (outcome == HANDOVER_OUTCOME_RUNNING ||
			    outcome == HANDOVER_OUTCOME_DISCARDED)) {
			*outcome_out = outcome;
			return 0;
		}
		rc = pause_ms(t, policy_query_interval_ms(attempt++));
		if (rc)
			return rc;
	}
}
