/*
 * What the migration's events and query-migrate say, in QEMU's schema
 * (qapi/migration.json: MigrationInfo, MigrationStats, MIGRATION and
 * MIGRATION_PASS) so that QEMU's tools read them, plus godwit's own keys
 * that its CLI and daemon read; the messages are rpc/msg_migrate.h's.
 * While a migration runs, the figures come from the counters its thread
 * publishes part by part (precopy.h, struct precopy_live) and the
 * stream's byte count, read here without a lock: they move within a
 * round, not only at its end. After it ended they are kept, and
 * query-migrate still answers.
 */
#include "monitor/internal.h"

#include <stdio.h>

#include "common/clock.h"
#include "rpc/msg_migrate.h"

#define MIG_PAGE 4096ULL

static void mig_status(const struct mig_info *mi, struct rpc_migration *out)
{
	rpc_msg_init(&rpc_msg_migration, out);
	out->status = (int)mi->status;
	snprintf(out->error, sizeof(out->error), "%s", mi->error);
	out->has_downtime = mi->status == MIG_COMPLETED && mi->downtime_known;
	out->downtime_ms = mi->downtime_ns / 1e6;
	out->total_time_ms = mi->total_ns / 1e6;
	out->rounds = mi->res.rounds;
	out->bytes = mi->res.bytes;
	out->postcopy = mi->res.postcopy;
	/* The most the vCPUs were throttled (query-migrate: right now). */
	out->cpu_throttle_pct = mi->res.throttle_pct;
}

struct json_object *monitor_mig_event_data(struct mig_info *mi)
{
	struct rpc_migration e;

	mig_status(mi, &e);
	return rpc_msg_encode(&rpc_msg_migration, &e);
}

/*
 * QEMU's pass counts dirty-bitmap syncs from 1 (the first pass sends
 * everything); godwit's round counts pre-copy rounds from 0.
 */
struct json_object *monitor_mig_pass_data(const struct precopy_round *r)
{
	struct rpc_mig_round e = {
		.pass = r->round + 1,
		.round = r->round,
		.pages_sent = r->pages_sent,
		.pages_dirtied = r->pages_dirtied,
		.mbps = r->bandwidth_bps / 1e6,
		.dirty_mbps = r->dirty_rate_pps * MIG_PAGE / 1e6,
		.duration_ms = r->duration_ns / 1e6,
		.expected_downtime_ms = r->expected_downtime_ns / 1e6,
		.cpu_throttle_pct = r->throttle_pct,
	};

	return rpc_msg_encode(&rpc_msg_mig_round, &e);
}

/* A snapshot of what the thread published, or of the last migration. */
struct mig_figures {
	struct precopy_live c;
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
	const struct precopy_live *c = job ? &job->counters : NULL;

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
static void ram_stats(struct monitor *m, const struct mig_figures *f,
		      struct rpc_mig_ram *ram)
{
	uint64_t pages = f->c.normal_pages + f->c.zero_pages;
	double secs = f->elapsed_ns ? f->elapsed_ns / 1e9 : 0;
	/* Set at the pause (the header went first, so never 0 by then). */
	uint64_t pre = f->c.precopy_bytes;
	bool paused_part = pre != 0;

	ram->transferred = f->transferred;
	ram->remaining = f->active ? f->c.pass_left * MIG_PAGE : 0;
	ram->total = m->mig_info.total_pages * MIG_PAGE;
	ram->duplicate = f->c.zero_pages;
	ram->normal = f->c.normal_pages;
	ram->normal_bytes = f->c.normal_pages * MIG_PAGE;
	ram->dirty_pages_rate = f->c.dirty_rate_pps;
	/* Megabits per second, as QEMU counts them. */
	ram->mbps = secs ? f->transferred * 8 / secs / 1e6 : 0;
	ram->dirty_sync_count = f->c.dirty_syncs;
	ram->page_size = MIG_PAGE;
	ram->pages_per_second = secs ? pages / secs : 0;
	ram->precopy_bytes = paused_part ? pre : f->transferred;
	ram->downtime_bytes =
		paused_part && f->transferred > pre ? f->transferred - pre : 0;
}

struct json_object *monitor_mig_query_data(struct monitor *m)
{
	struct mig_info *mi = &m->mig_info;
	struct mig_figures f = { 0 };
	struct rpc_migration q;

	figures(m, &f);
	mi->total_ns = f.elapsed_ns;
	mig_status(mi, &q);
	if (mi->status == MIG_NONE)
		return rpc_msg_encode(&rpc_msg_migration, &q);
	q.has_ram = true;
	ram_stats(m, &f, &q.ram);
	q.has_total_time = q.has_setup_time = true;
	q.total_time = f.elapsed_ns / NSEC_PER_MSEC;
	q.setup_time = f.setup_ns / NSEC_PER_MSEC;
	q.has_qemu_expected_downtime = f.active;
	q.qemu_expected_downtime =
		mi->last.expected_downtime_ns / NSEC_PER_MSEC;
	q.has_qemu_downtime = q.has_downtime;
	q.qemu_downtime = mi->downtime_ns / NSEC_PER_MSEC;
	snprintf(q.error_desc, sizeof(q.error_desc), "%s", mi->error);
	/* godwit's own, read by job-info. */
	q.has_round = q.has_expected_downtime = true;
	q.round = f.c.pass;
	q.expected_downtime_ms = mi->last.expected_downtime_ns / 1e6;
	if (f.active)
		q.cpu_throttle_pct = mi->last.throttle_pct; /* right now */
	return rpc_msg_encode(&rpc_msg_migration, &q);
}
