/*
 * The godwit control protocol on the wire: QMP's shape, JSON objects over
 * a unix stream socket. No I/O here: constants, error classes, building
 * messages and checking commands, shared by server, client and fuzzer.
 *
 *   server -> client  greeting  {"QMP": {"version": {...}, "capabilities": []}}
 *   client -> server  command   {"execute": NAME, "arguments": {...}, "id": ANY}
 *   server -> client  return    {"return": VALUE, "id": ANY}
 *                     error     {"error": {"class": C, "desc": D}, "id": ANY}
 *                     event     {"event": NAME, "data": {...},
 *                                "timestamp": {"seconds": S, "microseconds": US}}
 *
 * The server ends each message with "\r\n". The client may send objects
 * back to back with or without whitespace between them. No message in
 * either direction may exceed RPC_MSG_MAX bytes.
 */
#ifndef GODWIT_RPC_PROTO_H
#define GODWIT_RPC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"

#define RPC_VERSION_MAJOR 0
#define RPC_VERSION_MINOR 1
#define RPC_VERSION_MICRO 0
#define RPC_PACKAGE "godwit " GODWIT_VERSION

/* Hard limit on one message, either direction, in bytes. */
#define RPC_MSG_MAX (1 * MIB)
/* Longest error description, terminating NUL included. */
#define RPC_DESC_MAX 256
/* Longest error class name, terminating NUL included. */
#define RPC_CLASS_MAX 32

/* Error classes; QMP's names on the wire (rpc_err_class_name). */
enum rpc_err_class {
	RPC_ERR_GENERIC, /* GenericError: anything without its own class */
	RPC_ERR_COMMAND_NOT_FOUND, /* CommandNotFound */
	RPC_ERR_DEVICE_NOT_FOUND, /* DeviceNotFound */
	RPC_ERR_DEVICE_NOT_ACTIVE, /* DeviceNotActive */
	RPC_ERR_KVM_MISSING_CAP, /* KVMMissingCap */
};

/* A command's parts, borrowed from the message they were checked in. */
struct rpc_cmd_msg {
	const char *execute; /* command name, NUL-free */
	struct json_object *args; /* "arguments", or NULL if absent */
	struct json_object *id; /* "id", or NULL if absent */
};

const char *rpc_err_class_name(enum rpc_err_class cls);

/*
 * Check that msg (borrowed) is a well-formed command and point cmd_out's
 * members into it. On -EINVAL desc_out (RPC_DESC_MAX bytes) names the
 * problem; cmd_out->id is set whenever msg is an object with an "id", so
 * the error reply can carry it.
 */
int rpc_cmd_msg_check(struct json_object *msg, struct rpc_cmd_msg *cmd_out,
		      char *desc_out) __must_check;

/*
 * Make the command msg's "id" (if it is a number or a string) serialize
 * back exactly as the client wrote it: text (len bytes) is msg as
 * received. json-c clamps integers beyond 64 bits, writes -0 as 0 and
 * re-escapes strings; a client must get back the id it sent, byte for
 * byte. The text must be the one json-c accepted (it is not validated
 * again here).
 */
void rpc_cmd_id_keep_text(struct json_object *msg, const char *text,
			  size_t len);

/*
 * Message builders. Each returns a new object (caller owns one reference)
 * or NULL when out of memory. Arguments: strings are copied; json values
 * marked "taken" are owned by the result afterwards (also on failure, when
 * they are released); "borrowed" ones get their own reference.
 */
struct json_object *rpc_greeting_new(void);
/* ret taken (NULL means {}); id borrowed, may be NULL. */
struct json_object *rpc_return_new(struct json_object *ret,
				   struct json_object *id);
/* desc is sanitized (rpc_sanitize); id borrowed, may be NULL. */
struct json_object *rpc_error_new(enum rpc_err_class cls, const char *desc,
				  struct json_object *id);
/* data taken, may be NULL (no "data" member); now_ns is CLOCK_REALTIME. */
struct json_object *rpc_event_new(const char *name, struct json_object *data,
				  uint64_t now_ns);

/*
 * Serialize msg (borrowed) as compact JSON followed by "\r\n" into a new
 * malloc'd buffer (*buf_out, caller frees; *len_out excludes no byte).
 * -EMSGSIZE if longer than RPC_MSG_MAX, -ENOMEM.
 */
int rpc_msg_serialize(struct json_object *msg, char **buf_out,
		      size_t *len_out) __must_check;
/*
 * A command message serialized as rpc_msg_serialize() does (the "\r\n"
 * included): *buf_out is malloc()ed. -ENOMEM or its errors.
 */
int rpc_command_serialize(const char *execute, struct json_object *args,
			  uint64_t id, char **buf_out,
			  size_t *len_out) __must_check;

/*
 * The string member key of object o (borrowed, may be NULL), or dflt when
 * o is NULL or its key is missing or not a string: for reading messages.
 */
const char *rpc_json_str(struct json_object *o, const char *key,
			 const char *dflt);

/* Is s (len bytes) well-formed UTF-8? */
bool rpc_utf8_is_valid(const char *s, size_t len);

/*
 * Copy untrusted text s (len bytes, may hold NULs and invalid UTF-8) into
 * out (max bytes) as one printable line of valid UTF-8: tabs and line
 * breaks become spaces, other control bytes and malformed UTF-8 '?'; text
 * that does not fit is cut between characters and ends in "...". Every
 * error description goes through this (rpc_error_new does it).
 */
void rpc_sanitize(char *out, size_t max, const char *s, size_t len);
/*
 * An error description (RPC_DESC_MAX bytes) that quotes client text s:
 * fmt with one %s, which gets s sanitized and cut to a short piece.
 */
void rpc_desc_quote(char *desc_out, const char *fmt, const char *s);

#endif
