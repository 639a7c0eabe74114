/*
 * The migration handover (docs/stream-format.md, "Migration handover"):
 * the messages on the stream's socket after END, and both ends of the
 * exchange as straight-line drivers. handover.c opens with the sequence
 * diagram; query.h settles a handover that was never confirmed.
 *
 * Waits are bounded by the stream (transport/stream.h): its stall
 * timeout, a deadline the driver sets for each wait, and its cancel fd.
 */
#ifndef GODWIT_MIGRATION_HANDOVER_H
#define GODWIT_MIGRATION_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"
#include "migration/transport/stream.h"

/* Send one message stamped with CLOCK_REALTIME now. */
int handover_send(struct stream *s, uint32_t type, uint64_t value, int error,
		  const char *text) __must_check;
/*
 * Send a message only if it fits in the socket's buffer now, without
 * touching the stream's error: for ROUND_ACK, which is a courtesy to the
 * source (it then pauses the VM with nothing in flight), never a reason
 * to fail the receiving side.
 */
int handover_send_nowait(struct stream *s, uint32_t type, uint64_t value);
/*
 * Receive one valid message. -EPIPE: the peer closed the connection;
 * -ETIMEDOUT: a stream limit passed; -ECANCELED; -EINVAL: not a valid
 * message. why says which in one line. Other -errno from the socket.
 */
int handover_recv(struct stream *s, struct handover_msg *m, char *why,
		  size_t whylen) __must_check;
const char *handover_type_name(uint32_t type);

/* ---- source side: after END ---- */

/* How the source's handover ended: what the source does with its VM. */
enum handover_verdict {
	HANDOVER_V_RESUME, /* before YOURS: the VM is ours, resume it */
	HANDOVER_V_CONFIRMED, /* the destination runs it: end here */
	HANDOVER_V_DISCARDED, /* after YOURS the destination said FAILED */
	HANDOVER_V_UNCONFIRMED, /* YOURS sent, no answer: ask (query.h) */
};

/*
 * What only the source's owner can do, on the migration thread. Both
 * return 0 or -errno; none is optional.
 */
struct handover_source_ops {
	/*
	 * The last veto, after RECEIVED and before YOURS (the `sync` hook).
	 * On failure it writes the reason into why.
	 */
	int (*sync)(void *opaque, char *why, size_t whylen);
	/*
	 * Called right before YOURS is sent: returns -ECANCELED if the
	 * migration was cancelled; once it returned 0, the owner must no
	 * longer cancel the stream (the VM is being given away).
	 */
	int (*commit)(void *opaque);
};

struct handover_source {
	/* in */
	uint64_t pause_real_ns; /* YOURS's value: when the VM paused */
	unsigned int confirm_ms; /* wait for CONFIRMED this long */
	unsigned int late_acks; /* ROUND_ACKs that may precede RECEIVED */
	/* out */
	uint64_t arrival_id; /* RECEIVED's value (0: cannot be asked) */
	uint64_t confirmed_real_ns; /* CONFIRMED's time_ns */
	uint64_t received_mono_ns; /* when RECEIVED arrived */
	char why[256]; /* RESUME, DISCARDED, UNCONFIRMED: one line */
};

/*
 * RECEIVED -> sync -> YOURS -> CONFIRMED. The wait for RECEIVED runs
 * under the deadline already on s (the paused deadline of precopy.c);
 * the wait for CONFIRMED under h->confirm_ms.
 */
enum handover_verdict handover_source_run(struct stream *s,
					  struct handover_source *h,
					  const struct handover_source_ops *ops,
					  void *opaque);

/* ---- destination side: after the VM is built ---- */

/* What only the destination's owner can do, on its main thread. */
struct handover_dest_ops {
	/*
	 * YOURS arrived: record that this arrival is RUNNING (outcome file,
	 * QUERY answers) before any vCPU runs. Cannot fail: a record that
	 * could not be written leaves the source unconfirmed, never two VMs.
	 */
	void (*owned)(void *opaque);
	/* Run the vCPUs. 0 or -errno. */
	int (*resume)(void *opaque);
	/*
	 * The VM is given up before YOURS (why says why): record DISCARDED
	 * before the connection closes. It is never resumed afterwards.
	 */
	void (*discard)(void *opaque, const char *why);
	/*
	 * Protocol points, for logging and fault injection (phase names
	 * "after-received", "after-yours"): may block; returns nothing.
	 */
	void (*at)(void *opaque, const char *phase);
};

struct handover_dest {
	/* in */
	uint64_t arrival_id; /* sent in RECEIVED */
	unsigned int yours_ms; /* wait for YOURS this long, then discard */
	/* out */
	uint64_t source_pause_real_ns; /* YOURS's value */
	uint64_t resumed_real_ns;
	bool confirmed; /* CONFIRMED went out */
	char why[256]; /* on failure: one line */
};

/*
 * RECEIVED -> wait YOURS -> owned -> resume -> CONFIRMED. 0 once the VM
 * runs (whether or not CONFIRMED could be sent); else -errno after
 * ops->discard, and a FAILED message to the source when a signal (the
 * stream's cancel fd) stopped the wait: "the destination is shutting
 * down".
 */
int handover_dest_run(struct stream *s, struct handover_dest *h,
		      const struct handover_dest_ops *ops,
		      void *opaque) __must_check;

/*
 * Best effort, before the connection closes: tell a live source why the
 * destination gives up (a FAILED message), send FIN, and read what the
 * source still sends for up to drain_ms, so a TCP reset does not destroy
 * the message before the source read it. Clears the stream's error and
 * cancel fd first: it runs after a failure, also one a signal caused.
 */
void handover_refuse(struct stream *s, const char *why, unsigned int drain_ms);

#endif
