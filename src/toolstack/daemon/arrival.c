/* Arrival ids and outcomes: see arrival.h. */
#include "toolstack/daemon/arrival.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "format/stream_format.h"
#include "toolstack/daemon/daemon.h"

uint32_t arrival_parse_word(const char *text, size_t len)
{
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len == 7 && !memcmp(text, "RUNNING", 7))
		return HANDOVER_OUTCOME_RUNNING;
	if (len == 9 && !memcmp(text, "DISCARDED", 9))
		return HANDOVER_OUTCOME_DISCARDED;
	return 0;
}

const char *arrival_word(uint32_t outcome)
{
	return outcome == HANDOVER_OUTCOME_RUNNING   ? "RUNNING" :
	       outcome == HANDOVER_OUTCOME_DISCARDED ? "DISCARDED" :
						       "";
}

/* The word in file path, or 0 (absent, unreadable, anything else). */
static uint32_t read_word(const char *path)
{
	size_t len = 0;
	void *text = NULL;
	uint32_t w = 0;

	if (path[0] && !file_read_all(path, 64, &text, &len))
		w = arrival_parse_word(text, len);
	free(text);
	return w;
}

static int record_path(struct gwd *g, uint64_t id, char *buf, size_t len)
{
	return str_printf(buf, len, "%s/arrivals/%016llx", g->paths.state_dir,
			  (unsigned long long)id);
}

int arrival_assign(struct dom *d)
{
	uint64_t id = 0;
	int rc;

	if (!d->gwd->vmm_arrival_ids)
		return 0;
	while (!id) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return -errno;
	}
	rc = str_printf(d->rec.outcome_file, sizeof(d->rec.outcome_file),
			"%s/outcome", d->rec.dir);
	if (!rc)
		d->rec.arrival_id = id;
	return rc;
}

uint32_t arrival_outcome(struct gwd *g, uint64_t id)
{
	char path[PATH_MAX];
	struct dom *d;
	uint32_t w;

	for (d = g->doms; d && id; d = d->next) {
		if (d->rec.arrival_id != id)
			continue;
		w = read_word(d->rec.outcome_file);
		if (w)
			return w;
		/* Its VMM may still write RUNNING; once it is gone, not. */
		return d->pid > 0 ? HANDOVER_OUTCOME_PENDING :
				    HANDOVER_OUTCOME_DISCARDED;
	}
	if (!id || record_path(g, id, path, sizeof(path)))
		return HANDOVER_OUTCOME_UNKNOWN;
	w = read_word(path);
	return w ? w : HANDOVER_OUTCOME_UNKNOWN;
}

bool arrival_landing(struct gwd *g)
{
	struct dom *d;

	/* Registered is not enough: it answers commands once LIVE. */
	for (d = g->doms; d; d = d->next)
		if (d->state == DOM_STARTING && d->pid > 0 &&
		    d->rec.arrival_id &&
		    read_word(d->rec.outcome_file) == HANDOVER_OUTCOME_RUNNING)
			return true;
	return false;
}

void arrival_prune(struct gwd *g)
{
	uint64_t now = time_real_ns() / NSEC_PER_SEC;
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *e;
	struct stat st;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/arrivals", g->paths.state_dir);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!stat(path, &st) &&
		    (uint64_t)st.st_mtime + ARRIVAL_KEEP_S < now)
			unlink(path);
	}
	closedir(dp);
}

void arrival_keep(struct dom *d)
{
	struct gwd *g = d->gwd;
	char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 8];
	uint32_t w;
	int rc;

	if (!d->rec.arrival_id || d->pid > 0)
		return;
	w = read_word(d->rec.outcome_file) == HANDOVER_OUTCOME_RUNNING ?
		    HANDOVER_OUTCOME_RUNNING :
		    HANDOVER_OUTCOME_DISCARDED;
	snprintf(dir, sizeof(dir), "%s/arrivals", g->paths.state_dir);
	rc = mkdir_p(dir, 0700);
	if (!rc)
		rc = record_path(g, d->rec.arrival_id, path, sizeof(path));
	if (!rc)
		rc = file_write_atomic(path, arrival_word(w),
				       strlen(arrival_word(w)), 0600);
	if (rc)
		log_err("arrival %016llx: cannot keep its outcome (%s) in %s: %s",
			(unsigned long long)d->rec.arrival_id, arrival_word(w),
			dir, strerror(-rc));
	else
		log_debug("arrival %016llx: %s",
			  (unsigned long long)d->rec.arrival_id,
			  arrival_word(w));
	unlink(d->rec.outcome_file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->rec.outcome_file);
	unlink(tmp);
	d->rec.arrival_id = 0;
	d->rec.outcome_file[0] = 0;
	arrival_prune(g);
}
