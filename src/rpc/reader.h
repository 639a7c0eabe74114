/*
 * Incremental reader of a stream of JSON values, as bytes arrive from a
 * socket: push what was received, then take complete values out until
 * it asks for more. Whitespace between values is skipped; a value may be
 * split over any number of reads. A value longer than the reader's limit
 * is refused after at most limit bytes were looked at, so a hostile peer
 * cannot make it buffer much more than that. Strict JSON is required; a
 * value whose strings are not valid UTF-8 is refused whole, and the
 * stream goes on. After a syntax error the caller may resynchronise at
 * the next line break (rpc_reader_resync), as QEMU's monitor does: QMP
 * clients send one message per line.
 *
 * The result does not depend on how the stream is split into reads (the
 * fuzz target checks this). Two json-c behaviours need care for that:
 * its tokener resumes a number split between two calls with less
 * checking than an unsplit one, so a trailing run of bytes that may
 * continue a number is held back until the next byte that cannot; and
 * its UTF-8 check also fires on bytes after a finished value, so UTF-8
 * is checked on complete values instead.
 */
#ifndef GODWIT_RPC_READER_H
#define GODWIT_RPC_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"

enum rpc_read_status {
	RPC_READ_MORE, /* no complete value in what was pushed so far */
	RPC_READ_VALUE, /* one value complete; call again for more */
	RPC_READ_BAD_UTF8, /* one value complete but not UTF-8; dropped */
	RPC_READ_SYNTAX, /* not JSON: rpc_reader_resync, or stop reading */
	RPC_READ_TOO_BIG, /* value longer than the limit */
};

struct rpc_reader {
	struct json_tokener *tok;
	size_t limit; /* most bytes one value may take */
	char *buf; /* pushed bytes; [off, len) not given to json-c yet */
	size_t cap, off, len;
	size_t held; /* trailing bytes of [off, len) that may be a number */
	size_t value_bytes; /* bytes of the current value fed so far */
	size_t vstart; /* buf index where the current value starts */
	size_t last_start, last_end; /* buf span of the value just returned */
	bool in_value; /* a value has started (non-whitespace seen) */
	bool skipping; /* after a syntax error: dropping up to a line break */
	uint64_t pos; /* stream offset of buf[off] */
	uint64_t value_start; /* stream offset of the current/last value */
	char err[64]; /* what was wrong, after RPC_READ_SYNTAX */
};

/* Set up r for values of at most limit bytes; _destroy is idempotent. */
int rpc_reader_init(struct rpc_reader *r, size_t limit) __must_check;
void rpc_reader_destroy(struct rpc_reader *r);

/*
 * Add len received bytes (copied). Call rpc_reader_next until it returns
 * RPC_READ_MORE before pushing again. -ENOMEM.
 */
int rpc_reader_push(struct rpc_reader *r, const char *data,
		    size_t len) __must_check;

/*
 * Take the next complete value from what was pushed. On RPC_READ_VALUE
 * *value_out holds it (caller owns it; NULL for JSON null); then
 * r->value_start and r->pos are the stream offsets where it started and
 * where parsing stopped. After RPC_READ_TOO_BIG the reader must not be
 * used again; after RPC_READ_SYNTAX only once rpc_reader_resync ran.
 */
enum rpc_read_status rpc_reader_next(struct rpc_reader *r,
				     struct json_object **value_out);

/* The bytes pushed but not parsed yet, e.g. to look ahead of a value. */
const char *rpc_reader_ahead(const struct rpc_reader *r, size_t *len_out);
/*
 * The bytes of the value rpc_reader_next just returned (RPC_READ_VALUE),
 * exactly as the peer sent them: for what json-c does not keep (the text
 * of an integer beyond 64 bits). Valid until the next push or next call.
 */
const char *rpc_reader_value_text(const struct rpc_reader *r, size_t *len_out);
/* Stream offset just past the last byte pushed. */
uint64_t rpc_reader_end(const struct rpc_reader *r);

/* True when no value is partly read (only whitespace since the last). */
bool rpc_reader_is_idle(const struct rpc_reader *r);

/*
 * After RPC_READ_SYNTAX: forget the broken value and drop it and what
 * follows up to and including the first line break after its start
 * (pushed already or not yet);
 * values after it are read as usual. Until that line break the reader
 * is not idle, so a peer's request deadline still applies.
 */
void rpc_reader_resync(struct rpc_reader *r);

#endif
