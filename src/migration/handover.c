/* Handover messages: fixed 136-byte, CRC-checked, on the stream. */
#include "migration/handover.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "format/record.h"

int handover_send(struct stream *s, uint32_t type, uint64_t value, int error,
		  const char *text)
{
	struct handover_msg m;

	handover_init(&m, type, time_real_ns(), value, error, text);
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
	if (rc == -EAGAIN || rc == -EWOULDBLOCK) {
		snprintf(why, whylen, "no answer from the peer in time");
		return -EAGAIN;
	}
	if (rc) {
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	return handover_check(m, why, whylen);
}

int handover_send_nowait(struct stream *s, uint32_t type, uint64_t value)
{
	struct handover_msg m;

	handover_init(&m, type, time_real_ns(), value, 0, NULL);
	return stream_send_nowait(s, &m, sizeof(m));
}

int handover_set_timeout(int fd, unsigned int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

const char *handover_type_name(uint32_t type)
{
	switch (type) {
	case HANDOVER_RECEIVED:
		return "RECEIVED";
	case HANDOVER_YOURS:
		return "YOURS";
	case HANDOVER_CONFIRMED:
		return "CONFIRMED";
	case HANDOVER_FAILED:
		return "FAILED";
	case HANDOVER_ROUND_ACK:
		return "ROUND_ACK";
	default:
		return "unknown";
	}
}
