/*
 * VMM processes no record claims. godwitd writes a domain's record
 * before its VMM may run (spawn.c), so a VMM without one comes from a
 * daemon that did not (an older version killed at the wrong moment) or
 * from a record lost on disk. Such a VMM still holds a guest and its
 * RAM: at start-up every live process whose command line names an exit
 * file in this registry is matched to its record, or adopted as an
 * arrival (attach.c then identifies it, registers it or, for a restore
 * whose name is taken, quits it). Never a stranger: the exit file path
 * is unique to this registry and to one domain.
 */
#include "toolstack/daemon/daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define CMDLINE_MAX 65536

/* Is s a path inside dir (dir + "/" + more)? */
static bool path_in(const char *s, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(s, dir, n) && s[n] == '/' && s[n + 1];
}

int orphan_parse(const char *buf, size_t len, const char *state_dir,
		 struct orphan *o)
{
	const char *argv[SPAWN_ORPHAN_ARGS], *p;
	size_t n = 0, i;

	memset(o, 0, sizeof(*o));
	if (!len || buf[len - 1])
		return -EINVAL;
	for (p = buf; p < buf + len && n < SPAWN_ORPHAN_ARGS;
	     p += strlen(p) + 1)
		argv[n++] = p;
	if (n < 2)
		return -EINVAL;
	if (!strcmp(argv[1], "run"))
		o->origin = ORIGIN_CREATE;
	else if (!strcmp(argv[1], "restore") && n > 2)
		o->origin = ORIGIN_RESTORE, o->file = argv[2];
	else if (!strcmp(argv[1], "migrate-receive"))
		o->origin = ORIGIN_MIGRATION;
	else
		return -EINVAL;
	for (i = 2; i + 1 < n; i++) {
		if (!strcmp(argv[i], "--exit-file"))
			o->exit_file = argv[++i];
		else if (!strcmp(argv[i], "--qmp"))
			o->qmp = argv[++i];
		else if (!strcmp(argv[i], "--arrival-id"))
			o->arrival_id = argv[++i];
		else if (!strcmp(argv[i], "--outcome-file"))
			o->outcome_file = argv[++i];
	}
	if (!o->exit_file || !o->qmp || !path_in(o->exit_file, state_dir) ||
	    strlen(o->exit_file) >= PATH_MAX || strlen(o->qmp) >= PATH_MAX)
		return -EINVAL;
	return 0;
}

static struct dom *by_exit_file(struct gwd *g, const char *path)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (!strcmp(d->rec.exit_file, path))
			return d;
	return NULL;
}

/* An orphan's record: an arrival, in the incoming directory it has. */
static int orphan_record(struct gwd *g, const struct orphan *o, pid_t pid)
{
	char incoming[PATH_MAX], dir[PATH_MAX], *end;
	struct dom *d;
	int rc;

	rc = reg_new(g, &d);
	if (rc)
		return rc;
	d->rec.origin = o->origin;
	snprintf(d->rec.peer, sizeof(d->rec.peer), "%s",
		 o->file ? o->file : "(unknown)");
	snprintf(incoming, sizeof(incoming), "%s/incoming", g->paths.state_dir);
	snprintf(dir, sizeof(dir), "%s", o->exit_file);
	if (path_in(o->exit_file, incoming))
		snprintf(d->rec.dir, sizeof(d->rec.dir), "%s", dirname(dir));
	else
		rc = reg_make_incoming_dir(d);
	snprintf(d->rec.exit_file, sizeof(d->rec.exit_file), "%s",
		 o->exit_file);
	snprintf(d->rec.qmp, sizeof(d->rec.qmp), "%s", o->qmp);
	if (o->arrival_id && o->outcome_file && strlen(o->arrival_id) == 16 &&
	    strlen(o->outcome_file) < PATH_MAX) {
		d->rec.arrival_id = strtoull(o->arrival_id, &end, 16);
		if (*end)
			d->rec.arrival_id = 0;
		snprintf(d->rec.outcome_file, sizeof(d->rec.outcome_file), "%s",
			 o->outcome_file);
	}
	d->pid = pid;
	if (!rc)
		rc = reg_save(d);
	log_warn(
		"adopted VMM %d (%s of %s), which no record named; it is identified when it answers",
		(int)pid, state_origin_name(o->origin), d->rec.peer);
	return rc;
}

/* The command line of process pid (NUL-separated), or -errno. */
static ssize_t read_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size);
	close(fd);
	return n < 0 ? -errno : n;
}

static void orphan_one(struct gwd *g, pid_t pid, char *buf)
{
	struct orphan o;
	struct dom *d;
	ssize_t n;

	n = read_cmdline(pid, buf, CMDLINE_MAX);
	if (n <= 0 || orphan_parse(buf, n, g->paths.state_dir, &o) ||
	    !sup_process_matches(pid, o.exit_file))
		return;
	d = by_exit_file(g, o.exit_file);
	if (!d) {
		if (orphan_record(g, &o, pid))
			log_err("VMM %d: cannot record it", (int)pid);
		return;
	}
	if (d->pid == pid || sup_process_matches(d->pid, d->rec.exit_file))
		return;
	log_warn("domain %s: found its VMM %d, which its record did not name",
		 dom_label(d), (int)pid);
	d->pid = pid;
}

void orphan_adopt_all(struct gwd *g)
{
	char *buf = malloc(CMDLINE_MAX);
	struct dirent *e;
	uint64_t pid;
	DIR *dp;

	dp = buf ? opendir("/proc") : NULL;
	if (!dp) {
		free(buf);
		log_err("cannot look for VMMs in /proc: %s", strerror(errno));
		return;
	}
	while ((e = readdir(dp))) {
		if (!parse_u64(e->d_name, &pid) && pid != (uint64_t)getpid())
			orphan_one(g, (pid_t)pid, buf);
	}
	closedir(dp);
	free(buf);
}
