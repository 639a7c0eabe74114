/*
 * Save targets (savefile.h says what each kind of FILE gets). The steps
 * that matter for safety, in order: FILE is looked at without following
 * links; the temporary file has no name an attacker could plant a link at
 * (O_TMPFILE), or a random one created exclusively; the commit checks,
 * under a lock on FILE's inode, that FILE is still what it was, and only
 * then renames over it. Another godwit committing to the same FILE takes
 * the same lock, so two saves cannot both replace the file they started
 * from: the second finds FILE changed and fails, and its VM goes on.
 */
#include "monitor/savefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "common/why.h"

#define TMP_PREFIX ".godwit-save."
#define TMP_TRIES 100
#define LOCK_WAIT_MS 5000 /* another save holds it for a rename only */

void save_target_init(struct save_target *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->dir_fd = -1;
}

/* FILE's directory (opened) and its name in it. */
static int open_dir(struct save_target *t, char *why, size_t whylen)
{
	const char *slash = strrchr(t->path, '/');
	const char *name = slash ? slash + 1 : t->path;
	char dir[PATH_MAX];

	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return why_set(why, whylen, -EISDIR, "%s is a directory",
			       t->path);
	if (strlen(name) > NAME_MAX)
		return why_set(why, whylen, -ENAMETOOLONG, "%s: %s", t->path,
			       strerror(ENAMETOOLONG));
	strcpy(t->name, name);
	snprintf(dir, sizeof(dir), "%.*s",
		 slash ? (int)(slash == t->path ? 1 : slash - t->path) : 1,
		 slash ? t->path : ".");
	t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dir_fd < 0)
		return why_set(why, whylen, -errno, "%s: cannot open %s: %s",
			       t->path, dir, strerror(errno));
	return 0;
}

/* Guest RAM goes to the disk without a page cache copy where it can. */
static void try_direct(struct save_target *t)
{
	int flags = fcntl(t->fd, F_GETFL);

	t->direct = flags >= 0 && fcntl(t->fd, F_SETFL, flags | O_DIRECT) == 0;
}

static int random_name(char *buf, size_t len)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[12];
	size_t i, n = strlen(TMP_PREFIX);

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -errno ? -errno : -EIO;
	if (len < n + sizeof(r) + 1)
		return -ENAMETOOLONG;
	memcpy(buf, TMP_PREFIX, n);
	for (i = 0; i < sizeof(r); i++)
		buf[n + i] = chars[r[i] % (sizeof(chars) - 1)];
	buf[n + sizeof(r)] = 0;
	return 0;
}

/* Where O_TMPFILE is missing: a fresh random name, never a link. */
static int open_named_temp(struct save_target *t, char *why, size_t whylen)
{
	int i, rc;

	for (i = 0; i < TMP_TRIES; i++) {
		rc = random_name(t->tmp_name, sizeof(t->tmp_name));
		if (rc)
			break;
		t->fd = openat(t->dir_fd, t->tmp_name,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC,
			       0600);
		if (t->fd >= 0)
			return 0;
		rc = -errno;
		if (rc != -EEXIST)
			break;
	}
	t->tmp_name[0] = 0;
	return why_set(why, whylen, rc,
		       "%s: cannot create a file beside it: %s", t->path,
		       strerror(-rc));
}

static int open_temp(struct save_target *t, char *why, size_t whylen)
{
	int rc = 0;

	t->regular = true;
	if (!t->no_tmpfile) {
		t->fd = openat(t->dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
			       0600);
		rc = t->fd < 0 ? -errno : 0;
	}
	/* No O_TMPFILE here (filesystem or kernel): a random name. */
	if (t->no_tmpfile || rc == -EOPNOTSUPP || rc == -EISDIR ||
	    rc == -EINVAL)
		rc = open_named_temp(t, why, whylen);
	else if (rc)
		return why_set(why, whylen, rc,
			       "%s: cannot create a file beside it: %s",
			       t->path, strerror(-rc));
	if (!rc)
		try_direct(t);
	return rc;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

/*
 * A FIFO or a device: written straight into. O_NONBLOCK so that opening a
 * FIFO nobody reads fails at once (ENXIO) instead of waiting for ever;
 * cleared afterwards so writes block as usual.
 */
static int open_nonblock(struct save_target *t)
{
	t->fd = openat(t->dir_fd, t->name,
		       O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY |
			       O_CLOEXEC);
	return t->fd < 0 ? -errno : 0;
}

static int open_stream_target(struct save_target *t, const struct stat *st,
			      char *why, size_t whylen)
{
	struct stat now;
	int rc;

	rc = open_nonblock(t);
	while (rc == -ENXIO && S_ISFIFO(st->st_mode) && t->wait_reader) {
		rc = t->wait_reader(t->wait_opaque);
		if (rc)
			return why_set(why, whylen, rc, "%s: no reader: %s",
				       t->path, strerror(-rc));
		rc = open_nonblock(t);
	}
	if (rc == -ENXIO && S_ISFIFO(st->st_mode))
		return why_set(
			why, whylen, -EPIPE,
			"%s is a FIFO with no reader: start the reader first",
			t->path);
	if (rc)
		return why_set(why, whylen, rc, "%s: %s", t->path,
			       strerror(-rc));
	if (fstat(t->fd, &now) || !same_file(st, &now))
		return why_set(why, whylen, -ESTALE,
			       "%s changed while it was being opened", t->path);
	rc = fd_set_nonblock(t->fd, false);
	if (rc)
		return why_set(why, whylen, rc, "%s: %s", t->path,
			       strerror(-rc));
	return 0;
}

static int refuse_kind(const struct save_target *t, const struct stat *st,
		       char *why, size_t whylen)
{
	if (S_ISLNK(st->st_mode))
		return why_set(
			why, whylen, -ELOOP,
			"%s is a symbolic link: save does not replace links (name the file it points to)",
			t->path);
	if (S_ISDIR(st->st_mode))
		return why_set(why, whylen, -EISDIR, "%s is a directory",
			       t->path);
	return why_set(
		why, whylen, -EINVAL,
		"%s is a socket: save writes to a regular file, a FIFO or a device",
		t->path);
}

int save_target_open(struct save_target *t, const char *path, char *why,
		     size_t whylen)
{
	struct stat st;
	int rc;

	t->path = path;
	rc = open_dir(t, why, whylen);
	if (rc)
		return rc;
	if (fstatat(t->dir_fd, t->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return why_set(why, whylen, -errno, "%s: %s", path,
				       strerror(errno));
		return open_temp(t, why, whylen);
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		t->existed = true;
		t->dev = st.st_dev;
		t->ino = st.st_ino;
		return open_temp(t, why, whylen);
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
		return open_stream_target(t, &st, why, whylen);
	default:
		return refuse_kind(t, &st, why, whylen);
	}
}

int save_target_adopt(struct save_target *t, char *why, size_t whylen)
{
	struct stat st;
	int rc;

	t->path = "-";
	if (fstat(t->fd, &st))
		return why_set(why, whylen, -errno, "save -: %s",
			       strerror(errno));
	if (S_ISDIR(st.st_mode))
		return why_set(why, whylen, -EISDIR,
			       "save -: the descriptor is a directory");
	rc = fd_set_nonblock(t->fd, false);
	if (rc)
		return why_set(why, whylen, rc, "save -: %s", strerror(-rc));
	return 0;
}

/* Give the O_TMPFILE a name in FILE's directory (EEXIST if taken). */
static int link_tmpfile(struct save_target *t, const char *name)
{
	char proc[64];

	if (!linkat(t->fd, "", t->dir_fd, name, AT_EMPTY_PATH))
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	/* Without CAP_DAC_READ_SEARCH: through /proc. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	if (!linkat(AT_FDCWD, proc, t->dir_fd, name, AT_SYMLINK_FOLLOW))
		return 0;
	return -errno;
}

/* FILE does not exist: create it from the temporary file, or fail. */
static int place_new(struct save_target *t)
{
	if (!t->tmp_name[0])
		return link_tmpfile(t, t->name);
	if (!renameat2(t->dir_fd, t->tmp_name, t->dir_fd, t->name,
		       RENAME_NOREPLACE))
		goto placed;
	if (errno != EINVAL)
		return -errno;
	/* No RENAME_NOREPLACE here: link (which never replaces), unlink. */
	if (linkat(t->dir_fd, t->tmp_name, t->dir_fd, t->name, 0))
		return -errno;
	unlinkat(t->dir_fd, t->tmp_name, 0);
placed:
	t->tmp_name[0] = 0;
	return 0;
}

/* Rename the temporary file over FILE (checked by the caller). */
static int place_over(struct save_target *t)
{
	int i, rc = -EEXIST;

	for (i = 0; !t->tmp_name[0] && i < TMP_TRIES && rc == -EEXIST; i++) {
		rc = random_name(t->tmp_name, sizeof(t->tmp_name));
		if (!rc)
			rc = link_tmpfile(t, t->tmp_name);
		if (rc)
			t->tmp_name[0] = 0;
	}
	if (!t->tmp_name[0])
		return rc;
	if (renameat(t->dir_fd, t->tmp_name, t->dir_fd, t->name))
		return -errno;
	t->tmp_name[0] = 0;
	return 0;
}

/* flock, but never for ever: whoever holds it only renames. */
static int lock_bounded(int fd)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	for (i = 0; i < LOCK_WAIT_MS; i++) {
		if (!flock(fd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		nanosleep(&ms, NULL);
	}
	return -EWOULDBLOCK;
}

/* Holding the lock on lfd: is FILE still the file the save began with? */
static bool unchanged(const struct save_target *t, int lfd)
{
	struct stat a, b;

	return !fstat(lfd, &a) && S_ISREG(a.st_mode) && a.st_dev == t->dev &&
	       a.st_ino == t->ino &&
	       !fstatat(t->dir_fd, t->name, &b, AT_SYMLINK_NOFOLLOW) &&
	       same_file(&a, &b);
}

static int replace(struct save_target *t, char *why, size_t whylen)
{
	int lfd, rc;

	lfd = openat(t->dir_fd, t->name,
		     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (lfd < 0 && errno == ENOENT)
		return place_new(t); /* removed meanwhile: as if new */
	if (lfd < 0 && errno != ELOOP)
		return why_set(why, whylen, -errno, "%s: %s", t->path,
			       strerror(errno));
	rc = lfd < 0 ? -ESTALE : lock_bounded(lfd);
	if (rc == -EWOULDBLOCK)
		rc = why_set(
			why, whylen, rc,
			"%s is locked by another process: not replacing it",
			t->path);
	else if (!rc && !unchanged(t, lfd))
		rc = -ESTALE;
	else if (!rc)
		rc = place_over(t);
	if (lfd >= 0)
		close(lfd); /* drops the lock */
	return rc;
}

static int place(struct save_target *t, char *why, size_t whylen)
{
	int rc = t->existed ? replace(t, why, whylen) : place_new(t);

	if (rc == -ESTALE || rc == -EEXIST)
		return why_set(
			why, whylen, -ESTALE,
			"%s was %s while saving (by another save?): not replacing it",
			t->path, t->existed ? "replaced" : "created");
	if (rc && rc != -EWOULDBLOCK && !why[0])
		return why_set(why, whylen, rc, "cannot put the save at %s: %s",
			       t->path, strerror(-rc));
	return rc;
}

int save_target_commit(struct save_target *t, bool sync, char *why,
		       size_t whylen)
{
	int rc;

	why[0] = 0;
	/* A FIFO or a character device has nothing to sync (EINVAL). */
	if (sync && fdatasync(t->fd) < 0 &&
	    (t->regular || (errno != EINVAL && errno != EROFS)))
		return why_set(why, whylen, -errno, "writing %s: %s", t->path,
			       strerror(errno));
	if (!t->regular)
		return 0;
	rc = place(t, why, whylen);
	if (!rc && sync && fsync(t->dir_fd) < 0)
		rc = why_set(why, whylen, -errno, "writing %s: %s", t->path,
			     strerror(errno));
	return rc;
}

void save_target_close(struct save_target *t)
{
	if (t->tmp_name[0] && t->dir_fd >= 0)
		unlinkat(t->dir_fd, t->tmp_name, 0);
	t->tmp_name[0] = 0;
	if (t->fd >= 0)
		close(t->fd);
	if (t->dir_fd >= 0)
		close(t->dir_fd);
	t->fd = -1;
	t->dir_fd = -1;
}
