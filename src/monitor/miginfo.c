/*
 * What the migration's events and query-migrate say, in QEMU's schema
 * (qapi/migration.json: MigrationInfo, MigrationStats, MIGRATION and
 * MIGRATION_PASS) so that QEMU's tools read them, plus godwit's own keys
 * that its CLI and daemon read. While a migration runs, the figures come
 * from the counters its thread publishes part by part (precopy.h,
 * struct migrate_live) and the stream's byte count, read here without a
 * lock: they move within a round, not only at its end. After it ended
 * they are kept, and query-migrate still answers.
 */
#include "monitor/internal.h"

#include "common/clock.h"

#define MIG_PAGE 4096ULL

static const char *mig_status_name(enum mig_status s)
{
	static const char *const names[] = { "none", "active", "completed",
					     "failed", "unconfirmed" };

	return names[s];
}

static void put_int(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void put_ms(struct json_object *o, const char *key, uint64_t ns)
{
	json_object_object_add(o, key, json_object_new_double(ns / 1e6));
}

struct json_object *monitor_mig_event_data(struct mig_info *mi)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(
		o, "status",
		json_object_new_string(mig_status_name(mi->status)));
	if (mi->error[0])
		json_object_object_add(o, "error",
				       json_object_new_string(mi->error));
	if (mi->status == MIG_COMPLETED && mi->downtime_known)
		put_ms(o, "downtime-ms", mi->downtime_ns);
	put_ms(o, "total-time-ms", mi->total_ns);
	json_object_object_add(o, "rounds",
			       json_object_new_int(mi->res.rounds));
	put_int(o, "bytes", mi->res.bytes);
	return o;
}

/*
 * QEMU's pass counts dirty-bitmap syncs from 1 (the first pass sends
 * everything); godwit's round counts pre-copy rounds from 0.
 */
struct json_object *monitor_mig_pass_data(const struct migrate_round *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "pass", json_object_new_int(r->round + 1));
	json_object_object_add(o, "round", json_object_new_int(r->round));
	put_int(o, "pages-sent", r->pages_sent);
	put_int(o, "pages-dirtied", r->pages_dirtied);
	json_object_object_add(o, "mbps",
			       json_object_new_double(r->bandwidth_bps / 1e6));
	json_object_object_add(
		o, "dirty-mbps",
		json_object_new_double(r->dirty_rate_pps * MIG_PAGE / 1e6));
	put_ms(o, "duration-ms", r->duration_ns);
	put_ms(o, "expected-downtime-ms", r->expected_downtime_ns);
	return o;
}

/* A snapshot of what the thread published, or of the last migration. */
struct mig_figures {
	struct migrate_live c;
	uint64_t transferred;
	uint64_t elapsed_ns;
	uint64_t setup_ns;
	bool active;
};

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void figures(struct monitor *m, struct mig_figures *f)
{
	struct mig_job *job = m->mig;
	const struct migrate_live *c = job ? &job->counters : NULL;

	if (!job) {
		*f = (struct mig_figures){ .c = m->mig_info.counters,
					   .transferred =
						   m->mig_info.transferred,
					   .elapsed_ns = m->mig_info.total_ns,
					   .setup_ns = m->mig_info.setup_ns };
		return;
	}
	f->active = true;
	f->c.normal_pages = load(&c->normal_pages);
	f->c.zero_pages = load(&c->zero_pages);
	f->c.dirty_syncs = load(&c->dirty_syncs);
	f->c.pass = load(&c->pass);
	f->c.pass_left = load(&c->pass_left);
	f->c.dirty_rate_pps = load(&c->dirty_rate_pps);
	f->c.precopy_bytes = load(&c->precopy_bytes);
	f->transferred = load(&job->stream.offset);
	f->setup_ns = load(&job->setup_ns);
	f->elapsed_ns = time_mono_ns() - job->start_ns;
}

/* MigrationStats: what godwit can fill, the rest zero as QEMU has it. */
static struct json_object *ram_stats(struct monitor *m,
				     const struct mig_figures *f)
{
	struct json_object *ram = json_object_new_object();
	uint64_t pages = f->c.normal_pages + f->c.zero_pages;
	double secs = f->elapsed_ns ? f->elapsed_ns / 1e9 : 0;
	/* Set at the pause (the header went first, so never 0 by then). */
	uint64_t pre = f->c.precopy_bytes;
	bool paused_part = pre != 0;

	put_int(ram, "transferred", f->transferred);
	put_int(ram, "remaining", f->active ? f->c.pass_left * MIG_PAGE : 0);
	put_int(ram, "total", m->mig_info.total_pages * MIG_PAGE);
	put_int(ram, "duplicate", f->c.zero_pages);
	put_int(ram, "skipped", 0);
	put_int(ram, "normal", f->c.normal_pages);
	put_int(ram, "normal-bytes", f->c.normal_pages * MIG_PAGE);
	put_int(ram, "dirty-pages-rate", f->c.dirty_rate_pps);
	/* Megabits per second, as QEMU counts them. */
	json_object_object_add(
		ram, "mbps",
		json_object_new_double(secs ? f->transferred * 8 / secs / 1e6 :
					      0));
	put_int(ram, "dirty-sync-count", f->c.dirty_syncs);
	put_int(ram, "postcopy-requests", 0);
	put_int(ram, "page-size", MIG_PAGE);
	put_int(ram, "multifd-bytes", 0);
	put_int(ram, "pages-per-second", secs ? pages / secs : 0);
	put_int(ram, "precopy-bytes", paused_part ? pre : f->transferred);
	put_int(ram, "downtime-bytes",
		paused_part && f->transferred > pre ? f->transferred - pre : 0);
	put_int(ram, "postcopy-bytes", 0);
	put_int(ram, "dirty-sync-missed-zero-copy", 0);
	return ram;
}

struct json_object *monitor_mig_query_data(struct monitor *m)
{
	struct mig_info *mi = &m->mig_info;
	struct mig_figures f = { 0 };
	struct json_object *o;

	figures(m, &f);
	mi->total_ns = f.elapsed_ns;
	o = monitor_mig_event_data(mi);
	if (mi->status == MIG_NONE)
		return o;
	json_object_object_add(o, "ram", ram_stats(m, &f));
	put_int(o, "total-time", f.elapsed_ns / NSEC_PER_MSEC);
	put_int(o, "setup-time", f.setup_ns / NSEC_PER_MSEC);
	if (f.active)
		put_int(o, "expected-downtime",
			mi->last.expected_downtime_ns / NSEC_PER_MSEC);
	if (mi->status == MIG_COMPLETED && mi->downtime_known)
		put_int(o, "downtime", mi->downtime_ns / NSEC_PER_MSEC);
	if (mi->error[0])
		json_object_object_add(o, "error-desc",
				       json_object_new_string(mi->error));
	/* godwit's own, read by its CLI's job-info. */
	json_object_object_add(o, "round", json_object_new_int(f.c.pass));
	put_ms(o, "expected-downtime-ms", mi->last.expected_downtime_ns);
	return o;
}
