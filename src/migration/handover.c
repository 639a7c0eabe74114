/*
 * The migration handover, both ends, as docs/stream-format.md specifies
 * it ("Migration handover"). Fixed 136-byte CRC-checked messages follow
 * END on the migration socket:
 *
 *   source (godwit migrate)                    destination (migrate-receive)
 *     | header, pre-copy rounds ------------------> | applies pages
 *     | <-------------------------- ROUND_ACK n     | (if it fits at once)
 *     | pause; last pages, state, END ------------> | builds the VM, paused
 *     |   [paused deadline: limit + margin]         |   [answers PENDING]
 *     | <-------------------------- RECEIVED id     |
 *     | `sync` hook: the last veto                  |   [waits for YOURS]
 *     | YOURS t_pause ----------------------------> | claim disks; RUNNING
 *     |   [never resumes by itself from here]       | resumes the vCPUs
 *     | <-------------------------- CONFIRMED       | (runs on even if this
 *     | ends: "migrated"                            |  cannot be sent)
 *
 *   No CONFIRMED (closed, reset, silence): the source is "unconfirmed",
 *   paused, and asks on new connections until it knows (query.c):
 *     | QUERY id ---------------------------------> | relocation port, or
 *     | <-------------------------- OUTCOME         | --listen address
 *       RUNNING: end here.  DISCARDED: resume here.
 *       PENDING, UNKNOWN, no answer: ask again (1 s, backing off to 5 s).
 *
 * Before YOURS any failure resumes the source; after YOURS only the
 * destination's word does (FAILED on this connection, or DISCARDED). A
 * destination that stops waiting for YOURS (deadline, broken link,
 * signal) records DISCARDED first and never resumes that VM.
 *
 * Each driver is a straight line; what only the monitor can do (hooks,
 * starting vCPUs, recording the outcome) comes in through small ops.
 */
#include "migration/handover.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/why.h"
#include "format/record.h"

int handover_send(struct stream *s, uint32_t type, uint64_t value, int error,
		  const char *text)
{
	struct handover_msg m;

	handover_msg_init(&m, type, time_real_ns(), value, error, text);
	return stream_write(s, &m, sizeof(m));
}

int handover_recv(struct stream *s, struct handover_msg *m, char *why,
		  size_t whylen)
{
	int rc = stream_read(s, m, sizeof(*m));

	if (rc == -EPIPE || rc == -ECONNRESET) {
		snprintf(why, whylen, "the peer closed the connection");
		return -EPIPE;
	}
	if (rc) {
		stream_error_text(s, why, whylen);
		return rc;
	}
	return handover_msg_check(m, why, whylen);
}

int handover_send_nowait(struct stream *s, uint32_t type, uint64_t value)
{
	struct handover_msg m;

	handover_msg_init(&m, type, time_real_ns(), value, 0, NULL);
	return stream_send_nowait(s, &m, sizeof(m));
}

const char *handover_type_name(uint32_t type)
{
	static const char *const names[] = {
		"unknown", "RECEIVED",	"YOURS", "CONFIRMED",
		"FAILED",  "ROUND_ACK", "QUERY", "OUTCOME",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] :
							 "unknown";
}

/* ---- source ---- */

/*
 * RECEIVED, under the paused deadline already on s. Round
 * acknowledgements can come after the wait for them gave up: one per
 * round at most, so a peer that sends nothing else still fails.
 */
static int wait_received(struct stream *s, struct handover_source *h)
{
	struct handover_msg m;
	unsigned int acks = 0;
	char why[160];
	int rc;

	do
		rc = handover_recv(s, &m, why, sizeof(why));
	while (!rc && m.type == HANDOVER_ROUND_ACK && acks++ <= h->late_acks);
	if (rc)
		return why_set(h->why, sizeof(h->why), rc,
			       "waiting for the destination: %s", why);
	if (m.type == HANDOVER_FAILED)
		return why_set(h->why, sizeof(h->why), -ECONNREFUSED,
			       "the destination refused the VM: %s", m.text);
	if (m.type != HANDOVER_RECEIVED)
		return why_set(
			h->why, sizeof(h->why), -EPROTO,
			"waiting for the destination: expected RECEIVED, got %s",
			handover_type_name(m.type));
	h->arrival_id = m.value;
	h->received_mono_ns = time_mono_ns();
	return 0;
}

/* After YOURS: only the destination's own word settles the VM here. */
static enum handover_verdict wait_confirmed(struct stream *s,
					    struct handover_source *h)
{
	struct handover_msg m;
	char why[160];

	if (handover_recv(s, &m, why, sizeof(why)))
		return why_set(h->why, sizeof(h->why), HANDOVER_V_UNCONFIRMED,
			       "%s", why);
	if (m.type == HANDOVER_CONFIRMED) {
		h->confirmed_real_ns = m.time_ns;
		return HANDOVER_V_CONFIRMED;
	}
	if (m.type == HANDOVER_FAILED)
		return why_set(h->why, sizeof(h->why), HANDOVER_V_DISCARDED,
			       "%s", m.text);
	return why_set(h->why, sizeof(h->why), HANDOVER_V_UNCONFIRMED,
		       "expected CONFIRMED, got %s",
		       handover_type_name(m.type));
}

enum handover_verdict handover_source_run(struct stream *s,
					  struct handover_source *h,
					  const struct handover_source_ops *ops,
					  void *opaque)
{
	char what[64], why[160];

	if (wait_received(s, h))
		return HANDOVER_V_RESUME;
	if (ops->sync(opaque, h->why, sizeof(h->why)))
		return HANDOVER_V_RESUME;
	if (ops->commit(opaque))
		return why_set(h->why, sizeof(h->why), HANDOVER_V_RESUME,
			       "cancelled");
	/* From here on the VM is not ours to resume by ourselves. */
	snprintf(what, sizeof(what), "the wait for CONFIRMED (%.1f s)",
		 h->confirm_ms / 1000.0);
	stream_set_deadline_in(s, h->confirm_ms, what);
	if (handover_send(s, HANDOVER_YOURS, h->pause_real_ns, 0, NULL))
		return why_set(h->why, sizeof(h->why), HANDOVER_V_UNCONFIRMED,
			       "sending YOURS: %s",
			       stream_error_text(s, why, sizeof(why)));
	return wait_confirmed(s, h);
}

/* ---- destination ---- */

void handover_refuse(struct stream *s, const char *why, unsigned int drain_ms)
{
	stream_set_cancel_fd(s, -1);
	stream_clear_error(s);
	stream_set_deadline_in(s, drain_ms, "the drain");
	if (handover_send(s, HANDOVER_FAILED, 0, -EINVAL, why)) {
		log_debug("could not tell the source why");
		return;
	}
	/*
	 * Closing a socket with unread data makes TCP reset the connection,
	 * and a reset can destroy our message before the source reads it:
	 * send FIN and swallow what the source still sends until it stops
	 * (it does once it sees our message) or drain_ms pass.
	 */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_WR);
	while (!stream_skip(s, 1 << 16))
		;
}

/* The VM is given up before YOURS: record it, then tell the source. */
static int give_up(struct stream *s, struct handover_dest *h,
		   const struct handover_dest_ops *ops, void *opaque, int rc)
{
	if (rc == -ECANCELED)
		why_set(h->why, sizeof(h->why), 0,
			"the destination is shutting down");
	ops->discard(opaque, h->why);
	handover_refuse(s, h->why, 1000);
	return rc;
}

static int wait_yours(struct stream *s, struct handover_dest *h)
{
	struct handover_msg m;
	char what[64], why[160];
	int rc;

	snprintf(what, sizeof(what), "the wait for YOURS (%.1f s)",
		 h->yours_ms / 1000.0);
	stream_set_deadline_in(s, h->yours_ms, what);
	rc = handover_recv(s, &m, why, sizeof(why));
	if (!rc && m.type != HANDOVER_YOURS) {
		snprintf(why, sizeof(why), "expected YOURS, got %s",
			 handover_type_name(m.type));
		rc = -EPROTO;
	}
	if (rc)
		return why_set(h->why, sizeof(h->why), rc,
			       "the source did not hand the VM over: %s", why);
	h->source_pause_real_ns = m.value;
	return 0;
}

/*
 * The VM runs here now, whatever happens to this message: the source
 * will not resume it without our word. A signal from now on means what
 * it means for any running VM, so it no longer cancels the stream.
 */
static void confirm(struct stream *s, struct handover_dest *h)
{
	char why[160];

	stream_set_cancel_fd(s, -1);
	stream_set_deadline(s, 0, NULL);
	if (handover_send(s, HANDOVER_CONFIRMED, 0, 0, NULL)) {
		log_warn(
			"cannot confirm to the source (%s); the VM runs here, the source will not resume it",
			stream_error_text(s, why, sizeof(why)));
		return;
	}
	h->confirmed = true;
}

int handover_dest_run(struct stream *s, struct handover_dest *h,
		      const struct handover_dest_ops *ops, void *opaque)
{
	char why[160];
	int rc;

	log_debug("downtime: restored, sending RECEIVED at %llu us",
		  (unsigned long long)(time_real_ns() / 1000 % 1000000000));
	rc = handover_send(s, HANDOVER_RECEIVED, h->arrival_id, 0, NULL);
	if (rc)
		return why_set(h->why, sizeof(h->why),
			       give_up(s, h, ops, opaque, rc),
			       "sending RECEIVED: %s",
			       stream_error_text(s, why, sizeof(why)));
	ops->at(opaque, "after-received");
	rc = wait_yours(s, h);
	if (!rc) {
		ops->at(opaque, "got-yours");
		rc = ops->claim(opaque, h->why, sizeof(h->why));
	}
	if (rc)
		return give_up(s, h, ops, opaque, rc);
	ops->owned(opaque);
	rc = ops->resume(opaque);
	if (rc)
		return why_set(h->why, sizeof(h->why), rc,
			       "cannot start the received VM: %s",
			       strerror(-rc));
	h->resumed_real_ns = time_real_ns();
	ops->at(opaque, "after-yours");
	confirm(s, h);
	return 0;
}
