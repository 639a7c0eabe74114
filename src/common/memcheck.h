/*
 * Memory is reserved before a domain starts: godwitd refuses a create,
 * restore or incoming migration that the host or its cgroup cannot hold,
 * rather than start it and let the kernel's OOM killer pick a guest
 * later. A guest's RAM is only allocated as it touches it, so what the
 * kernel reports free still counts the RAM that this daemon's domains
 * have been given but not touched yet: that part is "promised" and
 * subtracted. The rooms looked at are the host (MemAvailable) and each
 * level of the daemon's own memory cgroup (its VMMs are in it too):
 * cgroup v2 memory.max - memory.current, or v1 memory.limit_in_bytes -
 * memory.usage_in_bytes. The decision is a pure function (memcheck_admit);
 * memcheck_view_read gathers its inputs. godwitd --overcommit skips it.
 * A VMM that receives a VM without godwitd (restore, migrate-receive)
 * makes the same check for its own cgroup (nothing promised).
 */
#ifndef GODWIT_COMMON_MEMCHECK_H
#define GODWIT_COMMON_MEMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

/* What a VMM takes beyond its guest's RAM (binary, page tables, KVM). */
#define MEMCHECK_VMM_OVERHEAD (8ULL << 20)
/* Rooms looked at: the host and up to this many cgroup levels. */
#define MEMCHECK_ROOMS_MAX 16

struct memcheck_room {
	char name[160]; /* "the host", "cgroup /a/b" */
	uint64_t free; /* bytes the kernel says are free there */
	bool cgroup; /* a cgroup level: limit and used are set */
	uint64_t limit, used;
};

struct memcheck_view {
	struct memcheck_room rooms[MEMCHECK_ROOMS_MAX];
	unsigned int n;
	uint64_t promised; /* given to our domains, not touched yet */
};

/*
 * Can need more bytes be held in every room of v? 0, or -ENOMEM with one
 * line in why naming the room that lacks the most and how much.
 */
int memcheck_admit(const struct memcheck_view *v, uint64_t need, char *why,
		   size_t whylen) __must_check;

/* "MemAvailable:" of a /proc/meminfo text, in bytes; -EINVAL if none. */
int memcheck_parse_meminfo(const char *text, uint64_t *avail_out) __must_check;

/*
 * From a /proc/self/cgroup text: the v2 path ("0::/a/b") into v2, the
 * v1 memory controller's path ("N:...memory...:/a/b") into v1 ("" when
 * there is none). Both at most len bytes.
 */
void memcheck_parse_cgroup(const char *text, char *v2, char *v1, size_t len);

/*
 * The host (MemAvailable) and every memory-limited level of this
 * process's cgroups, into v (promised 0). Rooms it cannot read are left
 * out.
 */
void memcheck_view_read(struct memcheck_view *v);

#endif
