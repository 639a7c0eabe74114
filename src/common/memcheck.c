/*
 * Is there memory for one more VM? See memcheck.h: the pure decision,
 * and the reading of its inputs from /proc and the cgroup files.
 */
#include "common/memcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

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

/* v1 reports "no limit" as a number near 2^63. */
#define V1_UNLIMITED (1ULL << 62)
#define SMALL_FILE_MAX (64 * 1024)

/* A /proc or cgroup file (their size says 0: read to the end). */
static int read_text(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size - 1 &&
	       (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return (int)n;
		}
		len += n;
	}
	close(fd);
	buf[len] = 0;
	return 0;
}

/* A file holding one number (or "max": UINT64_MAX). */
static int read_number(const char *path, uint64_t *out)
{
	char buf[64];
	int rc = read_text(path, buf, sizeof(buf));

	if (rc)
		return rc;
	buf[strcspn(buf, "\n")] = 0;
	if (!strcmp(buf, "max")) {
		*out = UINT64_MAX;
		return 0;
	}
	return parse_u64(buf, out);
}

/*
 * Where cgroup v2 and v1's memory controller are mounted, from
 * /proc/self/mountinfo ("... MOUNTPOINT OPTS ... - FSTYPE SRC SUPEROPTS").
 */
static void cgroup_mounts(char *v2, char *v1, size_t len)
{
	char *text = malloc(SMALL_FILE_MAX), *line, *save = NULL;
	char root[PATH_MAX], mnt[PATH_MAX], type[32], super[512];

	v2[0] = v1[0] = 0;
	if (!text || read_text("/proc/self/mountinfo", text, SMALL_FILE_MAX)) {
		free(text);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sep = strstr(line, " - ");

		if (!sep ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(sep, " - %31s %*s %511s", type, super) != 2 ||
		    strcmp(root, "/"))
			continue;
		if (!strcmp(type, "cgroup2") && !v2[0])
			snprintf(v2, len, "%s", mnt);
		else if (!strcmp(type, "cgroup") && strstr(super, "memory") &&
			 !v1[0])
			snprintf(v1, len, "%s", mnt);
	}
	free(text);
}

/* One cgroup level's room, if it has a memory limit. */
static bool cgroup_level(const char *mnt, const char *path, bool v2,
			 struct memcheck_room *r)
{
	char file[PATH_MAX * 2];
	uint64_t limit, used;

	snprintf(file, sizeof(file), "%s%s/%s", mnt, path,
		 v2 ? "memory.max" : "memory.limit_in_bytes");
	if (read_number(file, &limit) || limit >= V1_UNLIMITED)
		return false;
	snprintf(file, sizeof(file), "%s%s/%s", mnt, path,
		 v2 ? "memory.current" : "memory.usage_in_bytes");
	if (read_number(file, &used))
		return false;
	snprintf(r->name, sizeof(r->name), "cgroup %s", path[0] ? path : "/");
	r->cgroup = true;
	r->limit = limit;
	r->used = used;
	r->free = limit > used ? limit - used : 0;
	return true;
}

/* Every level from path up to the root of one hierarchy. */
static void cgroup_rooms(const char *mnt, const char *cgpath, bool v2,
			 struct memcheck_view *v)
{
	char path[PATH_MAX], *slash;

	if (!mnt[0] || !cgpath[0])
		return;
	snprintf(path, sizeof(path), "%s", strcmp(cgpath, "/") ? cgpath : "");
	for (;;) {
		if (v->n < MEMCHECK_ROOMS_MAX &&
		    cgroup_level(mnt, path, v2, &v->rooms[v->n]))
			v->n++;
		slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = 0;
	}
}

void memcheck_view_read(struct memcheck_view *v)
{
	char *text = malloc(SMALL_FILE_MAX);
	char mnt2[PATH_MAX], mnt1[PATH_MAX], cg2[PATH_MAX], cg1[PATH_MAX];

	memset(v, 0, sizeof(*v));
	if (text && !read_text("/proc/meminfo", text, SMALL_FILE_MAX) &&
	    !memcheck_parse_meminfo(text, &v->rooms[0].free)) {
		snprintf(v->rooms[0].name, sizeof(v->rooms[0].name),
			 "the host");
		v->n = 1;
	}
	cg2[0] = cg1[0] = 0;
	if (text && !read_text("/proc/self/cgroup", text, SMALL_FILE_MAX))
		memcheck_parse_cgroup(text, cg2, cg1, sizeof(cg2));
	free(text);
	cgroup_mounts(mnt2, mnt1, sizeof(mnt2));
	cgroup_rooms(mnt2, cg2, true, v);
	cgroup_rooms(mnt1, cg1, false, v);
}
