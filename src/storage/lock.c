/*
 * Image locks: an OFD lock over the whole image (write for a read-write
 * disk, read for a read-only one), owned by the open file description,
 * so it lasts exactly as long as the disk's fd and is never inherited by
 * a spawned script (the fd is O_CLOEXEC).
 *
 * When someone else holds a conflicting lock, F_OFD_GETLK cannot say who
 * (OFD locks have no owning process: l_pid is -1, and /proc/locks shows
 * -1 too). /proc/PID/fdinfo/FD lists the locks each open file holds, so
 * the holder is found by looking for an fd on the same inode whose
 * fdinfo has a lock line. That needs permission to read other
 * processes' fdinfo (root, or the same user); otherwise the message says
 * the holder could not be found.
 *
 * A read-write block device is also claimed with an O_EXCL open while
 * the lock is held, so one that is mounted, or claimed by another
 * program, is refused (a lock alone would not see a mount).
 */
#include "storage/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lock_holder {
	pid_t pid;
	bool write; /* holds a write lock (else a read lock) */
	char cmd[96]; /* its command line, printable, cut */
};

/* The process's command line, NULs as spaces, cut with "...". */
static void read_cmdline(pid_t pid, char *out, size_t len)
{
	char path[64], buf[256];
	ssize_t n = -1;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0) {
		snprintf(out, len, "?");
		return;
	}
	while (n > 0 && !buf[n - 1])
		n--;
	for (i = 0; i < (size_t)n; i++)
		buf[i] = !buf[i]			? ' ' :
			 isprint((unsigned char)buf[i]) ? buf[i] :
							  '?';
	buf[n] = 0;
	if ((size_t)n >= len)
		snprintf(out, len, "%.*s...", (int)len - 4, buf);
	else
		snprintf(out, len, "%s", buf);
}

/* Does fdinfo of /proc/PID/fdinfo/FD list a lock? Which kind? */
static bool fd_has_lock(const char *fdinfo, bool *write)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(fdinfo, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "lock:", 5))
			continue;
		found = true;
		*write = strstr(line, " WRITE ") != NULL;
	}
	fclose(f);
	return found;
}

/* Does process pid hold a lock on (dev, ino) through one of its fds? */
static bool pid_holds(pid_t pid, dev_t dev, ino_t ino, bool *write)
{
	char dir[64], path[320];
	struct dirent *e;
	struct stat st;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || st.st_dev != dev || st.st_ino != ino)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid,
			 e->d_name);
		found = fd_has_lock(path, write);
	}
	closedir(d);
	return found;
}

/*
 * A process holding a lock on the image: another one if there is one
 * (our own other disks come last); -ESRCH if none is found.
 */
static int find_holder(const struct disk *d, struct lock_holder *h)
{
	pid_t self = getpid();
	bool self_holds = false, write;
	struct dirent *e;
	DIR *proc = opendir("/proc");
	char *end;
	long pid;

	if (!proc)
		return -errno;
	while ((e = readdir(proc))) {
		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || !pid_holds(pid, d->dev, d->ino, &write))
			continue;
		if (pid == self) {
			self_holds = true;
			continue;
		}
		h->pid = pid;
		h->write = write;
		read_cmdline(pid, h->cmd, sizeof(h->cmd));
		closedir(proc);
		return 0;
	}
	closedir(proc);
	h->pid = self;
	return self_holds ? 0 : -ESRCH;
}

static int locked_by_other(struct disk *d, char *why, size_t whylen)
{
	struct lock_holder h;

	if (find_holder(d, &h))
		return disk_why(
			why, whylen, d->label, -EAGAIN,
			"%s is locked by another process (which one could not be found)",
			d->path);
	if (h.pid == getpid())
		return disk_why(
			why, whylen, d->label, -EAGAIN,
			"%s is already in use by another disk of this VM",
			d->path);
	return disk_why(why, whylen, d->label, -EAGAIN,
			"%s is in use: opened %s by process %d (%s)", d->path,
			h.write ? "read-write" : "read-only", (int)h.pid,
			h.cmd);
}

/* The O_EXCL claim of a read-write block device. */
static int claim(struct disk *d, char *why, size_t whylen)
{
	if (!d->info.is_blockdev || d->info.readonly)
		return 0;
	d->claim_fd = open(d->path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (d->claim_fd >= 0)
		return 0;
	if (errno == EBUSY)
		return disk_why(
			why, whylen, d->label, -EBUSY,
			"%s is in use (mounted, or opened exclusively by another program)",
			d->path);
	return disk_why(why, whylen, d->label, -errno, "cannot claim %s: %s",
			d->path, strerror(errno));
}

int disk_lock_take(struct disk *d, char *why, size_t whylen)
{
	struct flock fl = {
		.l_type = d->info.readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};
	int rc;

	if (d->locked)
		return 0;
	if (fcntl(d->fd, F_OFD_SETLK, &fl)) {
		if (errno == EAGAIN || errno == EACCES)
			return locked_by_other(d, why, whylen);
		return disk_why(why, whylen, d->label, -errno,
				"cannot lock %s: %s", d->path, strerror(errno));
	}
	d->locked = true;
	rc = claim(d, why, whylen);
	if (rc)
		disk_lock_release(d);
	return rc;
}

void disk_lock_release(struct disk *d)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (d->claim_fd >= 0)
		close(d->claim_fd);
	d->claim_fd = -1;
	if (!d->locked)
		return;
	if (fcntl(d->fd, F_OFD_SETLK, &fl) == 0)
		d->locked = false;
}
