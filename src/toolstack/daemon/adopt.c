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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

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
