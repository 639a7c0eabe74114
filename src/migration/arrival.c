/*
 * An arrival's record: id, outcome, outcome file, and the QUERY server of
 * a standalone receiver. The server answers one connection at a time,
 * each within a short deadline, so a client that sends nothing cannot
 * hold it for long; exactly one migration arrives per process, so any
 * connection that does not start with a QUERY is closed at once.
 */
#include "migration/arrival.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "format/record.h"
#include "migration/handover.h"
#include "migration/query.h"
#include "migration/transport/stream.h"
#include "migration/transport/tls.h"

/* How long a client may take to send its QUERY. */
#define ARRIVAL_QUERY_MS 1000

int arrival_new_id(uint64_t *id_out)
{
	uint64_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return errno == EINTR ? -EINTR : -EIO;
	*id_out = id;
	return 0;
}

void arrival_init(struct arrival *a, uint64_t id, const char *outcome_file)
{
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->outcome = HANDOVER_OUTCOME_PENDING;
	a->lfd = a->stop_fd = -1;
	if (outcome_file)
		snprintf(a->outcome_file, sizeof(a->outcome_file), "%s",
			 outcome_file);
}

uint32_t arrival_outcome(const struct arrival *a)
{
	return __atomic_load_n(&a->outcome, __ATOMIC_ACQUIRE);
}

uint32_t arrival_answer(const struct arrival *a, uint64_t id)
{
	return id == a->id ? arrival_outcome(a) : HANDOVER_OUTCOME_UNKNOWN;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int arrival_sync(struct arrival *a)
{
	char dir[PATH_MAX];
	int rc;

	if (!a->outcome_file[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s", a->outcome_file);
	rc = fsync_path(a->outcome_file, O_RDONLY);
	return rc ? rc : fsync_path(dirname(dir), O_RDONLY | O_DIRECTORY);
}

int arrival_set(struct arrival *a, uint32_t outcome)
{
	bool discard = outcome == HANDOVER_OUTCOME_DISCARDED;
	int rc;

	__atomic_store_n(&a->outcome, outcome, __ATOMIC_RELEASE);
	if (!a->outcome_file[0])
		return 0;
	rc = file_write_replace(a->outcome_file, query_outcome_name(outcome),
				strlen(query_outcome_name(outcome)), 0644,
				discard);
	if (!rc && discard)
		rc = arrival_sync(a);
	return rc;
}

/* One connection: a QUERY within the deadline gets its OUTCOME. */
static void answer_one(struct arrival *a, int fd)
{
	struct handover_msg q, r;
	struct stream s;
	char why[160];

	if (stream_open_fd(&s, fd, true)) {
		close(fd);
		return;
	}
	if (stream_set_stall_timeout(&s, 0))
		goto out;
	stream_set_cancel_fd(&s, a->stop_fd);
	stream_set_deadline_in(&s, ARRIVAL_QUERY_MS, "the time for a QUERY");
	if (a->tls && tls_stream_server(&s, a->tls, why, sizeof(why))) {
		log_debug("QUERY: %s", why);
		goto out;
	}
	/* A first word that is not our magic: not a QUERY, close now. */
	if (stream_read(&s, &q, sizeof(q.magic)) || q.magic != HANDOVER_MAGIC)
		goto out;
	if (stream_read(&s, (char *)&q + sizeof(q.magic),
			sizeof(q) - sizeof(q.magic)) ||
	    handover_msg_check(&q, why, sizeof(why)) ||
	    q.type != HANDOVER_QUERY)
		goto out;
	handover_msg_outcome_init(&r, time_real_ns(), q.value,
				  arrival_answer(a, q.value));
	log_debug("QUERY for arrival %016llx: %s", (unsigned long long)q.value,
		  query_outcome_name(r.arg));
	if (stream_write(&s, &r, sizeof(r)))
		log_debug("cannot answer a QUERY");
out:
	stream_close(&s);
}

static void *serve_thread(void *opaque)
{
	struct arrival *a = opaque;
	struct pollfd p[2] = { { .fd = a->lfd, .events = POLLIN },
			       { .fd = a->stop_fd, .events = POLLIN } };
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			answer_one(a, fd);
	}
	return NULL;
}

int arrival_serve(struct arrival *a, int lfd)
{
	int r;

	a->lfd = lfd;
	r = fd_set_nonblock(lfd, true);
	if (r)
		return r;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0)
		return -errno;
	r = pthread_create(&a->thread, NULL, serve_thread, a);
	if (r)
		return -r;
	a->serving = true;
	return 0;
}

void arrival_destroy(struct arrival *a)
{
	if (a->serving) {
		if (stream_cancel_raise(a->stop_fd))
			log_warn("cannot stop the QUERY server");
		pthread_join(a->thread, NULL);
		a->serving = false;
	}
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	if (a->lfd >= 0)
		close(a->lfd);
	a->stop_fd = a->lfd = -1;
}
