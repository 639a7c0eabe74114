/*
 * JSON value stream reader on top of json-c's incremental tokener. The
 * tokener is handed at most the bytes still allowed for the current
 * value, so its internal buffers never grow past the limit; bytes that
 * may continue a number wait in our buffer for the byte that ends it.
 */
#include "rpc/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/proto.h"

/* Nesting depth allowed in one value (json-c's default is 32). */
#define RPC_READER_DEPTH 64

int rpc_reader_init(struct rpc_reader *r, size_t limit)
{
	memset(r, 0, sizeof(*r));
	r->limit = limit;
	r->tok = json_tokener_new_ex(RPC_READER_DEPTH);
	if (!r->tok)
		return -ENOMEM;
	json_tokener_set_flags(r->tok,
			       JSON_TOKENER_STRICT |
				       JSON_TOKENER_ALLOW_TRAILING_CHARS);
	return 0;
}

void rpc_reader_destroy(struct rpc_reader *r)
{
	if (r->tok)
		json_tokener_free(r->tok);
	r->tok = NULL;
	free(r->buf);
	r->buf = NULL;
	r->cap = r->off = r->len = r->held = 0;
}

bool rpc_reader_is_idle(const struct rpc_reader *r)
{
	return !r->in_value && !r->skipping;
}

const char *rpc_reader_ahead(const struct rpc_reader *r, size_t *len_out)
{
	*len_out = r->len - r->off;
	return r->buf + r->off;
}

const char *rpc_reader_value_text(const struct rpc_reader *r, size_t *len_out)
{
	*len_out = r->last_end - r->last_start;
	return r->buf + r->last_start;
}

uint64_t rpc_reader_end(const struct rpc_reader *r)
{
	return r->pos + (r->len - r->off);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Can c be part of a number token (so json-c must see what follows)? */
static bool is_number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

int rpc_reader_push(struct rpc_reader *r, const char *data, size_t len)
{
	size_t need = r->len + len, run = 0;
	char *grown;

	if (need > r->cap) {
		/* Doubling keeps many small pushes linear in total. */
		need = MAX(need, 2 * r->cap);
		grown = realloc(r->buf, need);
		if (!grown)
			return -ENOMEM;
		r->buf = grown;
		r->cap = need;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	/* Keep held equal to the trailing number-like run of [off, len). */
	while (run < len && is_number_char(data[len - 1 - run]))
		run++;
	r->held = run == len ? r->held + len : run;
	return 0;
}

static bool value_is_utf8(struct json_object *val);

static bool object_is_utf8(struct json_object *obj)
{
	json_object_object_foreach(obj, key, member)
	{
		if (!rpc_utf8_is_valid(key, strlen(key)) ||
		    !value_is_utf8(member))
			return false;
	}
	return true;
}

/* Recursion is bounded by the tokener's depth limit. */
static bool value_is_utf8(struct json_object *val)
{
	size_t i, n;

	switch (json_object_get_type(val)) {
	case json_type_string:
		return rpc_utf8_is_valid(json_object_get_string(val),
					 json_object_get_string_len(val));
	case json_type_object:
		return object_is_utf8(val);
	case json_type_array:
		n = json_object_array_length(val);
		for (i = 0; i < n; i++) {
			if (!value_is_utf8(json_object_array_get_idx(val, i)))
				return false;
		}
		return true;
	default:
		return true;
	}
}

static void consume(struct rpc_reader *r, size_t n)
{
	r->off += n;
	r->pos += n;
}

/*
 * Move the unparsed (held back) bytes, and those of a value still being
 * read (its text is wanted once it completes), to the front of the
 * buffer. A value is at most limit bytes, so this stays bounded.
 */
static void compact(struct rpc_reader *r)
{
	size_t keep = r->in_value ? r->vstart : r->off;

	if (!keep)
		return;
	memmove(r->buf, r->buf + keep, r->len - keep);
	r->len -= keep;
	r->off -= keep;
	r->vstart -= keep;
}

/* Skip whitespace before a value; false if nothing else is there. */
static bool value_begin(struct rpc_reader *r)
{
	if (r->in_value)
		return true;
	while (r->off < r->len && is_ws(r->buf[r->off]))
		consume(r, 1);
	if (r->off == r->len)
		return false;
	r->in_value = true;
	r->value_start = r->pos;
	r->vstart = r->off;
	return true;
}

static enum rpc_read_status value_end(struct rpc_reader *r,
				      struct json_object *val,
				      struct json_object **value_out)
{
	consume(r, json_tokener_get_parse_end(r->tok));
	json_tokener_reset(r->tok);
	r->last_start = r->vstart;
	r->last_end = r->off;
	r->in_value = false;
	r->value_bytes = 0;
	if (!value_is_utf8(val)) {
		json_object_put(val);
		return RPC_READ_BAD_UTF8;
	}
	*value_out = val;
	return RPC_READ_VALUE;
}

void rpc_reader_resync(struct rpc_reader *r)
{
	/* Skip from the broken value's first byte (kept since it started),
	 * not from where json-c was fed last: the point where reading
	 * resumes must not depend on how the bytes were split into reads. */
	if (r->in_value) {
		r->pos -= r->off - r->vstart;
		r->off = r->vstart;
	}
	json_tokener_reset(r->tok);
	r->in_value = false;
	r->value_bytes = 0;
	r->skipping = true;
}

/* Drop bytes up to and including a line break; false if none yet. */
static bool skip_line(struct rpc_reader *r)
{
	const char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
	size_t n = nl ? (size_t)(nl - (r->buf + r->off)) + 1 : r->len - r->off;

	consume(r, n);
	/* Held bytes are the trailing ones: gone only if all were dropped. */
	if (r->off == r->len)
		r->held = 0;
	r->skipping = !nl;
	return nl != NULL;
}

enum rpc_read_status rpc_reader_next(struct rpc_reader *r,
				     struct json_object **value_out)
{
	size_t avail, room, n;
	enum json_tokener_error jerr;
	struct json_object *val;

	*value_out = NULL;
	if (r->skipping && !skip_line(r)) {
		compact(r);
		return RPC_READ_MORE;
	}
	while (value_begin(r)) {
		avail = r->len - r->off;
		room = r->limit - r->value_bytes;
		n = MIN(avail - r->held, room);
		if (!n) {
			if (avail > room)
				return RPC_READ_TOO_BIG;
			break; /* only held-back bytes: wait for more */
		}
		val = json_tokener_parse_ex(r->tok, r->buf + r->off, (int)n);
		jerr = json_tokener_get_error(r->tok);
		if (jerr == json_tokener_success)
			return value_end(r, val, value_out);
		if (jerr != json_tokener_continue) {
			snprintf(r->err, sizeof(r->err), "%s",
				 json_tokener_error_desc(jerr));
			return RPC_READ_SYNTAX;
		}
		r->value_bytes += n;
		consume(r, n);
	}
	compact(r);
	return RPC_READ_MORE;
}
