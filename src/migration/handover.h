/*
 * The migration handover on the stream's socket (docs/stream-format.md,
 * "Migration handover"): RECEIVED, YOURS, CONFIRMED, FAILED messages.
 * Waiting for one uses the socket's receive timeout, which the caller
 * sets with handover_set_timeout().
 */
#ifndef GODWIT_MIGRATION_HANDOVER_H
#define GODWIT_MIGRATION_HANDOVER_H

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
 * -EAGAIN: nothing came within the socket timeout; -EINVAL: not a valid
 * message (why says how). Other -errno from the socket.
 */
int handover_recv(struct stream *s, struct handover_msg *m, char *why,
		  size_t whylen) __must_check;
/* Socket send and receive timeouts for fd, in milliseconds. */
int handover_set_timeout(int fd, unsigned int ms) __must_check;
const char *handover_type_name(uint32_t type);

#endif
