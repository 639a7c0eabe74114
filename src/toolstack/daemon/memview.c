/*
 * The inputs of the memory check (memcheck.h), read from the kernel:
 * MemAvailable, the limits of the daemon's memory cgroup and of each
 * cgroup above it, and how much of its own domains' RAM is not resident
 * yet. The check itself is memcheck_admit.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "toolstack/daemon/memcheck.h"

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

/* RAM given to d's guest and not resident in its VMM yet. */
static uint64_t untouched(const struct dom *d)
{
	uint64_t mem = d->cfg ? d->cfg->memory_mib << 20 : d->rec.mem_bytes;
	unsigned long long size, resident;
	char path[64], buf[128];

	if (d->pid <= 0 || !mem)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)d->pid);
	if (read_text(path, buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return mem;
	resident *= (unsigned long long)sysconf(_SC_PAGESIZE);
	return mem > resident ? mem - resident : 0;
}

static void memcheck_view_read(struct gwd *g, struct memcheck_view *v)
{
	char *text = malloc(SMALL_FILE_MAX);
	char mnt2[PATH_MAX], mnt1[PATH_MAX], cg2[PATH_MAX], cg1[PATH_MAX];
	struct dom *d;

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
	for (d = g->doms; d; d = d->next)
		v->promised += untouched(d);
}

int gwd_mem_check(struct gwd *g, uint64_t guest_bytes, char *why, size_t whylen)
{
	struct memcheck_view v;
	unsigned int i;
	int rc;

	if (g->overcommit)
		return 0;
	memcheck_view_read(g, &v);
	for (i = 0; i < v.n; i++)
		log_debug("memory: %s: %llu MiB free", v.rooms[i].name,
			  (unsigned long long)(v.rooms[i].free >> 20));
	log_debug("memory: %llu MiB promised, %llu MiB asked",
		  (unsigned long long)(v.promised >> 20),
		  (unsigned long long)(guest_bytes >> 20));
	rc = memcheck_admit(&v, guest_bytes + MEMCHECK_VMM_OVERHEAD, why,
			    whylen);
	if (rc && strlen(why) + 40 < whylen)
		strcat(why, " (godwitd --overcommit allows it)");
	return rc;
}
