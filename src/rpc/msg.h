/*
 * The control protocol's messages as C structs. Each message (a
 * command's arguments, an answer, an event's data) is one struct that a
 * table of fields describes (struct rpc_msg_type); the one codec here
 * turns any of them into JSON and back. The tables, with every default
 * and range, live in msg_*.c, one file per subject, and every party uses
 * them: the CLI (through the client library), godwitd, the VMM and the
 * library. So a message is defined once, and its limits are the same
 * wherever it is read.
 *
 * Decoding checks each member's type and range and names the first
 * problem in one line ("migrate: 'max-rounds' must be an integer from 1
 * to 10000"). Commands' arguments are strict: an unknown member is an
 * error, as in QMP. Answers and events are lenient: unknown members are
 * ignored and missing ones keep their defaults, so a newer peer may add
 * members. No I/O here; the fuzz target tests/fuzz/rpc/fuzz_msg.c runs
 * every decoder.
 */
#ifndef GODWIT_RPC_MSG_H
#define GODWIT_RPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"

/* Longest "why" a decoder writes, NUL included (fits an error reply). */
#define RPC_MSG_WHY_MAX 256

enum rpc_field_kind {
	RPC_F_STR, /* char[size]: NUL-free, shorter than size */
	RPC_F_TEXT, /* const char *: borrowed from the decoded object */
	RPC_F_BOOL, /* bool */
	RPC_F_INT, /* int64_t in [min, max] */
	RPC_F_NUM, /* double: any finite number (times, rates) */
	RPC_F_ENUM, /* int: index into names, a string on the wire */
	RPC_F_OBJECT, /* a nested message of type sub */
	RPC_F_LIST, /* sub[max] at off, the count (size_t) at count_off */
	RPC_F_TEXT_LIST, /* const char *[max] (borrowed), count at count_off */
};

/* Field flags. */
#define RPC_F_REQUIRED 0x1u /* decoding: an error when missing */
#define RPC_F_OPTIONAL 0x2u /* has_off's bool says it is there */
#define RPC_F_OMIT_EMPTY 0x4u /* STR, TEXT: "" or NULL is not encoded */
#define RPC_F_DECODE_ONLY 0x8u /* read (an older spelling), never written */

struct rpc_msg_type;

/* One member of a message. Tables are built with the RPC_FIELD_* macros. */
struct rpc_field {
	const char *key; /* the JSON member's name */
	enum rpc_field_kind kind;
	unsigned int flags;
	size_t off; /* of the value in the struct */
	size_t size; /* STR: the buffer; LIST: one element */
	int64_t min, max; /* INT: range; LIST, TEXT_LIST: max is the count */
	int64_t dflt; /* INT, BOOL, ENUM: the default */
	size_t has_off; /* OPTIONAL: bool set when present */
	size_t count_off; /* LIST, TEXT_LIST: size_t count */
	const char *const *names; /* ENUM: NULL-terminated wire names */
	const struct rpc_msg_type *sub; /* OBJECT, LIST */
};

struct rpc_msg_type {
	const char *name; /* in errors: the command, answer or event */
	const struct rpc_field *fields;
	size_t nr_fields;
	size_t size; /* of the struct */
	bool strict; /* unknown members are errors (commands) */
	/*
	 * Rules between members, run after decoding and by rpc_msg_check;
	 * may derive members (e.g. the canonical form of an address). 0 or
	 * -EINVAL with why. NULL: none.
	 */
	int (*check)(void *msg, char *why, size_t whylen);
};

/* Set every member of msg to its default (zero, "", NULL unless said). */
void rpc_msg_init(const struct rpc_msg_type *t, void *msg);

/*
 * Decode o (borrowed; NULL reads as {}) into msg (initialised here).
 * TEXT members point into o: msg is valid as long as o is. 0, or
 * -EINVAL with why ("NAME: 'key' ...", at most whylen bytes).
 */
int rpc_msg_decode(const struct rpc_msg_type *t, struct json_object *o,
		   void *msg, char *why, size_t whylen) __must_check;

/*
 * Check a message filled by hand before it is sent: every range, and
 * the type's own rules (which may canonicalise members). 0 or -EINVAL.
 */
int rpc_msg_check(const struct rpc_msg_type *t, void *msg, char *why,
		  size_t whylen) __must_check;

/* msg as a new JSON object (caller owns); NULL only when out of memory. */
struct json_object *rpc_msg_encode(const struct rpc_msg_type *t,
				   const void *msg);

/* Are two messages of type t equal member by member (tests, fuzzing)? */
bool rpc_msg_equal(const struct rpc_msg_type *t, const void *a, const void *b);

/* The wire name of value v of an ENUM field's names ("" if out of range). */
const char *rpc_msg_enum_name(const char *const *names, int v);

/*
 * Where a relayed event came from: godwitd adds the domain's name and
 * id to every VMM event it passes on. domid is -1 on a VM's own socket.
 */
struct rpc_event_origin {
	char domain[64];
	int64_t domid;
};
void rpc_event_origin_get(struct json_object *data,
			  struct rpc_event_origin *out);
/* Name the origin in data (an object): what godwitd adds. */
void rpc_event_origin_set(struct json_object *data,
			  const struct rpc_event_origin *in);

/* Table builders: S is the struct, M the member. */
#define RPC_FIELD_STR(k, S, M, fl)                                 \
	{                                                          \
		.key = (k), .kind = RPC_F_STR, .flags = (fl),      \
		.off = offsetof(S, M), .size = sizeof(((S *)0)->M) \
	}
#define RPC_FIELD_TEXT(k, S, M, fl)                            \
	{                                                      \
		.key = (k), .kind = RPC_F_TEXT, .flags = (fl), \
		.off = offsetof(S, M)                          \
	}
#define RPC_FIELD_BOOL(k, S, M, fl, d)                         \
	{                                                      \
		.key = (k), .kind = RPC_F_BOOL, .flags = (fl), \
		.off = offsetof(S, M), .dflt = (d)             \
	}
#define RPC_FIELD_INT(k, S, M, fl, lo, hi, d)                                \
	{                                                                    \
		.key = (k), .kind = RPC_F_INT, .flags = (fl),                \
		.off = offsetof(S, M), .min = (lo), .max = (hi), .dflt = (d) \
	}
#define RPC_FIELD_NUM(k, S, M, fl)                            \
	{                                                     \
		.key = (k), .kind = RPC_F_NUM, .flags = (fl), \
		.off = offsetof(S, M)                         \
	}
#define RPC_FIELD_ENUM(k, S, M, fl, nm, d)                        \
	{                                                         \
		.key = (k), .kind = RPC_F_ENUM, .flags = (fl),    \
		.off = offsetof(S, M), .names = (nm), .dflt = (d) \
	}
#define RPC_FIELD_OBJECT(k, S, M, fl, st)                        \
	{                                                        \
		.key = (k), .kind = RPC_F_OBJECT, .flags = (fl), \
		.off = offsetof(S, M), .sub = (st)               \
	}
#define RPC_FIELD_LIST(k, S, M, N, fl, st)                             \
	{                                                              \
		.key = (k), .kind = RPC_F_LIST, .flags = (fl),         \
		.off = offsetof(S, M), .size = sizeof(((S *)0)->M[0]), \
		.max = (int64_t)(sizeof(((S *)0)->M) /                 \
				 sizeof(((S *)0)->M[0])),              \
		.count_off = offsetof(S, N), .sub = (st)               \
	}
#define RPC_FIELD_TEXT_LIST(k, S, M, N, fl)                         \
	{                                                           \
		.key = (k), .kind = RPC_F_TEXT_LIST, .flags = (fl), \
		.off = offsetof(S, M),                              \
		.max = (int64_t)(sizeof(((S *)0)->M) /              \
				 sizeof(((S *)0)->M[0])),           \
		.count_off = offsetof(S, N)                         \
	}
/* Optional members: the bool member H of S says whether it is there. */
#define RPC_FIELD_OPT_INT(k, S, M, H, lo, hi)                           \
	{                                                               \
		.key = (k), .kind = RPC_F_INT, .flags = RPC_F_OPTIONAL, \
		.off = offsetof(S, M), .min = (lo), .max = (hi),        \
		.has_off = offsetof(S, H)                               \
	}
#define RPC_FIELD_OPT_NUM(k, S, M, H)                                   \
	{                                                               \
		.key = (k), .kind = RPC_F_NUM, .flags = RPC_F_OPTIONAL, \
		.off = offsetof(S, M), .has_off = offsetof(S, H)        \
	}
#define RPC_FIELD_OPT_OBJECT(k, S, M, H, st)                                  \
	{                                                                     \
		.key = (k), .kind = RPC_F_OBJECT, .flags = RPC_F_OPTIONAL,    \
		.off = offsetof(S, M), .sub = (st), .has_off = offsetof(S, H) \
	}

#define RPC_MSG_TYPE(nm, S, tbl, strict_, check_)                            \
	{                                                                    \
		.name = (nm), .fields = (tbl), .nr_fields = ARRAY_SIZE(tbl), \
		.size = sizeof(S), .strict = (strict_), .check = (check_)    \
	}

#endif
