/*
 * Start-up: read the registry a previous godwitd left and take over.
 * Every domain whose VMM still runs (its pid is alive and its command
 * line names the domain's exit file) is adopted: watched through a
 * pidfd and reconnected, and it must answer query-domain with its uuid.
 * A domain whose VMM ended while no daemon ran is handled now from its
 * exit file, as if it had just ended (so on_poweroff and friends apply);
 * one whose VMM never ran (the daemon died while starting it) says so.
 * Domains kept as shut down or crashed are listed again.
 *
 * Nothing that runs is left unlisted: every VMM process whose exit file
 * lies in this registry (its command line says --exit-file STATE/...)
 * and that no record claims (a daemon before intent-first spawning died
 * at the wrong moment, or a record was lost) is adopted as an arrival
 * and identified like one (attach.c). An arrival whose registration was
 * cut between its two steps is moved to its home first.
 */
#include "toolstack/daemon/daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "rpc/sock.h"

#define CMDLINE_MAX 65536

static void load_next_domid(struct gwd *g)
{
	char path[PATH_MAX + 16], num[32];
	size_t len = 0;
	void *text = NULL;
	uint64_t v;

	g->next_domid = 1;
	snprintf(path, sizeof(path), "%s/next-domid", g->paths.state_dir);
	if (file_read_all(path, sizeof(num) - 1, &text, &len))
		return;
	memcpy(num, text, len);
	num[len] = 0;
	num[strcspn(num, "\n")] = 0;
	free(text);
	if (!parse_u64(num, &v) && v > 0 && v < UINT32_MAX)
		g->next_domid = v;
	else
		log_warn("%s: not a domain id; starting from the registry's",
			 path);
}

static int load_config(struct dom *d)
{
	char path[PATH_MAX + 16], why[CONFIG_MSG_MAX];
	size_t len = 0;
	void *text = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/config", d->rec.dir);
	rc = file_read_all(path, CONFIG_FILE_MAX, &text, &len);
	if (rc)
		return rc;
	rc = reg_set_config(d, text, len, why, sizeof(why));
	if (rc)
		log_warn("%s: %s", path, why);
	free(text);
	return rc;
}

/* A record found away from its home (see attach.c): move it there. */
static void finish_move(struct dom_record *rec, const char *dir)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];

	if (!rec->home[0] || !strcmp(rec->home, dir))
		return;
	snprintf(from, sizeof(from), "%s/state", dir);
	snprintf(to, sizeof(to), "%s/state", rec->home);
	if (rename(from, to)) {
		log_warn("%s: cannot move it to %s: %s; it stays there", from,
			 to, strerror(errno));
		return;
	}
	log_info("%s: moved to %s (a registration was cut short)", from, to);
	snprintf(rec->dir, sizeof(rec->dir), "%s", rec->home);
	rec->home[0] = 0;
}

/* Read DIR/state into a new (not yet adopted) domain. */
static void load_one(struct gwd *g, const char *dir)
{
	char path[PATH_MAX + 16], why[160];
	struct dom_record rec;
	size_t len = 0;
	void *text = NULL;
	struct dom *d;
	int rc;

	snprintf(path, sizeof(path), "%s/state", dir);
	rc = file_read_all(path, STATE_FILE_MAX, &text, &len);
	if (!rc)
		rc = state_parse(text, len, &rec, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	free(text);
	if (rc == -ENOENT) {
		/* An arrival's directory keeps only its exit file. */
		log_debug("%s: no state file", dir);
		return;
	}
	if (rc) {
		log_warn("ignoring %s: %s", path, why);
		return;
	}
	finish_move(&rec, dir);
	if (reg_new(g, &d)) {
		log_err("too many domains; ignoring %s", dir);
		return;
	}
	d->rec = rec;
	if (!d->rec.dir[0])
		snprintf(d->rec.dir, sizeof(d->rec.dir), "%s", dir);
	d->cont_when_live = rec.resume;
	d->registered = rec.state != REC_INCOMING;
	d->pid = rec.pid;
	d->state = rec.state == REC_SHUTDOWN ? DOM_SHUTDOWN :
		   rec.state == REC_CRASHED  ? DOM_CRASHED :
		   rec.state == REC_DYING    ? DOM_DYING :
					       DOM_STARTING;
	d->destroying = rec.state == REC_DYING;
	if (d->registered && load_config(d))
		log_warn(
			"domain %s: no usable config; xl's default actions apply",
			d->rec.name);
	if (rec.domid >= g->next_domid)
		g->next_domid = rec.domid + 1;
}

static void load_dir(struct gwd *g, const char *sub)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/%s", g->paths.state_dir, sub);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		load_one(g, path);
	}
	closedir(dp);
}

/* Does the socket at path answer, and from process pid? */
static bool socket_of(const char *path, pid_t pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	bool yes;
	int fd;

	fd = rpc_sock_connect(path, 0);
	if (fd < 0)
		return false;
	yes = !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) &&
	      cred.pid == pid;
	close(fd);
	return yes;
}

/*
 * Where d's VMM answers. An arrival's socket is renamed to NAME.qmp when
 * it is registered: a daemon killed around that rename finds its record
 * naming the old name. The socket in RUN/vm whose listener is d's VMM is
 * the one.
 */
static void find_socket(struct dom *d)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *e;
	DIR *dp;

	if (!access(d->rec.qmp, F_OK))
		return;
	snprintf(dir, sizeof(dir), "%s/vm", d->gwd->paths.run_dir);
	dp = opendir(dir);
	while (dp && (e = readdir(dp))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || e->d_name[1] == '.'))
			continue;
		if (strlen(path) < sizeof(d->rec.qmp) &&
		    socket_of(path, d->pid)) {
			log_info("domain %s: its control socket is %s",
				 dom_label(d), path);
			strcpy(d->rec.qmp, path);
			break;
		}
	}
	if (dp)
		closedir(dp);
}

/* Take over d's VMM if it still runs; else handle its end now. */
static void take_over(struct dom *d)
{
	int rc;

	if (d->state == DOM_SHUTDOWN || d->state == DOM_CRASHED) {
		d->pid = 0;
		return;
	}
	if (!sup_process_matches(d->pid, d->rec.exit_file)) {
		log_info("domain %s: its VMM ended while godwitd was away",
			 d->rec.name[0] ? d->rec.name : d->rec.dir);
		life_vmm_ended(d, false, 0);
		return;
	}
	d->child = false;
	find_socket(d);
	rc = sup_watch_pidfd(d);
	if (!rc)
		rc = attach_start(d);
	if (rc) {
		log_err("domain %s: cannot watch VMM %d: %s", d->rec.name,
			(int)d->pid, strerror(-rc));
		return;
	}
	/* A destroy was under way: finish it. */
	if (d->destroying)
		sup_kill(d);
}

/* ---- VMMs no record claims (see the top of this file) ---- */

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
	if (orphan_path_in(o->exit_file, incoming))
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

/* The parent of process pid, or 0. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int ppid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* "PID (COMM) STATE PPID ...": COMM may hold anything but ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
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
	/* A VMM's child between fork and exec (a hook starting) has its
	 * command line too: the VMM is its parent. */
	if (sup_process_matches(parent_of(pid), o.exit_file))
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

static void orphan_adopt_all(struct gwd *g)
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

int reg_load(struct gwd *g)
{
	uint64_t serial, first = g->next_serial + 1, end;
	struct dom *d;

	load_next_domid(g);
	load_dir(g, "domains");
	load_dir(g, "incoming");
	orphan_adopt_all(g);
	arrival_prune(g);
	/* Every domain is known before any is handled (names, ids). */
	end = g->next_serial;
	for (serial = first; serial <= end; serial++) {
		d = reg_by_serial(g, serial);
		if (d)
			take_over(d);
	}
	return 0;
}
