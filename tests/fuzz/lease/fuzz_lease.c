/*
 * libFuzzer target: arbitrary bytes as the contents of a `file` engine
 * lease file (another host may have written it, over NFS) and as a
 * LEASE record's body. The bytes are checked by the parsers
 * (lease_file_rec_check, rec_lease_check) and put in a real lease file
 * that the file engine then acquires "only if the generation is still
 * 1": it may take the lease only when the file was empty, or held a
 * valid record of this resource at generation 1. Any crash, sanitizer
 * report or other outcome is a bug.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/lease.h"
#include "lease/lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[128];

/* Nothing stays behind in /tmp. */
static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

/* A fresh set for "db"; its lease file, written with the input. */
static int put(struct lease_set *s, const uint8_t *data, size_t size)
{
	static const uint8_t uuid[16] = { 1 };
	struct lease_owner o;
	char why[LEASE_WHY_MAX];
	int fd;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/godwit-fuzz-lease-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	lease_owner_self(&o, uuid);
	lease_set_init(s, &lease_file_engine, dir, &o);
	if (lease_add(s, "lease db", "db", why, sizeof(why)))
		abort();
	/* FNV-1a 64 of "db": the engine's file name for it. */
	snprintf(file, sizeof(file), "%s/%016llx.lease", dir,
		 0x08914e07b53ba1e3ULL);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	return 0;
}

static bool may_take(const uint8_t *data, size_t size)
{
	struct lease_file_rec r;
	char why[160];

	if (!size)
		return true;
	if (lease_file_rec_check(data, size, why, sizeof(why)))
		return false;
	memcpy(&r, data, sizeof(r));
	return !strcmp(r.resource, "db") && r.generation == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lease_set s;
	char why[LEASE_WHY_MAX];
	int rc;

	if (size > 65536)
		return 0;
	(void)!rec_lease_check(data, (uint32_t)size, why, sizeof(why));
	put(&s, data, size);
	s.l[0].generation = 1;
	rc = lease_acquire(&s, &s.l[0], true, why, sizeof(why));
	if ((rc == 0) != may_take(data, size))
		__builtin_trap();
	if (!rc && s.l[0].generation != 2)
		__builtin_trap();
	if (rc && (!why[0] || strchr(why, '\n')))
		__builtin_trap(); /* one line, always */
	lease_release_all(&s);
	return 0;
}
