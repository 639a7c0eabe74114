/*
 * The `file` lease engine, the embedded default: one lease file per
 * resource in the lease directory (hosts that share disks share it over
 * NFS), named from a hash of the resource. The VMM process holding the
 * lease keeps an OFD write lock on the whole file: the lock belongs to
 * the open file description, so it ends when the process ends, however
 * it ends, with no daemon involved (and the fd is O_CLOEXEC: a script
 * the VMM spawns does not inherit it).
 *
 * The file holds one checksummed record (stream_format.h, struct
 * lease_file_rec): resource, generation, and who took it (host, VM
 * uuid, pid). The holder writes it right after taking the lock, so
 * others read it to name the holder; a reader without the lock may see
 * a half-written record and then only says "held" without a name.
 *
 * Generations: acquiring bumps the record's generation, synced (the
 * sync op, for all of a VM's leases at once) before the vCPUs may run. "Only if the generation is still N" accepts
 * a file with no record yet (a host that does not share the directory
 * has never seen the resource) and carries N on from there.
 */
#include "lease/lease.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/util.h"
#include "common/why.h"
#include "format/lease.h"

/* FNV-1a, 64 bits: spreads names; collisions are caught by the record. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static int file_path(const struct lease_set *s, const struct lease *l,
		     char *buf, size_t len)
{
	return str_printf(buf, len, "%s/%016" PRIx64 ".lease", s->dir,
			  name_hash(l->resource));
}

/*
 * The record, if one is there: 1 read, 0 empty file, -errno. One byte
 * more than a record is asked for, into a buffer that has room for it,
 * so that a longer file is seen (and refused) without reading past r.
 */
static int read_rec(int fd, struct lease_file_rec *r, char *why, size_t whylen)
{
	union {
		struct lease_file_rec rec;
		unsigned char bytes[sizeof(struct lease_file_rec) + 1];
	} buf;
	ssize_t n = pread(fd, &buf, sizeof(buf.bytes), 0);

	if (n < 0)
		return why_set(why, whylen, -errno, "%s", strerror(errno));
	if (n == 0)
		return 0;
	if (lease_file_rec_check(&buf.rec, (size_t)n, why, whylen))
		return -EUCLEAN;
	*r = buf.rec;
	return 1;
}

/* Who the record names, in words (lease_holder_text). */
static void holder_text(const struct lease_file_rec *r, char *buf, size_t len)
{
	struct lease_holder h = { .held = true,
				  .known = true,
				  .generation = r->generation };

	h.owner.pid = r->pid;
	memcpy(h.owner.uuid, r->uuid, sizeof(h.owner.uuid));
	memcpy(h.owner.host, r->host, sizeof(h.owner.host));
	lease_holder_text(&h, buf, len);
}

static int refuse_held(const struct lease *l, int fd, const char *path,
		       char *why, size_t whylen)
{
	struct lease_file_rec r;
	char who[200], tmp[160];

	if (read_rec(fd, &r, tmp, sizeof(tmp)) == 1)
		holder_text(&r, who, sizeof(who));
	else
		snprintf(who, sizeof(who),
			 "another process (its record in %s is being written)",
			 path);
	return why_set(why, whylen, -EBUSY, "%s: %s is in use by %s", l->label,
		       l->resource, who);
}

/* The write lock, or why not: -EBUSY if someone holds it. */
static int take_lock(const struct lease *l, int fd, const char *path, char *why,
		     size_t whylen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (!fcntl(fd, F_OFD_SETLK, &fl))
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return refuse_held(l, fd, path, why, whylen);
	return why_set(why, whylen, -errno, "%s: cannot lock lease file %s: %s",
		       l->label, path, strerror(errno));
}

/* With the lock: may we take it, and from which generation? */
static int check_rec(const struct lease *l, int fd, const char *path,
		     bool expect, uint64_t *gen_out, char *why, size_t whylen)
{
	struct lease_file_rec r;
	char tmp[160], who[200];
	int rc = read_rec(fd, &r, tmp, sizeof(tmp));

	if (rc == -EUCLEAN)
		return why_set(
			why, whylen, rc,
			"%s: lease file %s for %s is damaged (%s); remove it if no VM uses %s",
			l->label, path, l->resource, tmp, l->resource);
	if (rc < 0)
		return why_set(why, whylen, rc, "%s: cannot read %s: %s",
			       l->label, path, tmp);
	*gen_out = expect ? l->generation : 0; /* no record yet */
	if (rc == 0)
		return 0;
	if (strcmp(r.resource, l->resource))
		return why_set(why, whylen, -EEXIST,
			       "%s: lease file %s belongs to %s, not to %s",
			       l->label, path, r.resource, l->resource);
	holder_text(&r, who, sizeof(who));
	if (expect && r.generation != l->generation)
		return why_set(
			why, whylen, -ESTALE,
			"%s: %s was taken by %s since this VM held it at generation %" PRIu64
			"; the VM must not run",
			l->label, l->resource, who, l->generation);
	*gen_out = r.generation;
	return 0;
}

static int write_rec(const struct lease_set *s, const struct lease *l, int fd,
		     uint64_t gen, const char *path, char *why, size_t whylen)
{
	struct lease_file_rec r;

	memset(&r, 0, sizeof(r));
	memcpy(r.magic, LEASE_FILE_MAGIC, sizeof(r.magic));
	r.version = LEASE_FILE_VERSION;
	r.size = sizeof(r);
	r.generation = gen;
	r.time_ns = time_real_ns();
	r.pid = s->owner.pid;
	r.resource_len = strlen(l->resource);
	memcpy(r.uuid, s->owner.uuid, sizeof(r.uuid));
	snprintf(r.host, sizeof(r.host), "%s", s->owner.host);
	memcpy(r.resource, l->resource, r.resource_len);
	lease_file_rec_seal(&r);
	if (pwrite(fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
	    ftruncate(fd, sizeof(r)))
		return why_set(why, whylen, errno ? -errno : -EIO,
			       "%s: cannot write lease file %s: %s", l->label,
			       path, strerror(errno ? errno : EIO));
	return 0;
}

static int open_file(const struct lease_set *s, const struct lease *l,
		     char *path, size_t plen, char *why, size_t whylen)
{
	int fd, rc = file_path(s, l, path, plen);

	if (rc)
		return why_set(why, whylen, rc,
			       "%s: lease directory %s: too long", l->label,
			       s->dir);
	rc = mkdir_p(s->dir, 0755);
	if (rc)
		return why_set(why, whylen, rc,
			       "%s: cannot create lease directory %s: %s",
			       l->label, s->dir, strerror(-rc));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return why_set(why, whylen, -errno,
			       "%s: cannot open lease file %s: %s", l->label,
			       path, strerror(errno));
	return fd;
}

static int file_acquire(struct lease_set *s, struct lease *l, bool expect,
			char *why, size_t whylen)
{
	char path[PATH_MAX + 32];
	uint64_t gen = 0;
	int fd, rc;

	fd = open_file(s, l, path, sizeof(path), why, whylen);
	if (fd < 0)
		return fd;
	rc = take_lock(l, fd, path, why, whylen);
	if (!rc)
		rc = check_rec(l, fd, path, expect, &gen, why, whylen);
	if (!rc)
		rc = write_rec(s, l, fd, gen + 1, path, why, whylen);
	if (rc) {
		close(fd); /* drops the lock with it */
		return rc;
	}
	l->fd = fd;
	l->held = true;
	l->generation = gen + 1;
	return 0;
}

static int file_sync(struct lease_set *s, struct lease *l, char *why,
		     size_t whylen)
{
	(void)s;
	if (fdatasync(l->fd))
		return why_set(why, whylen, -errno,
			       "%s: cannot sync the lease file of %s: %s",
			       l->label, l->resource, strerror(errno));
	return 0;
}

static void file_release(struct lease_set *s, struct lease *l)
{
	(void)s;
	close(l->fd); /* the OFD lock ends with its file description */
	l->fd = -1;
	l->held = false;
}

static int file_inquire(struct lease_set *s, const struct lease *l,
			struct lease_holder *out, char *why, size_t whylen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct lease_file_rec r;
	char path[PATH_MAX + 32];
	int fd, rc;

	if (file_path(s, l, path, sizeof(path)))
		return why_set(why, whylen, -ENAMETOOLONG, "%s: path too long",
			       l->label);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return why_set(why, whylen, -errno, "cannot open %s: %s", path,
			       strerror(errno));
	rc = fcntl(fd, F_OFD_GETLK, &fl) ? -errno : 0;
	out->held = l->held || (!rc && fl.l_type != F_UNLCK);
	if (!rc && read_rec(fd, &r, why, whylen) == 1) {
		out->known = true;
		out->generation = r.generation;
		out->owner.pid = r.pid;
		memcpy(out->owner.uuid, r.uuid, sizeof(r.uuid));
		memcpy(out->owner.host, r.host, sizeof(r.host));
	}
	close(fd);
	return rc ? why_set(why, whylen, rc, "cannot test the lock of %s",
			    path) :
		    0;
}

const struct lease_engine lease_file_engine = {
	.name = "file",
	.acquire = file_acquire,
	.sync = file_sync,
	.release = file_release,
	.inquire = file_inquire,
};
