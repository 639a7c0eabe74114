/* The registry's state file: struct dom_record as JSON and back. */
#include "toolstack/daemon/statefile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static const char *const rec_state_names[] = {
	[REC_STARTING] = "starting", [REC_RUNNING] = "running",
	[REC_SHUTDOWN] = "shutdown", [REC_CRASHED] = "crashed",
	[REC_DYING] = "dying",	     [REC_INCOMING] = "incoming",
};

static const char *const origin_names[] = {
	[ORIGIN_CREATE] = "create",
	[ORIGIN_RESTORE] = "restore",
	[ORIGIN_MIGRATION] = "migration",
};

const char *state_rec_state_name(enum rec_state s)
{
	return (unsigned int)s < ARRAY_SIZE(rec_state_names) ?
		       rec_state_names[s] :
		       "?";
}

const char *state_origin_name(enum dom_origin o)
{
	return (unsigned int)o < ARRAY_SIZE(origin_names) ? origin_names[o] :
							    "?";
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

/* Members only some records have; absent means 0 or "". */
static void add_optional(struct json_object *o, const struct dom_record *r)
{
	char hex[24];

	if (r->arrival_id) {
		snprintf(hex, sizeof(hex), "%016llx",
			 (unsigned long long)r->arrival_id);
		add_str(o, "arrival-id", hex);
	}
	if (r->outcome_file[0])
		add_str(o, "outcome-file", r->outcome_file);
	if (r->resume)
		json_object_object_add(o, "resume",
				       json_object_new_boolean(true));
	if (r->mem_bytes)
		json_object_object_add(
			o, "mem-bytes",
			json_object_new_int64((int64_t)r->mem_bytes));
	if (r->home[0])
		add_str(o, "home", r->home);
}

int state_format(const struct dom_record *r, char **text_out)
{
	struct json_object *o = json_object_new_object();
	const char *s;
	char *text;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "version",
			       json_object_new_int(STATE_VERSION));
	json_object_object_add(o, "domid", json_object_new_int64(r->domid));
	add_str(o, "name", r->name);
	add_str(o, "uuid", r->uuid);
	add_str(o, "state", state_rec_state_name(r->state));
	add_str(o, "origin", state_origin_name(r->origin));
	json_object_object_add(o, "pid", json_object_new_int(r->pid));
	add_str(o, "qmp", r->qmp);
	add_str(o, "exit-file", r->exit_file);
	add_str(o, "console", r->console);
	add_str(o, "peer", r->peer);
	json_object_object_add(o, "created",
			       json_object_new_int64((int64_t)r->created));
	add_str(o, "reason", r->reason);
	add_optional(o, r);
	s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	text = s ? malloc(strlen(s) + 2) : NULL;
	if (text)
		sprintf(text, "%s\n", s);
	json_object_put(o);
	if (!text)
		return -ENOMEM;
	*text_out = text;
	return 0;
}

/* A string member into buf; required members must be there. */
static int get_str(struct json_object *o, const char *key, char *buf,
		   size_t size, bool required, char *why, size_t whylen)
{
	struct json_object *v;
	const char *s;

	buf[0] = 0;
	if (!json_object_object_get_ex(o, key, &v)) {
		if (!required)
			return 0;
		snprintf(why, whylen, "'%s' is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen, "'%s' is not a string", key);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if (strlen(s) >= size ||
	    strlen(s) != (size_t)json_object_get_string_len(v)) {
		snprintf(why, whylen, "'%s' is too long or holds a NUL", key);
		return -EINVAL;
	}
	strcpy(buf, s);
	return 0;
}

static int get_int(struct json_object *o, const char *key, int64_t min,
		   int64_t max, int64_t *out, char *why, size_t whylen)
{
	struct json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < min || json_object_get_int64(v) > max) {
		snprintf(why, whylen, "'%s' is not an integer in range", key);
		return -EINVAL;
	}
	*out = json_object_get_int64(v);
	return 0;
}

static int get_word(struct json_object *o, const char *key,
		    const char *const *names, size_t n, int *out, char *why,
		    size_t whylen)
{
	char word[32];
	size_t i;
	int rc;

	rc = get_str(o, key, word, sizeof(word), true, why, whylen);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (names[i] && !strcmp(word, names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	snprintf(why, whylen, "'%s' has an unknown value '%s'", key, word);
	return -EINVAL;
}

static int parse_members(struct json_object *o, struct dom_record *r, char *why,
			 size_t whylen)
{
	int64_t version, domid, pid, created;
	int st, origin;
	int rc;

	if (!json_object_object_get_ex(o, "version", NULL)) {
		snprintf(why, whylen, "'version' is missing");
		return -EINVAL;
	}
	rc = get_int(o, "version", 1, STATE_VERSION, &version, why, whylen);
	if (!rc)
		rc = get_int(o, "domid", 0, INT32_MAX, &domid, why, whylen);
	if (!rc)
		rc = get_int(o, "pid", 0, INT32_MAX, &pid, why, whylen);
	if (!rc)
		rc = get_int(o, "created", 0, INT64_MAX, &created, why, whylen);
	if (!rc)
		rc = get_word(o, "state", rec_state_names,
			      ARRAY_SIZE(rec_state_names), &st, why, whylen);
	if (!rc)
		rc = get_word(o, "origin", origin_names,
			      ARRAY_SIZE(origin_names), &origin, why, whylen);
	if (!rc)
		rc = get_str(o, "name", r->name, sizeof(r->name), false, why,
			     whylen);
	if (!rc)
		rc = get_str(o, "uuid", r->uuid, sizeof(r->uuid), false, why,
			     whylen);
	if (!rc)
		rc = get_str(o, "qmp", r->qmp, sizeof(r->qmp), true, why,
			     whylen);
	if (!rc)
		rc = get_str(o, "exit-file", r->exit_file, sizeof(r->exit_file),
			     true, why, whylen);
	if (!rc)
		rc = get_str(o, "console", r->console, sizeof(r->console),
			     false, why, whylen);
	if (!rc)
		rc = get_str(o, "peer", r->peer, sizeof(r->peer), false, why,
			     whylen);
	if (!rc)
		rc = get_str(o, "reason", r->reason, sizeof(r->reason), false,
			     why, whylen);
	if (rc)
		return rc;
	r->domid = domid;
	r->pid = pid;
	r->created = created;
	r->state = st;
	r->origin = origin;
	return 0;
}

/* "arrival-id": 16 lowercase hex digits, not all zero. */
static int get_arrival_id(struct json_object *o, uint64_t *out, char *why,
			  size_t whylen)
{
	char hex[24], *end;
	int rc;

	rc = get_str(o, "arrival-id", hex, sizeof(hex), false, why, whylen);
	if (rc || !hex[0])
		return rc;
	*out = strtoull(hex, &end, 16);
	if (strlen(hex) != 16 || *end || !*out ||
	    strspn(hex, "0123456789abcdef") != 16) {
		snprintf(why, whylen,
			 "'arrival-id' is not 16 lowercase hex digits");
		return -EINVAL;
	}
	return 0;
}

static int parse_optional(struct json_object *o, struct dom_record *r,
			  char *why, size_t whylen)
{
	struct json_object *v;
	int64_t mem;
	int rc;

	rc = get_arrival_id(o, &r->arrival_id, why, whylen);
	if (!rc)
		rc = get_str(o, "outcome-file", r->outcome_file,
			     sizeof(r->outcome_file), false, why, whylen);
	if (!rc)
		rc = get_str(o, "home", r->home, sizeof(r->home), false, why,
			     whylen);
	if (!rc)
		rc = get_int(o, "mem-bytes", 0, INT64_MAX, &mem, why, whylen);
	if (rc)
		return rc;
	r->mem_bytes = mem;
	if (json_object_object_get_ex(o, "resume", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, whylen, "'resume' is not a boolean");
			return -EINVAL;
		}
		r->resume = json_object_get_boolean(v);
	}
	return 0;
}

/* A registered domain must have a name and a well-formed uuid. */
static int check_identity(const struct dom_record *r, char *why, size_t whylen)
{
	uint8_t uuid[16];

	if (r->state == REC_INCOMING)
		return 0;
	if (!r->name[0] || !r->domid) {
		snprintf(why, whylen,
			 "a registered domain needs a name and a domid");
		return -EINVAL;
	}
	if (domain_config_uuid_parse(r->uuid, uuid)) {
		snprintf(why, whylen, "'uuid' is not a UUID");
		return -EINVAL;
	}
	return 0;
}

int state_parse(const char *text, size_t len, struct dom_record *r_out,
		char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *o;
	struct dom_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (len > STATE_FILE_MAX || memchr(text, 0, len)) {
		snprintf(why, whylen,
			 "not a state file (too large, or binary)");
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		rc = -EINVAL;
	} else {
		rc = parse_members(o, &r, why, whylen);
		if (!rc)
			rc = parse_optional(o, &r, why, whylen);
		if (!rc)
			rc = check_identity(&r, why, whylen);
	}
	json_object_put(o);
	json_tokener_free(tok);
	if (!rc)
		*r_out = r;
	return rc;
}
