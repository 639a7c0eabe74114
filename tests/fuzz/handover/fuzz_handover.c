/*
 * libFuzzer target: arbitrary bytes as what the peer says in a migration
 * handover, fed to both drivers of src/migration/handover.c over a
 * socketpair: first as the destination's answers to a source (ROUND_ACKs,
 * RECEIVED, CONFIRMED, FAILED...), then as a source's messages to a
 * destination (YOURS...). The peer's side is shut after the bytes, so no
 * driver ever waits. Any crash, hang or sanitizer report is a bug in the
 * handover's parsing or in a driver's decisions on what it parsed.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "migration/handover.h"

#define FUZZ_MAX 65536 /* fits a socket buffer: written before we read */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sync_ok(void *opaque, char *why, size_t len)
{
	return 0;
}

static int commit_ok(void *opaque)
{
	return 0;
}

static void owned(void *opaque)
{
	*(int *)opaque |= 1;
}

static int resume(void *opaque)
{
	*(int *)opaque |= 2;
	return 0;
}

static void discard(void *opaque, const char *why)
{
	*(int *)opaque |= 4;
}

static void at(void *opaque, const char *phase)
{
}

static const struct handover_source_ops src_ops = { sync_ok, commit_ok };
static const struct handover_dest_ops dest_ops = { owned, resume, discard, at };

/* A stream whose peer already said data and closed its sending side. */
static int peer_said(const uint8_t *data, size_t size, struct stream *s,
		     int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	if ((size && write_full(sv[1], data, size)) ||
	    shutdown(sv[1], SHUT_WR) || stream_open_fd(s, sv[0], true) ||
	    stream_set_stall_timeout(s, 1000)) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	*peer = sv[1];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct handover_source hs = { .confirm_ms = 1000, .late_acks = 4 };
	struct handover_dest hd = { .arrival_id = 1, .yours_ms = 1000 };
	struct stream s;
	int peer, seen = 0;

	signal(SIGPIPE, SIG_IGN);
	if (size > FUZZ_MAX)
		size = FUZZ_MAX;
	if (!peer_said(data, size, &s, &peer)) {
		stream_set_deadline_in(&s, 1000, "the fuzz deadline");
		handover_source_run(&s, &hs, &src_ops, NULL);
		stream_close(&s);
		close(peer);
	}
	if (!peer_said(data, size, &s, &peer)) {
		/* Resumed only after owned, and never after discard. */
		if (!handover_dest_run(&s, &hd, &dest_ops, &seen) && seen != 3)
			__builtin_trap();
		if (seen & 4 && seen & 2)
			__builtin_trap();
		stream_close(&s);
		close(peer);
	}
	return 0;
}
