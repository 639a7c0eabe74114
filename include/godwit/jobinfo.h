/*
 * libgodwit-client: a domain's save or migration seen as a job, in the
 * terms of virsh domjobinfo (client.h has the conventions).
 */
#ifndef GODWIT_JOBINFO_H
#define GODWIT_JOBINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include <godwit/api.h>
#include <godwit/client.h>

#ifdef __cplusplus
extern "C" {
#endif

/* virsh's job types: unbounded while it runs, then how it ended. */
enum godwit_job_type {
	GODWIT_JOB_NONE,
	GODWIT_JOB_UNBOUNDED,
	GODWIT_JOB_COMPLETED,
	GODWIT_JOB_FAILED,
	GODWIT_JOB_UNCONFIRMED, /* handed over, no confirmation */
};

/* A job's figures; each has_* says whether the one after it is known. */
struct godwit_job {
	enum godwit_job_type type;
	char operation[GODWIT_WORD_MAX]; /* "save", "outgoing migration" */
	char status[GODWIT_WORD_MAX];
	char target[GODWIT_PATH_MAX]; /* save file or HOST:PORT, "" unknown */
	char error[GODWIT_ERROR_MAX];
	bool has_time_elapsed;
	double time_elapsed_ms;
	bool has_data_processed, has_data_remaining, has_data_total;
	int64_t data_processed, data_remaining, data_total; /* bytes */
	bool has_memory_processed, has_memory_remaining, has_memory_total;
	int64_t memory_processed, memory_remaining, memory_total; /* bytes */
	bool has_bandwidth;
	double memory_bandwidth_mbps;
	bool has_dirty_rate;
	int64_t dirty_rate_pps;
	bool has_iteration;
	int64_t iteration;
	bool has_expected_downtime;
	double expected_downtime_ms;
	bool has_downtime;
	double downtime_ms;
	bool has_cpu_throttle; /* a migration: virsh's "Auto converge" */
	int64_t cpu_throttle_pct;
};

/*
 * dom's save or migration in progress, or the last one: godwitd's
 * job-info, or on a VM's socket its query-migrate (if it migrated) else
 * query-save. Either way the reply's ret is job-info's answer:
 * godwit_decode_job.
 */
int godwit_job_info(struct godwit_conn *conn, const char *dom, int timeout_ms,
		    godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;
int godwit_decode_job(struct json_object *ret, struct godwit_job *out,
		      char *err, size_t errlen) GODWIT_MUST_CHECK;
/* Print job as virsh domjobinfo does, one "Label:  value" per line. */
void godwit_job_print(FILE *f, const struct godwit_job *job);

/*
 * Cancel dom's save or migration (before the handover); the domain goes
 * on as it was. On a VM's socket: save-cancel if a save runs, else
 * migrate_cancel.
 */
int godwit_job_abort(struct godwit_conn *conn, const char *dom, int timeout_ms,
		     godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
