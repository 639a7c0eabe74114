/*
 * The message codec: one table-driven decoder, checker and encoder for
 * every message of the control protocol (msg.h). Each field kind has a
 * decode and an encode function; members are found by key, checked for
 * type and range, and stored at their offset in the message struct.
 */
#include "rpc/msg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/why.h"

#define FIELD(msg, f, type) ((type *)((char *)(msg) + (f)->off))
#define CFIELD(msg, f, type) ((const type *)((const char *)(msg) + (f)->off))

/* A TEXT member: FIELD() and CFIELD() take a type name. */
typedef const char *text_ptr;

const char *rpc_msg_enum_name(const char *const *names, int v)
{
	int i;

	for (i = 0; names[i]; i++)
		if (i == v)
			return names[i];
	return "";
}

static void set_has(const struct rpc_field *f, void *msg, bool has)
{
	if (f->flags & RPC_F_OPTIONAL)
		*(bool *)((char *)msg + f->has_off) = has;
}

static bool get_has(const struct rpc_field *f, const void *msg)
{
	if (!(f->flags & RPC_F_OPTIONAL))
		return true;
	return *(const bool *)((const char *)msg + f->has_off);
}

void rpc_msg_init(const struct rpc_msg_type *t, void *msg)
{
	const struct rpc_field *f;
	size_t i;

	memset(msg, 0, t->size);
	for (i = 0; i < t->nr_fields; i++) {
		f = &t->fields[i];
		if (f->kind == RPC_F_INT)
			*FIELD(msg, f, int64_t) = f->dflt;
		else if (f->kind == RPC_F_BOOL)
			*FIELD(msg, f, bool) = f->dflt;
		else if (f->kind == RPC_F_ENUM)
			*FIELD(msg, f, int) = (int)f->dflt;
		else if (f->kind == RPC_F_OBJECT)
			rpc_msg_init(f->sub, FIELD(msg, f, char));
	}
}

/* ---- decoding: one function per kind, v is the member (not NULL) ---- */

struct dec {
	const struct rpc_msg_type *t;
	const struct rpc_field *f;
	char *why;
	size_t whylen;
};

static int bad(const struct dec *d, const char *fmt, const char *what)
{
	char part[160];

	snprintf(part, sizeof(part), fmt, what);
	return why_set(d->why, d->whylen, -EINVAL, "%s: '%s' %s", d->t->name,
		       d->f->key, part);
}

static int dec_str(const struct dec *d, struct json_object *v, void *msg)
{
	const char *s = json_object_get_string(v);
	size_t len = json_object_get_string_len(v);
	char max[24];

	if (!json_object_is_type(v, json_type_string))
		return bad(d, "must be a string%s", "");
	if (memchr(s, 0, len))
		return bad(d, "holds a NUL byte%s", "");
	if (!len && (d->f->flags & RPC_F_REQUIRED))
		return bad(d, "must not be empty%s", "");
	if (d->f->kind == RPC_F_TEXT) {
		*FIELD(msg, d->f, const char *) = s;
		return 0;
	}
	if (len >= d->f->size) {
		snprintf(max, sizeof(max), "%zu", d->f->size - 1);
		return bad(d, "is longer than %s bytes", max);
	}
	memcpy(FIELD(msg, d->f, char), s, len + 1);
	return 0;
}

static int dec_int(const struct dec *d, struct json_object *v, void *msg)
{
	char range[64];
	int64_t n;

	n = json_object_get_int64(v);
	if (json_object_is_type(v, json_type_int) && n >= d->f->min &&
	    n <= d->f->max) {
		*FIELD(msg, d->f, int64_t) = n;
		return 0;
	}
	snprintf(range, sizeof(range), "%lld to %lld", (long long)d->f->min,
		 (long long)d->f->max);
	return bad(d, "must be an integer from %s", range);
}

static int dec_num(const struct dec *d, struct json_object *v, void *msg)
{
	double x = json_object_get_double(v);

	if ((!json_object_is_type(v, json_type_double) &&
	     !json_object_is_type(v, json_type_int)) ||
	    !isfinite(x))
		return bad(d, "must be a number%s", "");
	*FIELD(msg, d->f, double) = x;
	return 0;
}

static int dec_bool(const struct dec *d, struct json_object *v, void *msg)
{
	if (!json_object_is_type(v, json_type_boolean))
		return bad(d, "must be true or false%s", "");
	*FIELD(msg, d->f, bool) = json_object_get_boolean(v);
	return 0;
}

static int dec_enum(const struct dec *d, struct json_object *v, void *msg)
{
	const char *s = json_object_get_string(v);
	char list[128] = "";
	size_t n = 0;
	int i;

	for (i = 0; json_object_is_type(v, json_type_string) && d->f->names[i];
	     i++) {
		if (!strcmp(s, d->f->names[i])) {
			*FIELD(msg, d->f, int) = i;
			return 0;
		}
	}
	for (i = 0; d->f->names[i] && n < sizeof(list); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
			      i ? (d->f->names[i + 1] ? ", " : " or ") : "",
			      d->f->names[i]);
	return bad(d, "must be %s", list);
}

static int decode_into(const struct rpc_msg_type *t, struct json_object *o,
		       void *msg, char *why, size_t whylen);

/* A nested message's problem, named under its parent's key. */
static int dec_sub(const struct dec *d, struct json_object *v, void *elem,
		   int index)
{
	char sub[RPC_MSG_WHY_MAX];
	int rc;

	rc = decode_into(d->f->sub, v, elem, sub, sizeof(sub));
	if (!rc)
		return 0;
	if (index < 0)
		return why_set(d->why, d->whylen, rc, "%s: '%s': %s",
			       d->t->name, d->f->key, sub);
	return why_set(d->why, d->whylen, rc, "%s: '%s'[%d]: %s", d->t->name,
		       d->f->key, index, sub);
}

static int dec_object(const struct dec *d, struct json_object *v, void *msg)
{
	if (!json_object_is_type(v, json_type_object))
		return bad(d, "must be an object%s", "");
	return dec_sub(d, v, FIELD(msg, d->f, char), -1);
}

static int dec_list(const struct dec *d, struct json_object *v, void *msg)
{
	struct json_object *item;
	size_t n = 0, i;
	char max[64];
	int rc;

	if (json_object_is_type(v, json_type_array))
		n = json_object_array_length(v);
	snprintf(max, sizeof(max), "%lld", (long long)d->f->max);
	if (!json_object_is_type(v, json_type_array) || n > (size_t)d->f->max)
		return bad(d, "must be a list of at most %s items", max);
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(v, i);
		if (d->f->kind == RPC_F_TEXT_LIST) {
			if (!json_object_is_type(item, json_type_string) ||
			    memchr(json_object_get_string(item), 0,
				   json_object_get_string_len(item)))
				return bad(d, "must be a list of strings%s",
					   "");
			FIELD(msg, d->f, const char *)
			[i] = json_object_get_string(item);
			continue;
		}
		if (!json_object_is_type(item, json_type_object))
			return bad(d, "must be a list of objects%s", "");
		rc = dec_sub(d, item, FIELD(msg, d->f, char) + i * d->f->size,
			     (int)i);
		if (rc)
			return rc;
	}
	*(size_t *)((char *)msg + d->f->count_off) = n;
	return 0;
}

static int decode_field(const struct dec *d, struct json_object *v, void *msg)
{
	switch (d->f->kind) {
	case RPC_F_STR:
	case RPC_F_TEXT:
		return dec_str(d, v, msg);
	case RPC_F_BOOL:
		return dec_bool(d, v, msg);
	case RPC_F_INT:
		return dec_int(d, v, msg);
	case RPC_F_NUM:
		return dec_num(d, v, msg);
	case RPC_F_ENUM:
		return dec_enum(d, v, msg);
	case RPC_F_OBJECT:
		return dec_object(d, v, msg);
	case RPC_F_LIST:
	case RPC_F_TEXT_LIST:
		return dec_list(d, v, msg);
	}
	return -EINVAL;
}

static bool is_known(const struct rpc_msg_type *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nr_fields; i++)
		if (!strcmp(t->fields[i].key, key))
			return true;
	return false;
}

static int decode_into(const struct rpc_msg_type *t, struct json_object *o,
		       void *msg, char *why, size_t whylen)
{
	struct dec d = { .t = t, .why = why, .whylen = whylen };
	struct json_object *v;
	size_t i;
	int rc;

	rpc_msg_init(t, msg);
	if (o && !json_object_is_type(o, json_type_object))
		return why_set(why, whylen, -EINVAL, "%s: not an object",
			       t->name);
	for (i = 0; i < t->nr_fields; i++) {
		d.f = &t->fields[i];
		if (!o || !json_object_object_get_ex(o, d.f->key, &v)) {
			if (d.f->flags & RPC_F_REQUIRED)
				return bad(&d, "is required%s", "");
			continue;
		}
		rc = decode_field(&d, v, msg);
		if (rc)
			return rc;
		set_has(d.f, msg, true);
	}
	if (t->strict && o) {
		json_object_object_foreach(o, key, val)
		{
			(void)val;
			if (!is_known(t, key))
				return why_set(why, whylen, -EINVAL,
					       "%s: unknown member '%.64s'",
					       t->name, key);
		}
	}
	return t->check ? t->check(msg, why, whylen) : 0;
}

int rpc_msg_decode(const struct rpc_msg_type *t, struct json_object *o,
		   void *msg, char *why, size_t whylen)
{
	return decode_into(t, o, msg, why, whylen);
}

/* ---- checking a message filled by hand ---- */

static int check_field(const struct dec *d, const void *msg)
{
	const struct rpc_field *f = d->f;
	const char *s;
	int64_t n;

	switch (f->kind) {
	case RPC_F_STR:
		if (!memchr(CFIELD(msg, f, char), 0, f->size))
			return bad(d, "is not terminated%s", "");
		if ((f->flags & RPC_F_REQUIRED) && !*CFIELD(msg, f, char))
			return bad(d, "must not be empty%s", "");
		return 0;
	case RPC_F_TEXT:
		s = *CFIELD(msg, f, text_ptr);
		if ((f->flags & RPC_F_REQUIRED) && (!s || !*s))
			return bad(d, "must not be empty%s", "");
		return 0;
	case RPC_F_INT:
		n = *CFIELD(msg, f, int64_t);
		if (get_has(f, msg) && (n < f->min || n > f->max)) {
			char range[64];

			snprintf(range, sizeof(range), "%lld to %lld",
				 (long long)f->min, (long long)f->max);
			return bad(d, "must be an integer from %s", range);
		}
		return 0;
	case RPC_F_ENUM:
		if (!*rpc_msg_enum_name(f->names, *CFIELD(msg, f, int)))
			return bad(d, "has no name for its value%s", "");
		return 0;
	case RPC_F_LIST:
	case RPC_F_TEXT_LIST:
		if (*(const size_t *)((const char *)msg + f->count_off) >
		    (size_t)f->max)
			return bad(d, "has too many items%s", "");
		return 0;
	default:
		return 0;
	}
}

int rpc_msg_check(const struct rpc_msg_type *t, void *msg, char *why,
		  size_t whylen)
{
	struct dec d = { .t = t, .why = why, .whylen = whylen };
	size_t i;
	int rc;

	for (i = 0; i < t->nr_fields; i++) {
		d.f = &t->fields[i];
		if (d.f->flags & RPC_F_DECODE_ONLY)
			continue;
		rc = check_field(&d, msg);
		if (rc)
			return rc;
	}
	return t->check ? t->check(msg, why, whylen) : 0;
}

/* ---- encoding ---- */

static struct json_object *enc_list(const struct rpc_field *f, const void *msg)
{
	size_t n = *(const size_t *)((const char *)msg + f->count_off), i;
	struct json_object *a = json_object_new_array();
	const char *elem;

	for (i = 0; a && i < n && i < (size_t)f->max; i++) {
		if (f->kind == RPC_F_TEXT_LIST) {
			json_object_array_add(a, json_object_new_string(CFIELD(
							 msg, f, text_ptr)[i]));
			continue;
		}
		elem = CFIELD(msg, f, char) + i * f->size;
		json_object_array_add(a, rpc_msg_encode(f->sub, elem));
	}
	return a;
}

static struct json_object *enc_field(const struct rpc_field *f, const void *msg)
{
	const char *s;

	switch (f->kind) {
	case RPC_F_STR:
		s = CFIELD(msg, f, char);
		return (f->flags & RPC_F_OMIT_EMPTY) && !*s ?
			       NULL :
			       json_object_new_string(s);
	case RPC_F_TEXT:
		s = *CFIELD(msg, f, text_ptr);
		if (!s && (f->flags & RPC_F_OMIT_EMPTY))
			return NULL;
		if (s && !*s && (f->flags & RPC_F_OMIT_EMPTY))
			return NULL;
		return json_object_new_string(s ? s : "");
	case RPC_F_BOOL:
		return json_object_new_boolean(*CFIELD(msg, f, bool));
	case RPC_F_INT:
		return json_object_new_int64(*CFIELD(msg, f, int64_t));
	case RPC_F_NUM:
		return json_object_new_double(*CFIELD(msg, f, double));
	case RPC_F_ENUM:
		return json_object_new_string(
			rpc_msg_enum_name(f->names, *CFIELD(msg, f, int)));
	case RPC_F_OBJECT:
		return rpc_msg_encode(f->sub, CFIELD(msg, f, char));
	case RPC_F_LIST:
	case RPC_F_TEXT_LIST:
		return enc_list(f, msg);
	}
	return NULL;
}

struct json_object *rpc_msg_encode(const struct rpc_msg_type *t,
				   const void *msg)
{
	struct json_object *o = json_object_new_object(), *v;
	const struct rpc_field *f;
	size_t i;

	for (i = 0; o && i < t->nr_fields; i++) {
		f = &t->fields[i];
		if ((f->flags & RPC_F_DECODE_ONLY) || !get_has(f, msg))
			continue;
		v = enc_field(f, msg);
		if (v)
			json_object_object_add(o, f->key, v);
	}
	return o;
}

/* ---- comparing ---- */

static bool text_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool list_equal(const struct rpc_field *f, const void *a, const void *b)
{
	size_t n = *(const size_t *)((const char *)a + f->count_off), i;

	if (n != *(const size_t *)((const char *)b + f->count_off))
		return false;
	for (i = 0; i < n && i < (size_t)f->max; i++) {
		if (f->kind == RPC_F_TEXT_LIST ?
			    !text_equal(CFIELD(a, f, text_ptr)[i],
					CFIELD(b, f, text_ptr)[i]) :
			    !rpc_msg_equal(f->sub,
					   CFIELD(a, f, char) + i * f->size,
					   CFIELD(b, f, char) + i * f->size))
			return false;
	}
	return true;
}

static bool field_equal(const struct rpc_field *f, const void *a, const void *b)
{
	switch (f->kind) {
	case RPC_F_STR:
		return !strcmp(CFIELD(a, f, char), CFIELD(b, f, char));
	case RPC_F_TEXT:
		return text_equal(*CFIELD(a, f, text_ptr),
				  *CFIELD(b, f, text_ptr));
	case RPC_F_BOOL:
		return *CFIELD(a, f, bool) == *CFIELD(b, f, bool);
	case RPC_F_INT:
		return *CFIELD(a, f, int64_t) == *CFIELD(b, f, int64_t);
	case RPC_F_NUM:
		return *CFIELD(a, f, double) == *CFIELD(b, f, double);
	case RPC_F_ENUM:
		return *CFIELD(a, f, int) == *CFIELD(b, f, int);
	case RPC_F_OBJECT:
		return rpc_msg_equal(f->sub, CFIELD(a, f, char),
				     CFIELD(b, f, char));
	case RPC_F_LIST:
	case RPC_F_TEXT_LIST:
		return list_equal(f, a, b);
	}
	return false;
}

bool rpc_msg_equal(const struct rpc_msg_type *t, const void *a, const void *b)
{
	const struct rpc_field *f;
	size_t i;

	for (i = 0; i < t->nr_fields; i++) {
		f = &t->fields[i];
		if (get_has(f, a) != get_has(f, b))
			return false;
		if (get_has(f, a) && !field_equal(f, a, b))
			return false;
	}
	return true;
}

void rpc_event_origin_get(struct json_object *data,
			  struct rpc_event_origin *out)
{
	struct json_object *v;

	out->domain[0] = 0;
	out->domid = -1;
	if (!data || !json_object_is_type(data, json_type_object))
		return;
	if (json_object_object_get_ex(data, "domain", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(out->domain, sizeof(out->domain), "%s",
			 json_object_get_string(v));
	if (json_object_object_get_ex(data, "domid", &v) &&
	    json_object_is_type(v, json_type_int))
		out->domid = json_object_get_int64(v);
}

void rpc_event_origin_set(struct json_object *data,
			  const struct rpc_event_origin *in)
{
	json_object_object_add(data, "domain",
			       json_object_new_string(in->domain));
	json_object_object_add(data, "domid", json_object_new_int64(in->domid));
}
