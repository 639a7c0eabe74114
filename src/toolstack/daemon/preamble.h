/*
 * What a connection to the relocation port starts with, judged from its
 * first bytes before the daemon does any work for it (no process, no
 * file, no registry entry): a migration stream's header (with its config
 * text, whose CRC is checked where this daemon knows the layout), a
 * handover QUERY (docs/stream-format.md), or anything else. Pure: bytes
 * in, verdict out; unit-tested and fuzzed.
 *
 * A stream header of any version is accepted when its magic, header_size
 * and lengths are sane: the receiving VMM decides whether it can read
 * that version, and says so to the source. Version 1 headers get the
 * whole check, CRC included, when the config text is at most
 * PREAMBLE_CONFIG_PEEK bytes (larger ones: the fixed part only).
 */
#ifndef GODWIT_DAEMON_PREAMBLE_H
#define GODWIT_DAEMON_PREAMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most config text looked at (peeked: it stays in the socket). */
#define PREAMBLE_CONFIG_PEEK (16 * 1024)
/* Largest header_size accepted from any version. */
#define PREAMBLE_HEADER_MAX 4096
/* Bytes that are enough for any verdict. */
#define PREAMBLE_MAX (PREAMBLE_HEADER_MAX + PREAMBLE_CONFIG_PEEK)

enum preamble_kind {
	PREAMBLE_MORE, /* too few bytes yet: wait for need */
	PREAMBLE_STREAM, /* a migration stream starts */
	PREAMBLE_QUERY, /* one QUERY message */
	PREAMBLE_BAD, /* anything else: why says what */
};

struct preamble {
	enum preamble_kind kind;
	bool stream; /* it starts with the stream magic (even if BAD) */
	size_t need; /* MORE: bytes wanted before asking again */
	uint32_t version; /* STREAM */
	uint64_t mem_bytes; /* STREAM: guest RAM the stream brings */
	bool crc_checked; /* STREAM: the header's CRC was verified */
	uint64_t arrival_id; /* QUERY: what it asks about */
	char why[128]; /* BAD: one line */
};

/* Judge the first len bytes of a connection. */
void preamble_classify(const void *buf, size_t len, struct preamble *out);

#endif
