/* Building and checking control-protocol messages (no I/O). */
#include "rpc/proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

/* Longest piece of client text quoted in an error description. */
#define RPC_QUOTE_MAX 64

const char *rpc_err_class_name(enum rpc_err_class cls)
{
	switch (cls) {
	case RPC_ERR_COMMAND_NOT_FOUND:
		return "CommandNotFound";
	case RPC_ERR_DEVICE_NOT_FOUND:
		return "DeviceNotFound";
	case RPC_ERR_DEVICE_NOT_ACTIVE:
		return "DeviceNotActive";
	case RPC_ERR_KVM_MISSING_CAP:
		return "KVMMissingCap";
	case RPC_ERR_GENERIC:
	default:
		return "GenericError";
	}
}

/* Length of the well-formed UTF-8 sequence at s (len bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

bool rpc_utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, seq;

	while (i < len) {
		seq = utf8_seq_len(p + i, len - i);
		if (!seq)
			return false;
		i += seq;
	}
	return true;
}

static char ascii_clean(unsigned char c)
{
	if (c == '\t' || c == '\r' || c == '\n')
		return ' ';
	return (c < 0x20 || c == 0x7f) ? '?' : (char)c;
}

void rpc_sanitize(char *out, size_t max, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0, limit, seq;

	if (!max)
		return;
	/* Cleaning keeps the length, so the text fits or gets "...". */
	limit = len <= max - 1 ? max - 1 : (max > 4 ? max - 4 : 0);
	while (i < len) {
		seq = utf8_seq_len(p + i, len - i);
		if (n + MAX(seq, (size_t)1) > limit)
			break;
		if (seq > 1) {
			memcpy(out + n, p + i, seq);
			n += seq;
			i += seq;
		} else {
			out[n++] = seq ? ascii_clean(p[i]) : '?';
			i++;
		}
	}
	for (seq = 0; i < len && seq < 3 && n < max - 1; seq++)
		out[n++] = '.';
	out[n] = 0;
}

void rpc_desc_quote(char *desc_out, const char *fmt, const char *s)
{
	char quoted[RPC_QUOTE_MAX];

	rpc_sanitize(quoted, sizeof(quoted), s, strlen(s));
	snprintf(desc_out, RPC_DESC_MAX, fmt, quoted);
}

const char *rpc_json_str(struct json_object *o, const char *key,
			 const char *dflt)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
}

static int cmd_check_key(const char *key, struct json_object *val,
			 struct rpc_cmd_msg *cmd, char *desc_out)
{
	if (!strcmp(key, "execute")) {
		if (!json_object_is_type(val, json_type_string)) {
			snprintf(desc_out, RPC_DESC_MAX,
				 "member 'execute' must be a string");
			return -EINVAL;
		}
		cmd->execute = json_object_get_string(val);
		if (strlen(cmd->execute) !=
		    (size_t)json_object_get_string_len(val)) {
			snprintf(desc_out, RPC_DESC_MAX,
				 "member 'execute' contains a NUL character");
			return -EINVAL;
		}
	} else if (!strcmp(key, "arguments")) {
		if (!json_object_is_type(val, json_type_object)) {
			snprintf(desc_out, RPC_DESC_MAX,
				 "member 'arguments' must be an object");
			return -EINVAL;
		}
		cmd->args = val;
	} else if (strcmp(key, "id")) {
		rpc_desc_quote(desc_out,
			       "unknown member '%s' in command message", key);
		return -EINVAL;
	}
	return 0;
}

int rpc_cmd_msg_check(struct json_object *msg, struct rpc_cmd_msg *cmd_out,
		      char *desc_out)
{
	int rc;

	memset(cmd_out, 0, sizeof(*cmd_out));
	if (!json_object_is_type(msg, json_type_object)) {
		snprintf(desc_out, RPC_DESC_MAX,
			 "message is not a JSON object");
		return -EINVAL;
	}
	/* Find the id first so that every error reply can carry it. */
	json_object_object_get_ex(msg, "id", &cmd_out->id);
	json_object_object_foreach(msg, key, val)
	{
		rc = cmd_check_key(key, val, cmd_out, desc_out);
		if (rc)
			return rc;
	}
	if (!cmd_out->execute) {
		snprintf(desc_out, RPC_DESC_MAX,
			 "message has no member 'execute'");
		return -EINVAL;
	}
	return 0;
}

/* ---- the raw text of a command's id ---- */

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && memchr(" \t\r\n", s[i], 4))
		i++;
	return i;
}

/*
 * Bytes taken by the JSON value at s (len bytes, already accepted by
 * json-c, so no checking here): a scalar runs to the next delimiter, a
 * string to its closing quote, an object or array to its matching
 * bracket (brackets inside strings do not count). 0 if it runs off.
 */
static size_t value_span(const char *s, size_t len)
{
	bool in_str = s[0] == '"';
	size_t i = 0, depth = 0;

	if (!in_str && s[0] != '{' && s[0] != '[') {
		while (i < len && !memchr(",]} \t\r\n", s[i], 8))
			i++;
		return i;
	}
	for (i = in_str; i < len; i++) {
		if (in_str && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			in_str = !in_str;
		else if (in_str)
			continue;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if (s[i] == '}' || s[i] == ']')
			depth--;
		if (!in_str && !depth)
			return i + 1;
	}
	return 0;
}

/* Is the string token key (quotes included) the member name "id"? */
static bool key_is_id(const char *key, size_t len)
{
	struct json_tokener *tok;
	struct json_object *k;
	bool yes;

	if (!memchr(key, '\\', len))
		return len == 4 && !memcmp(key, "\"id\"", 4);
	/* Escapes ("\u0069d"): let json-c decode the name. */
	tok = json_tokener_new();
	if (!tok)
		return false;
	k = json_tokener_parse_ex(tok, key, (int)len);
	yes = k && json_object_is_type(k, json_type_string) &&
	      json_object_get_string_len(k) == 2 &&
	      !strcmp(json_object_get_string(k), "id");
	json_object_put(k);
	json_tokener_free(tok);
	return yes;
}

/* The text of the last top-level "id" member of object text (json-c
 * keeps the last of duplicates too); false if there is none. */
static bool find_id_text(const char *s, size_t len, size_t *at, size_t *n)
{
	size_t i = skip_ws(s, len, 0), k, v, vn;
	bool found = false;

	if (i >= len || s[i] != '{')
		return false;
	for (i = skip_ws(s, len, i + 1); i < len && s[i] == '"';) {
		k = value_span(s + i, len - i);
		v = skip_ws(s, len, i + k);
		if (!k || v >= len || s[v] != ':')
			return false;
		v = skip_ws(s, len, v + 1);
		if (v >= len || !(vn = value_span(s + v, len - v)))
			return false;
		if (key_is_id(s + i, k)) {
			*at = v;
			*n = vn;
			found = true;
		}
		i = skip_ws(s, len, v + vn);
		if (i >= len || s[i] != ',')
			break;
		i = skip_ws(s, len, i + 1);
	}
	return found;
}

void rpc_cmd_id_keep_text(struct json_object *msg, const char *text, size_t len)
{
	struct json_object *id;
	size_t at = 0, n = 0, i;
	char *copy;

	/* Only numbers and strings: objects and arrays may be spread over
	 * lines as sent, and a reply is one line. */
	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "id", &id) ||
	    (!json_object_is_type(id, json_type_int) &&
	     !json_object_is_type(id, json_type_double) &&
	     !json_object_is_type(id, json_type_string)))
		return;
	if (!find_id_text(text, len, &at, &n))
		return;
	/* json-c takes raw control bytes in strings: those are re-escaped
	 * (a line break would end the reply early). */
	for (i = at; i < at + n; i++)
		if ((unsigned char)text[i] < 0x20)
			return;
	copy = strndup(text + at, n);
	if (copy)
		json_object_set_serializer(id,
					   json_object_userdata_to_json_string,
					   copy, json_object_free_userdata);
}

/* Add val (taken) to obj under key; releases val if that fails. */
static int obj_add(struct json_object *obj, const char *key,
		   struct json_object *val)
{
	if (!val || json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *version_new(void)
{
	struct json_object *ver = json_object_new_object();
	struct json_object *num = json_object_new_object();
	int rc = 0;

	if (!ver || !num)
		goto err;
	rc |= obj_add(num, "major", json_object_new_int(RPC_VERSION_MAJOR));
	rc |= obj_add(num, "minor", json_object_new_int(RPC_VERSION_MINOR));
	rc |= obj_add(num, "micro", json_object_new_int(RPC_VERSION_MICRO));
	/* QEMU's key, which its tools read; "package" names godwit. */
	rc |= obj_add(ver, "qemu", json_object_get(num));
	rc |= obj_add(ver, "package", json_object_new_string(RPC_PACKAGE));
	if (rc)
		goto err;
	json_object_put(num);
	return ver;

err:
	json_object_put(num);
	json_object_put(ver);
	return NULL;
}

struct json_object *rpc_greeting_new(void)
{
	struct json_object *msg = json_object_new_object();
	struct json_object *qmp = json_object_new_object();
	int rc = 0;

	if (!msg || !qmp)
		goto err;
	rc |= obj_add(qmp, "version", version_new());
	rc |= obj_add(qmp, "capabilities", json_object_new_array());
	rc |= obj_add(msg, "QMP", json_object_get(qmp));
	if (rc)
		goto err;
	json_object_put(qmp);
	return msg;

err:
	json_object_put(qmp);
	json_object_put(msg);
	return NULL;
}

/* Add "id" (borrowed) to msg if the request had one. */
static int add_id(struct json_object *msg, struct json_object *id)
{
	if (!id)
		return 0;
	return obj_add(msg, "id", json_object_get(id));
}

struct json_object *rpc_return_new(struct json_object *ret,
				   struct json_object *id)
{
	struct json_object *msg = json_object_new_object();

	if (!ret)
		ret = json_object_new_object();
	if (!msg) {
		json_object_put(ret);
		return NULL;
	}
	if (obj_add(msg, "return", ret) || add_id(msg, id)) {
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

struct json_object *rpc_error_new(enum rpc_err_class cls, const char *desc,
				  struct json_object *id)
{
	struct json_object *msg = json_object_new_object();
	struct json_object *err = json_object_new_object();
	char clean[RPC_DESC_MAX];
	int rc = 0;

	if (!msg || !err)
		goto err;
	rc |= obj_add(err, "class",
		      json_object_new_string(rpc_err_class_name(cls)));
	rpc_sanitize(clean, sizeof(clean), desc, strlen(desc));
	rc |= obj_add(err, "desc", json_object_new_string(clean));
	rc |= obj_add(msg, "error", json_object_get(err));
	rc |= add_id(msg, id);
	if (rc)
		goto err;
	json_object_put(err);
	return msg;

err:
	json_object_put(err);
	json_object_put(msg);
	return NULL;
}

static struct json_object *timestamp_new(uint64_t now_ns)
{
	struct json_object *ts = json_object_new_object();
	int rc = 0;

	if (!ts)
		return NULL;
	rc |= obj_add(ts, "seconds",
		      json_object_new_int64((int64_t)(now_ns / NSEC_PER_SEC)));
	rc |= obj_add(ts, "microseconds",
		      json_object_new_int64((int64_t)(now_ns % NSEC_PER_SEC /
						      NSEC_PER_USEC)));
	if (rc) {
		json_object_put(ts);
		return NULL;
	}
	return ts;
}

struct json_object *rpc_event_new(const char *name, struct json_object *data,
				  uint64_t now_ns)
{
	struct json_object *msg = json_object_new_object();
	int rc = 0;

	if (!msg) {
		json_object_put(data);
		return NULL;
	}
	rc |= obj_add(msg, "event", json_object_new_string(name));
	if (data)
		rc |= obj_add(msg, "data", data);
	rc |= obj_add(msg, "timestamp", timestamp_new(now_ns));
	if (rc) {
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

/* args borrowed, may be NULL; id is the numeric "id". */
static struct json_object *command_new(const char *execute,
				       struct json_object *args, uint64_t id)
{
	struct json_object *msg = json_object_new_object();
	int rc = 0;

	if (!msg)
		return NULL;
	rc |= obj_add(msg, "execute", json_object_new_string(execute));
	if (args)
		rc |= obj_add(msg, "arguments", json_object_get(args));
	rc |= obj_add(msg, "id", json_object_new_uint64(id));
	if (rc) {
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

int rpc_msg_serialize(struct json_object *msg, char **buf_out, size_t *len_out)
{
	const char *text;
	size_t len;
	char *buf;

	text = json_object_to_json_string_length(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);
	if (!text)
		return -ENOMEM;
	if (len + 2 > RPC_MSG_MAX)
		return -EMSGSIZE;
	buf = malloc(len + 2);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, len);
	buf[len] = '\r';
	buf[len + 1] = '\n';
	*buf_out = buf;
	*len_out = len + 2;
	return 0;
}

int rpc_command_serialize(const char *execute, struct json_object *args,
			  uint64_t id, char **buf_out, size_t *len_out)
{
	struct json_object *msg = command_new(execute, args, id);
	int rc;

	if (!msg)
		return -ENOMEM;
	rc = rpc_msg_serialize(msg, buf_out, len_out);
	json_object_put(msg);
	return rc;
}
