/*
 * A VMM has ended: find out how (its exit file, else its wait status),
 * say so in the log, and carry out what lifecycle.c decides: remove the
 * domain, restart it from its config, keep it listed, or keep the old
 * one under a new name and start anew. A VMM's end is never hidden: it
 * is logged in every case, and a domain kept listed shows why it ended.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/msg_domain.h"
#include "toolstack/daemon/vmlink.h"

/* No exit file, and our child's wait status says how it ended. */
static void end_from_status(struct dom *d, int wstatus, struct life_exit *e)
{
	if (WIFSIGNALED(wstatus)) {
		e->status = WTERMSIG(wstatus);
		snprintf(e->reason, sizeof(e->reason), "killed by signal %d",
			 e->status);
		return;
	}
	e->status = WEXITSTATUS(wstatus);
	if (d->state == DOM_STARTING)
		e->end = END_ERROR;
	/* 127 from our own child: it says which step failed, and why. */
	if (e->status == 127 &&
	    !spawn_failure(d, e->reason, sizeof(e->reason))) {
		e->end = END_ERROR;
		return;
	}
	snprintf(e->reason, sizeof(e->reason),
		 "exited with status %d without an exit file", e->status);
}

/* What the exit file says, else what the wait status or absence says. */
static void read_end(struct dom *d, bool have_status, int wstatus,
		     struct life_exit *e)
{
	size_t len = 0;
	void *text = NULL;

	if (!file_read_all(d->rec.exit_file, 4096, &text, &len) &&
	    !life_parse_exit(text, len, e)) {
		free(text);
		log_info("domain %s: VMM exited: %d %s %s", dom_label(d),
			 e->status, life_end_name(e->end), e->reason);
		return;
	}
	free(text);
	memset(e, 0, sizeof(*e));
	e->end = END_KILLED;
	if (have_status) {
		end_from_status(d, wstatus, e);
	} else if (!d->pid || d->rec.state == REC_STARTING ||
		   d->rec.state == REC_INCOMING) {
		/* Recorded as being started, gone without a word: it never
		 * ran (no pid: it was never released) or never answered. */
		e->end = END_ERROR;
		snprintf(
			e->reason, sizeof(e->reason), "%s",
			!d->pid ?
				"never ran: godwitd ended while starting it" :
				"never answered: godwitd ended while starting it, and it is gone");
	} else {
		snprintf(e->reason, sizeof(e->reason),
			 "vanished without writing its exit file (killed?)");
	}
	log_err("domain %s: %s%s", dom_label(d),
		strncmp(e->reason, "VMM ", 4) ? "VMM " : "", e->reason);
}

/* The defaults of xl, for a domain whose config cannot be read. */
static const struct domain_config *actions_of(struct dom *d,
					      struct domain_config *dflt)
{
	if (d->cfg)
		return d->cfg;
	domain_config_init(dflt);
	return dflt;
}

static void preserve(struct dom *d, bool crashed)
{
	d->state = crashed ? DOM_CRASHED : DOM_SHUTDOWN;
	d->rec.console[0] = 0;
	reg_save(d);
	dom_wait_done(d, WAIT_GONE, NULL);
	log_info(
		"domain %s (id %u): preserved as %s ('godwit destroy %s' removes it)",
		d->rec.name, d->rec.domid, crashed ? "crashed" : "shut down",
		d->rec.name);
}

/* Start d's VMM again from its config (restart, rename-restart). */
static int respawn(struct dom *d)
{
	struct gwd *g = d->gwd;
	int rc;

	/* A restarted arrival gets its files in its own directory. */
	reg_drop_exit_file(d);
	rc = str_printf(d->rec.exit_file, sizeof(d->rec.exit_file), "%s/exit",
			d->rec.dir);
	if (!rc)
		rc = reg_qmp_path(g, d->rec.name, d->rec.qmp,
				  sizeof(d->rec.qmp));
	if (rc)
		return rc;
	d->rec.domid = reg_next_domid(g);
	d->rec.console[0] = 0;
	d->status[0] = 0;
	life_note_restart(d->restarts, &d->nr_restarts, time_mono_ns());
	/* Recorded as starting before it may run (spawn_vmm saves it). */
	d->state = DOM_STARTING;
	rc = spawn_vmm(d, SPAWN_RUN, NULL, -1, false);
	if (!rc)
		rc = attach_start(d);
	reg_save(d);
	if (!rc)
		log_info("domain %s: restarted as id %u", d->rec.name,
			 d->rec.domid);
	return rc;
}

static void restart(struct dom *d)
{
	int rc;

	dom_wait_done(d, WAIT_GONE, NULL);
	rc = respawn(d);
	if (rc) {
		log_err("domain %s: cannot restart it: %s", d->rec.name,
			strerror(-rc));
		snprintf(d->rec.reason, sizeof(d->rec.reason),
			 "restart failed: %s", strerror(-rc));
		preserve(d, true);
	}
}

/*
 * rename-restart: the ended domain stays listed under NAME-ID with a new
 * uuid (its files move with it); d itself, keeping the name, uuid and
 * config, starts anew.
 */
static int keep_renamed_copy(struct dom *d, bool crashed)
{
	struct gwd *g = d->gwd;
	uint8_t uuid[16];
	struct dom *old;
	int rc;

	rc = reg_new(g, &old);
	if (rc)
		return rc;
	old->rec = d->rec;
	old->registered = true;
	old->state = crashed ? DOM_CRASHED : DOM_SHUTDOWN;
	old->config_text = d->config_text ? strdup(d->config_text) : NULL;
	snprintf(old->rec.name, sizeof(old->rec.name), "%.50s-%u", d->rec.name,
		 d->rec.domid);
	old->rec.console[0] = old->rec.qmp[0] = old->rec.exit_file[0] = 0;
	old->rec.dir[0] = 0;
	rc = domain_config_uuid_generate(uuid);
	if (!rc) {
		domain_config_uuid_format(uuid, old->rec.uuid);
		rc = reg_make_dir(old);
	}
	if (!rc && old->config_text && reg_write_config(old))
		log_warn("domain %s: cannot copy its config", old->rec.name);
	if (rc) {
		reg_remove(old, NULL);
		return rc;
	}
	reg_save(old);
	log_info("domain %s: the ended domain is kept as %s (id %u, uuid %s)",
		 d->rec.name, old->rec.name, old->rec.domid, old->rec.uuid);
	return 0;
}

static void carry_out(struct dom *d, const struct life_decision *dec)
{
	const char *act =
		dec->trigger ? domain_config_action_name(dec->action) : "";

	if (dec->no_coredump)
		log_warn(
			"domain %s: %s=%s: core dumps are not supported; going on without one",
			d->rec.name, dec->trigger, act);
	if (dec->loop_guard)
		log_err("domain %s: %s=%s, but it was restarted %u times within %llu s; not restarting it again",
			d->rec.name, dec->trigger, act, d->gwd->restart_max,
			LIFE_RESTART_WINDOW_NS / NSEC_PER_SEC);
	else if (dec->trigger)
		log_info("domain %s: %s=%s", d->rec.name, dec->trigger, act);
	switch (dec->verdict) {
	case LIFE_DESTROY:
		log_info("domain %s (id %u): removed", d->rec.name,
			 d->rec.domid);
		reg_remove(d, NULL);
		break;
	case LIFE_RESTART:
		restart(d);
		break;
	case LIFE_RENAME_RESTART:
		if (keep_renamed_copy(d, dec->crashed))
			log_err("domain %s: cannot keep a renamed copy; restarting anyway",
				d->rec.name);
		restart(d);
		break;
	case LIFE_PRESERVE:
		preserve(d, dec->crashed);
		break;
	}
}

/*
 * An arrival that failed: its VMM's own line, without the "restore
 * FILE: " it starts with (the client names the file already).
 */
static void arrival_failed(struct dom *d, const struct life_exit *e)
{
	char why[sizeof(e->reason) + 32];
	const char *detail = e->reason;
	size_t n = strlen(d->rec.peer);

	if (d->rec.origin == ORIGIN_RESTORE &&
	    !strncmp(detail, "restore ", 8) &&
	    !strncmp(detail + 8, d->rec.peer, n) &&
	    !strncmp(detail + 8 + n, ": ", 2))
		detail += 8 + n + 2;
	log_err("%s %s failed: %s",
		d->rec.origin == ORIGIN_RESTORE ? "restore of" :
						  "migration from",
		d->rec.peer, e->reason);
	snprintf(why, sizeof(why), "%s", detail);
	reg_remove(d, why);
}

/*
 * A create whose VMM never got the VM running: the VMM's own first error
 * line is the reason (its exit file has it), and the id goes back.
 */
static void create_failed(struct dom *d, const struct life_exit *e)
{
	char why[sizeof(e->reason) + DOMAIN_NAME_MAX + PATH_MAX];
	struct gwd *g = d->gwd;
	unsigned int id = d->rec.domid;

	if (e->end == END_ERROR)
		snprintf(why, sizeof(why), "domain %s did not start: %s",
			 d->rec.name, e->reason);
	else
		snprintf(why, sizeof(why),
			 "domain %s did not start: %s (details in %s)",
			 d->rec.name, e->reason, g->paths.log_file);
	log_err("%s", why);
	reg_remove(d, why);
	reg_return_domid(g, id);
}

/* An end that is not the guest's own: the domain goes. */
static bool ended_by_us(struct dom *d, const struct life_exit *e)
{
	if (d->destroying && !d->registered) {
		log_info("restore of %s: refused VMM ended", d->rec.peer);
		reg_remove(d, "refused");
		return true;
	}
	if (d->destroying) {
		log_info("domain %s (id %u): destroyed", d->rec.name,
			 d->rec.domid);
		reg_remove(d, NULL);
		return true;
	}
	if (!d->registered) {
		arrival_failed(d, e);
		return true;
	}
	if (d->state == DOM_STARTING && dom_wait_any(d, WAIT_UP) &&
	    (e->end == END_ERROR || e->end == END_KILLED)) {
		create_failed(d, e);
		return true;
	}
	if (e->end == END_SAVED || e->end == END_MIGRATED ||
	    e->end == END_HOST) {
		/* Ended by the host while its create waited: it was made. */
		attach_answer_up(d);
		log_info("domain %s (id %u): %s; removed", d->rec.name,
			 d->rec.domid, e->reason);
		reg_remove(d, NULL);
		return true;
	}
	return false;
}

/*
 * Tell every control client that d's VMM ended, and how: whoever waits
 * for anything about d (a migration's outcome, say) learns it, even
 * when the VMM could not say so itself.
 */
static void announce_end(struct dom *d, const struct life_exit *e)
{
	struct rpc_vmm_ended v = { .status = e->status };
	struct json_object *o;

	if (!d->registered)
		return;
	snprintf(v.end, sizeof(v.end), "%s", life_end_name(e->end));
	snprintf(v.reason, sizeof(v.reason), "%s", e->reason);
	snprintf(v.job, sizeof(v.job), "%s",
		 !d->job.active		 ? "" :
		 d->job.kind == JOB_SAVE ? "save" :
					   "migration");
	o = rpc_msg_encode(&rpc_msg_vmm_ended, &v);
	ctl_relay_event(d, "VMM_ENDED", o);
	json_object_put(o);
}

/* How long d's guest ran, for a create's answer ("120 ms", or less). */
static void ran_for(const struct dom *d, char *buf, size_t len)
{
	if (!d->live_ns)
		snprintf(buf, len, "before its VMM answered");
	else
		snprintf(buf, len, "%llu ms after it started",
			 (unsigned long long)((time_mono_ns() - d->live_ns) /
					      NSEC_PER_MSEC));
}

/* What carry_out does, in a create's answer. */
static const char *const verdict_done[] = {
	[LIFE_DESTROY] = "removed",
	[LIFE_RESTART] = "restarted",
	[LIFE_PRESERVE] = "kept, stopped",
	[LIFE_RENAME_RESTART] = "kept renamed, and restarted",
};

/* Add why to the warnings of d's create answer. */
static void warn_waiters(struct dom *d, const char *why)
{
	struct json_object *arr;
	struct dom_waiter *w;
	unsigned int i;

	for (i = 0; i < DOM_WAITERS_MAX; i++) {
		w = &d->waiters[i];
		if (!w->used || w->kind != WAIT_UP)
			continue;
		if (!w->ret)
			w->ret = json_object_new_object();
		if (!json_object_object_get_ex(w->ret, "warnings", &arr)) {
			arr = json_object_new_array();
			json_object_object_add(w->ret, "warnings", arr);
		}
		json_object_array_add(arr, json_object_new_string(why));
	}
}

/*
 * The guest ended before its create was answered (GWD_CREATE_SETTLE_MS):
 * an error when the domain is removed (the id goes back), else created
 * with a warning that says what happened and what was done.
 */
static void answer_short_life(struct dom *d, const struct life_exit *e,
			      const struct life_decision *dec)
{
	char why[sizeof(e->reason) + 256], age[48], act[48] = "";

	if (dec->trigger)
		snprintf(act, sizeof(act), "%s=%s: ", dec->trigger,
			 domain_config_action_name(dec->action));
	ran_for(d, age, sizeof(age));
	snprintf(why, sizeof(why), "domain %s: the guest ended %s: %s; %s%s",
		 d->rec.name, age, e->reason, act, verdict_done[dec->verdict]);
	if (dec->verdict != LIFE_DESTROY)
		return warn_waiters(d, why);
	log_warn("%s", why);
	dom_wait_done(d, WAIT_UP, why);
	reg_return_domid(d->gwd, d->rec.domid);
}

void life_vmm_ended(struct dom *d, bool have_status, int wstatus)
{
	struct domain_config dflt;
	struct life_decision dec;
	struct life_exit e;
	char why[sizeof(e.reason) + DOMAIN_NAME_MAX + 64];
	bool short_life;

	dom_log_ctx(d);
	/* Its last replies and events first: they may still be unread. */
	vmlink_drain(d->link);
	read_end(d, have_status, wstatus, &e);
	spawn_forget(d);
	announce_end(d, &e);
	if (e.end == END_SAVED) {
		dom_wait_done(d, WAIT_SAVED, NULL);
	} else {
		snprintf(why, sizeof(why),
			 "domain %s: the VMM ended during the save: %s",
			 d->rec.name, e.reason);
		dom_wait_done(d, WAIT_SAVED, why);
	}
	d->pid = 0;
	d->child = false;
	attach_stop(d);
	if (d->kill_timer)
		evloop_timer_disarm(d->kill_timer);
	d->job.active = false;
	snprintf(d->rec.reason, sizeof(d->rec.reason), "%s", e.reason);
	if (ended_by_us(d, &e))
		return;
	life_decide(&e, actions_of(d, &dflt), d->restarts, d->nr_restarts,
		    d->gwd->restart_max, time_mono_ns(), &dec);
	short_life = dom_wait_any(d, WAIT_UP);
	if (short_life)
		answer_short_life(d, &e, &dec);
	/* Removed by a destroy verdict: d is gone after carry_out. */
	short_life = short_life && dec.verdict != LIFE_DESTROY;
	carry_out(d, &dec);
	if (short_life)
		attach_answer_up(d);
}
