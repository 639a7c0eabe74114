/*
 * godwitd's memory check (common/memcheck.h): the host's and its
 * cgroups' rooms (memcheck_view_read), less how much of its own domains'
 * RAM is not resident yet. The check itself is memcheck_admit.
 */
#include "toolstack/daemon/daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/memcheck.h"

/* RAM given to d's guest and not resident in its VMM yet. */
static uint64_t untouched(const struct dom *d)
{
	uint64_t mem = d->cfg ? d->cfg->memory_mib << 20 : d->rec.mem_bytes;
	unsigned long long size, resident;
	char path[64];
	FILE *f;
	int n;

	if (d->pid <= 0 || !mem)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)d->pid);
	f = fopen(path, "re");
	if (!f)
		return mem;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2)
		return mem;
	resident *= (unsigned long long)sysconf(_SC_PAGESIZE);
	return mem > resident ? mem - resident : 0;
}

/* The host's and the cgroups' rooms, less what our domains were promised. */
static void gwd_mem_view(struct gwd *g, struct memcheck_view *v)
{
	struct dom *d;

	memcheck_view_read(v);
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
	gwd_mem_view(g, &v);
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
