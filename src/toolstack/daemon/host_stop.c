/*
 * on_host_stop = "save" (godwitd.conf), as libvirt-guests' ON_SHUTDOWN=
 * suspend: on SIGTERM godwitd saves every running domain to its managed
 * save (managed.c), all at once, and exits when each has ended saved or
 * failed (a domain whose save failed keeps running, as with "keep"), or
 * when MANAGED_STOP_TIMEOUT_S have passed. The systemd unit's
 * TimeoutStopSec gives it that long.
 *
 * Intent before action: NAME.boot is written before the save starts and
 * removed if it fails; at start-up every NAME.boot is removed first
 * (a restore is tried once) and NAME.save restored, paused if the domain
 * was paused. A restore that fails keeps the save and says why (list,
 * the log).
 */
#include "toolstack/daemon/managed.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/msg_save.h"

#define CHECK_EVERY_MS 100
#define BOOT_EXT ".boot"

struct stop_item {
	struct managed_stop *ms;
	uint64_t serial;
	char name[DOMAIN_NAME_MAX + 1];
	bool failed; /* the save failed: the domain runs on */
	bool done;
};

struct managed_stop {
	struct gwd *g;
	struct evloop_timer *timer;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	time_t started; /* a save file older than this is not ours */
	unsigned int nr, saved;
	struct stop_item items[];
};

static bool wants_save(const struct dom *d)
{
	return d->registered && d->state == DOM_LIVE && vmlink_is_up(d->link) &&
	       !d->job.active &&
	       (!strcmp(d->status, "running") || !strcmp(d->status, "paused"));
}

/* The save's answer: a refusal means the domain runs on. */
static void save_answered(void *opaque, int rc, struct json_object *ret,
			  const struct vmlink_err *err)
{
	struct stop_item *it = opaque;
	struct dom *d = reg_by_serial(it->ms->g, it->serial);

	(void)ret;
	/* No answer because the VMM ended: whether it saved, the file says. */
	if (!rc || rc == -ECANCELED || rc == -ECONNRESET)
		return;
	if (d)
		d->job.active = false;
	log_err("domain %s: not saved, it keeps running: %s", it->name,
		err->desc);
	it->failed = true;
}

/* Mark name for the next start (paused or not), then ask its VMM. */
static int start_save(struct managed_stop *ms, struct dom *d)
{
	struct stop_item *it = &ms->items[ms->nr];
	const char *state = !strcmp(d->status, "paused") ? "paused\n" :
							   "running\n";
	struct rpc_save_args a;
	struct json_object *args;
	char mark[PATH_MAX];
	int rc;

	rpc_msg_init(&rpc_msg_save, &a);
	rc = managed_make_dir(ms->g);
	if (!rc)
		rc = managed_path(ms->g, d->rec.name, ".save", a.file,
				  sizeof(a.file));
	if (!rc)
		rc = managed_path(ms->g, d->rec.name, BOOT_EXT, mark,
				  sizeof(mark));
	if (!rc)
		rc = file_write_atomic(mark, state, strlen(state), 0600);
	if (rc)
		return rc;
	*it = (struct stop_item){ .ms = ms, .serial = d->serial };
	snprintf(it->name, sizeof(it->name), "%s", d->rec.name);
	args = rpc_msg_encode(&rpc_msg_save, &a);
	rc = vmlink_call(d->link, "save", args, -1, save_answered, it);
	json_object_put(args);
	if (rc) {
		unlink(mark);
		return rc;
	}
	d->job.kind = JOB_SAVE;
	d->job.active = true;
	snprintf(d->job.target, sizeof(d->job.target), "%s", a.file);
	log_info("domain %s: saving to %s (on_host_stop = \"save\")",
		 d->rec.name, a.file);
	ms->nr++;
	return 0;
}

/* The domain is gone: did it leave a save file written by this stop? */
static void check_saved(struct managed_stop *ms, struct stop_item *it)
{
	char path[PATH_MAX];
	struct stat st;

	if (!it->failed &&
	    !managed_path(ms->g, it->name, ".save", path, sizeof(path)) &&
	    !stat(path, &st) && st.st_mtime >= ms->started) {
		ms->saved++;
		return;
	}
	if (!it->failed)
		log_err("domain %s: its VMM ended without saving it", it->name);
	if (!managed_path(ms->g, it->name, BOOT_EXT, path, sizeof(path)))
		unlink(path);
}

static void on_check(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct managed_stop *ms = opaque;
	unsigned int i, left = 0;
	struct stop_item *it;

	(void)t;
	for (i = 0; i < ms->nr; i++) {
		it = &ms->items[i];
		if (it->done)
			continue;
		it->done = it->failed || !reg_by_serial(ms->g, it->serial);
		if (it->done)
			check_saved(ms, it);
		else
			left++;
	}
	if (left && time_mono_ns() < ms->deadline_ns)
		return;
	if (left)
		log_err("on_host_stop: %u domain%s not saved within %d s; exiting, they keep running",
			left, left == 1 ? "" : "s", MANAGED_STOP_TIMEOUT_S);
	log_info("on_host_stop: %u of %u domain%s saved", ms->saved, ms->nr,
		 ms->nr == 1 ? "" : "s");
	evloop_stop(loop);
}

bool managed_host_stop(struct gwd *g)
{
	struct managed_stop *ms;
	struct dom *d;
	int rc;

	if (g->host.on_host_stop != HOST_ON_STOP_SAVE || g->stopping)
		return false;
	ms = calloc(1, sizeof(*ms) + g->nr_doms * sizeof(ms->items[0]));
	if (!ms || evloop_timer_new(g->loop, on_check, ms, &ms->timer)) {
		log_err("on_host_stop: out of memory; the domains keep running");
		free(ms);
		return false;
	}
	g->stopping = ms;
	ms->g = g;
	ms->started = time(NULL);
	ms->deadline_ns =
		time_mono_ns() + MANAGED_STOP_TIMEOUT_S * NSEC_PER_SEC;
	for (d = g->doms; d && ms->nr < g->nr_doms; d = d->next) {
		if (!wants_save(d))
			continue;
		rc = start_save(ms, d);
		if (rc)
			log_err("domain %s: cannot start its save, it keeps running: %s",
				d->rec.name, strerror(-rc));
	}
	log_info("on_host_stop = \"save\": saving %u domain%s", ms->nr,
		 ms->nr == 1 ? "" : "s");
	evloop_timer_arm(ms->timer, 0, CHECK_EVERY_MS * NSEC_PER_MSEC);
	return true;
}

void managed_stop_free(struct gwd *g)
{
	if (!g->stopping)
		return;
	evloop_timer_free(g->stopping->timer);
	free(g->stopping);
	g->stopping = NULL;
}

/* ---- start-up ---- */

/* Restore name, saved when a godwitd stopped; its mark is gone already. */
static void boot_restore(struct gwd *g, const char *name, bool paused)
{
	char why[512];

	if (reg_by_name(g, name)) {
		log_warn(
			"domain %s runs already: its managed save is kept, not restored",
			name);
		return;
	}
	if (!managed_exists(g, name)) {
		log_err("domain %s: saved when godwitd stopped, but its managed save is gone",
			name);
		return;
	}
	if (managed_restore(g, name, paused, NULL, NULL, why, sizeof(why)))
		managed_note_failure(g, name, why);
}

/* Read and remove name's mark: at most one try per stop. */
static bool take_mark(struct gwd *g, const char *name, bool *paused)
{
	char path[PATH_MAX];
	size_t len = 0;
	void *text = NULL;

	if (managed_path(g, name, BOOT_EXT, path, sizeof(path)) ||
	    file_read_all(path, 64, &text, &len))
		return false;
	*paused = len >= 6 && !memcmp(text, "paused", 6);
	free(text);
	if (unlink(path)) {
		log_err("cannot remove %s: %s; not restoring %s", path,
			strerror(errno), name);
		return false;
	}
	return true;
}

static void restore_marked(struct gwd *g, const char *name, void *opaque)
{
	bool paused;

	if (take_mark(g, name, &paused))
		boot_restore(g, name, paused);
}

void managed_boot_restore(struct gwd *g)
{
	managed_each(g, BOOT_EXT, restore_marked, NULL);
}
