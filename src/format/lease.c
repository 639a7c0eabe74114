/*
 * Checks of the lease layouts (format/lease.h): what a LEASE record and
 * a lease file may hold. A name is checked byte by byte because it ends
 * up in file names, messages and `<engine>:<resource>:<generation>`.
 */
#include "format/lease.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/why.h"

/* [a-z0-9]+, NUL-terminated and NUL-padded within len bytes. */
static bool engine_ok(const char *e, size_t len)
{
	size_t i, n = strnlen(e, len);

	if (!n || n == len)
		return false;
	for (i = 0; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') ||
		      (e[i] >= '0' && e[i] <= '9')))
			return false;
	for (; i < len; i++)
		if (e[i])
			return false;
	return true;
}

/* n printable ASCII bytes (a path or a lease name), n in range. */
static bool resource_ok(const char *r, uint32_t n)
{
	uint32_t i;

	if (!n || n >= LEASE_RESOURCE_LEN)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)r[i] < 0x20 || (unsigned char)r[i] > 0x7e)
			return false;
	return true;
}

int rec_lease_check(const void *body, uint32_t len, char *why, size_t whylen)
{
	const struct rec_lease *l = body;

	if (len < sizeof(*l))
		return why_set(why, whylen, -EINVAL,
			       "body of %u bytes is too short", len);
	if (!engine_ok(l->engine, sizeof(l->engine)))
		return why_set(why, whylen, -EINVAL,
			       "engine name is not [a-z0-9]+, NUL-padded");
	if (!l->generation)
		return why_set(why, whylen, -EINVAL, "generation is 0");
	if (l->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	if (len != sizeof(*l) + (uint64_t)l->resource_len)
		return why_set(
			why, whylen, -EINVAL,
			"resource length %u does not match the body (%u bytes)",
			l->resource_len, len);
	if (!resource_ok(l->resource, l->resource_len))
		return why_set(
			why, whylen, -EINVAL,
			"resource is empty, too long or not printable ASCII");
	return 0;
}

void lease_file_rec_seal(struct lease_file_rec *r)
{
	r->crc = 0;
	r->crc = crc32c(0, r, sizeof(*r));
}

/* The NUL padding after n bytes of a field of len bytes. */
static bool padded(const char *f, size_t n, size_t len)
{
	for (; n < len; n++)
		if (f[n])
			return false;
	return true;
}

static int check_fields(const struct lease_file_rec *r, char *why,
			size_t whylen)
{
	size_t host = strnlen(r->host, sizeof(r->host));

	if (!r->generation)
		return why_set(why, whylen, -EINVAL, "generation is 0");
	if (host == sizeof(r->host) || !padded(r->host, host, sizeof(r->host)))
		return why_set(why, whylen, -EINVAL,
			       "host name is not NUL-terminated and padded");
	if (!resource_ok(r->resource, r->resource_len) ||
	    !padded(r->resource, r->resource_len, sizeof(r->resource)))
		return why_set(why, whylen, -EINVAL,
			       "resource is empty, too long or not printable");
	if (r->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	return 0;
}

int lease_file_rec_check(const void *buf, size_t len, char *why, size_t whylen)
{
	struct lease_file_rec r;
	uint32_t crc;

	if (len != sizeof(r))
		return why_set(why, whylen, -EINVAL,
			       "%zu bytes, a lease record has %zu", len,
			       sizeof(r));
	memcpy(&r, buf, sizeof(r));
	if (memcmp(r.magic, LEASE_FILE_MAGIC, sizeof(r.magic)))
		return why_set(why, whylen, -EINVAL,
			       "not a lease file (magic)");
	crc = r.crc;
	lease_file_rec_seal(&r);
	if (crc != r.crc)
		return why_set(why, whylen, -EINVAL, "checksum mismatch");
	if (r.version != LEASE_FILE_VERSION || r.size != sizeof(r))
		return why_set(why, whylen, -EINVAL,
			       "version %u, size %u: this godwit reads %u, %zu",
			       r.version, r.size, LEASE_FILE_VERSION,
			       sizeof(r));
	return check_fields(&r, why, whylen);
}
