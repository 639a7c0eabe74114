/* Jobs (save, migration) as virsh domjobinfo shows them. */
#include <godwit/jobinfo.h>

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, key, &v);
	return v;
}

static void put(struct json_object *o, const char *key, struct json_object *v)
{
	if (v)
		json_object_object_add(o, key, json_object_get(v));
}

/* virsh's job types: unbounded while it runs, then how it ended. */
static const char *job_type(const char *status)
{
	if (!strcmp(status, "active") || !strcmp(status, "postcopy-active"))
		return "unbounded";
	if (!strcmp(status, "completed"))
		return "completed";
	if (!strcmp(status, "none") || !*status)
		return "none";
	if (!strcmp(status, "unconfirmed"))
		return "unconfirmed"; /* handed over, no confirmation */
	return "failed";
}

struct json_object *jobinfo_none(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("none"));
	return o;
}

struct json_object *jobinfo_build(enum jobinfo_op op, struct json_object *q,
				  const char *target, uint64_t mem_bytes)
{
	struct json_object *o = json_object_new_object(), *ram;
	struct json_object *st = member(q, "status");
	const char *status = st ? json_object_get_string(st) : "";

	json_object_object_add(o, "type",
			       json_object_new_string(job_type(status)));
	json_object_object_add(
		o, "operation",
		json_object_new_string(
			op == JOBINFO_SAVE ? "save" : "outgoing migration"));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "target", json_object_new_string(target));
	put(o, "time-elapsed-ms", member(q, "total-time-ms"));
	put(o, "error", member(q, "error"));
	if (op == JOBINFO_SAVE) {
		put(o, "data-processed", member(q, "bytes"));
		json_object_object_add(o, "memory-total",
				       json_object_new_int64(mem_bytes));
		return o;
	}
	ram = member(q, "ram");
	put(o, "data-processed", member(ram, "transferred"));
	put(o, "data-remaining", member(ram, "remaining"));
	put(o, "data-total", member(ram, "total"));
	put(o, "memory-processed", member(ram, "transferred"));
	put(o, "memory-remaining", member(ram, "remaining"));
	put(o, "memory-total", member(ram, "total"));
	put(o, "memory-bandwidth-mbps", member(ram, "mbps"));
	put(o, "dirty-rate-pps", member(ram, "dirty-pages-rate"));
	put(o, "iteration", member(q, "round"));
	put(o, "expected-downtime-ms", member(q, "expected-downtime-ms"));
	put(o, "downtime-ms", member(q, "downtime-ms"));
	put(o, "cpu-throttle-percentage", member(q, "cpu-throttle-percentage"));
	return o;
}

/* A label padded as virsh does it: "Data processed:   ". */
static void label(FILE *f, const char *text)
{
	fprintf(f, "%-17s ", text);
}

static void line_mib(FILE *f, struct json_object *job, const char *key,
		     const char *text)
{
	struct json_object *v = member(job, key);

	if (!v)
		return;
	label(f, text);
	fprintf(f, "%.3f MiB\n", json_object_get_double(v) / 1048576.0);
}

static void line_num(FILE *f, struct json_object *job, const char *key,
		     const char *text, const char *unit)
{
	struct json_object *v = member(job, key);

	if (!v)
		return;
	label(f, text);
	if (json_object_is_type(v, json_type_double))
		fprintf(f, "%-12.3f %s\n", json_object_get_double(v), unit);
	else
		fprintf(f, "%-12lld %s\n", (long long)json_object_get_int64(v),
			unit);
}

static void line_str(FILE *f, struct json_object *job, const char *key,
		     const char *text, bool capital)
{
	struct json_object *v = member(job, key);
	const char *s;

	if (!v || !*(s = json_object_get_string(v)))
		return;
	label(f, text);
	if (capital)
		fprintf(f, "%c%s\n", toupper((unsigned char)s[0]), s + 1);
	else
		fprintf(f, "%s\n", s);
}

void jobinfo_print(FILE *f, struct json_object *job)
{
	const char *type, *why;

	line_str(f, job, "type", "Job type:", true);
	line_str(f, job, "operation", "Operation:", true);
	line_str(f, job, "target", "Destination:", false);
	line_num(f, job, "time-elapsed-ms", "Time elapsed:", "ms");
	line_mib(f, job, "data-processed", "Data processed:");
	line_mib(f, job, "data-remaining", "Data remaining:");
	line_mib(f, job, "data-total", "Data total:");
	line_mib(f, job, "memory-processed", "Memory processed:");
	line_mib(f, job, "memory-remaining", "Memory remaining:");
	line_mib(f, job, "memory-total", "Memory total:");
	line_num(f, job, "memory-bandwidth-mbps", "Memory bandwidth:", "MB/s");
	line_num(f, job, "dirty-rate-pps", "Dirty rate:", "pages/s");
	line_num(f, job, "iteration", "Iteration:", "");
	line_num(f, job, "expected-downtime-ms", "Expected downtime:", "ms");
	line_num(f, job, "downtime-ms", "Downtime:", "ms");
	line_num(f, job, "cpu-throttle-percentage", "Auto converge:", "%");
	type = json_object_get_string(member(job, "type"));
	why = json_object_get_string(member(job, "error"));
	if (type && !strcmp(type, "unconfirmed")) {
		/* "unconfirmed: handed over to HOST:PORT, no confirmation: WHY" */
		label(f, "Status:");
		fprintf(f, "unconfirmed: %s\n", why ? why : "");
		fprintf(f,
			"%-17s godwit migrate-resolve decides (--resume-here or --discard)\n",
			"");
		return;
	}
	line_str(f, job, "error", "Error:", false);
}
