/* Is there memory for one more domain? See memcheck.h. */
#include "toolstack/daemon/memcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB_OF(b) ((unsigned long long)((b) >> 20))

/* What a room can still take once the promised memory is counted. */
static uint64_t room_left(const struct memcheck_room *r, uint64_t promised)
{
	return r->free > promised ? r->free - promised : 0;
}

int memcheck_admit(const struct memcheck_view *v, uint64_t need, char *why,
		   size_t whylen)
{
	const struct memcheck_room *worst = NULL, *r;
	uint64_t missing = 0, left;
	unsigned int i;
	int n;

	for (i = 0; i < v->n; i++) {
		r = &v->rooms[i];
		left = room_left(r, v->promised);
		if (left >= need || need - left <= missing)
			continue;
		missing = need - left;
		worst = r;
	}
	if (!worst)
		return 0;
	n = snprintf(why, whylen,
		     "not enough memory: %llu MiB needed, %s has %llu MiB free",
		     MIB_OF(need), worst->name, MIB_OF(worst->free));
	if (worst->cgroup && n > 0 && (size_t)n < whylen)
		n += snprintf(why + n, whylen - n,
			      " (limit %llu MiB, %llu MiB used)",
			      MIB_OF(worst->limit), MIB_OF(worst->used));
	if (v->promised && n > 0 && (size_t)n < whylen)
		n += snprintf(
			why + n, whylen - n,
			", %llu MiB of it promised to domains that have not touched their memory yet",
			MIB_OF(v->promised));
	if (n > 0 && (size_t)n < whylen)
		snprintf(why + n, whylen - n, ": %llu MiB missing",
			 (unsigned long long)((missing + (1 << 20) - 1) >> 20));
	return -ENOMEM;
}

int memcheck_parse_meminfo(const char *text, uint64_t *avail_out)
{
	const char *p = strstr(text, "MemAvailable:");
	unsigned long long kib;

	if (!p || (p != text && p[-1] != '\n') ||
	    sscanf(p, "MemAvailable: %llu kB", &kib) != 1 ||
	    kib > UINT64_MAX / 1024)
		return -EINVAL;
	*avail_out = kib * 1024;
	return 0;
}

/* Does the comma-separated controller list ctl (len bytes) name memory? */
static bool has_memory(const char *ctl, size_t len)
{
	const char *p = ctl, *end = ctl + len, *comma;

	while (p < end) {
		comma = memchr(p, ',', end - p);
		if (!comma)
			comma = end;
		if (comma - p == 6 && !memcmp(p, "memory", 6))
			return true;
		p = comma + 1;
	}
	return false;
}

void memcheck_parse_cgroup(const char *text, char *v2, char *v1, size_t len)
{
	const char *line = text, *nl, *c1, *c2;
	size_t plen;

	v2[0] = v1[0] = 0;
	for (; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		c1 = memchr(line, ':', nl - line);
		c2 = c1 ? memchr(c1 + 1, ':', nl - c1 - 1) : NULL;
		if (c2 && (plen = nl - c2 - 1) < len && c2[1] == '/') {
			if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
				snprintf(v2, len, "%.*s", (int)plen, c2 + 1);
			else if (has_memory(c1 + 1, c2 - c1 - 1))
				snprintf(v1, len, "%.*s", (int)plen, c2 + 1);
		}
		if (!*nl)
			break;
	}
}
