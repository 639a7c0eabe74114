/*
 * Building a VM from a stream. The header comes first: it carries the
 * domain config the VM is created from (with the command line's serial
 * choice on top). Once the VM exists its identity is checked against the
 * header, and only then are pages and state loaded. Any failure leaves
 * nothing running: the VM is torn down and the process exits 1.
 *
 * A migration adds the destination's glue around migration/handover.c:
 * the connection (and, with --listen, the QUERY server on the listening
 * socket, migration/arrival.c), the arrival's record, the signals that
 * stop a migration before YOURS (the signalfd is the stream's cancel
 * fd), and the points where the kvm suite stalls it.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/memcheck.h"
#include "migration/arrival.h"
#include "migration/handover.h"
#include "migration/multiconn.h"
#include "migration/restore.h"

/* How long a refused source gets to read our reason before we close. */
#define INCOMING_DRAIN_MS 5000

/*
 * Fault injection for the kvm suite: GODWIT_TEST_STALL=PHASE[:MS] makes
 * the destination announce the phase on stderr and wait there, MS
 * milliseconds or until a signal is pending (which it leaves pending for
 * the code after it to see), so a test can act at exactly that point.
 * Unset in normal use.
 */
static void test_stall(struct monitor *m, const char *phase)
{
	const char *want = getenv("GODWIT_TEST_STALL"), *colon;
	struct pollfd p = { .fd = m->signal_fd, .events = POLLIN };
	size_t len;

	if (!want)
		return;
	colon = strchr(want, ':');
	len = colon ? (size_t)(colon - want) : strlen(want);
	if (len != strlen(phase) || strncmp(want, phase, len))
		return;
	log_info("test: stalled %s", phase);
	while (poll(&p, 1, colon ? atoi(colon + 1) : -1) < 0 && errno == EINTR)
		;
}

/* Tell a live source why we refuse (once); best effort, then it goes. */
static void incoming_refuse(struct monitor *m, const char *why)
{
	struct incoming *in = &m->incoming;

	if (!in->migration || !in->stream_open || in->refused)
		return;
	in->refused = true;
	monitor_incoming_abandon(m);
	handover_refuse(&in->stream, why, INCOMING_DRAIN_MS);
}

void monitor_incoming_refuse(struct monitor *m, const char *why)
{
	incoming_refuse(m, why);
}

/* What went wrong, in one line: the stream's limits name themselves. */
static void describe(struct monitor *m, const struct rec_error *err, char *msg,
		     size_t len)
{
	struct stream *s = &m->incoming.stream;
	char why[160];
	size_t n;

	if (s->error == -ECANCELED) {
		snprintf(msg, len, "%s",
			 m->incoming.migration ?
				 "the destination is shutting down" :
				 "interrupted by a signal");
		return;
	}
	restore_describe(err, msg, len);
	n = strlen(msg);
	if (s->error == -ETIMEDOUT && n < len)
		snprintf(msg + n, len - n, " (%s)",
			 stream_error_text(s, why, sizeof(why)));
}

static int fail(struct monitor *m, const struct rec_error *err)
{
	char msg[512];

	describe(m, err, msg, sizeof(msg));
	log_err("restore %s: %s", m->incoming_name, msg);
	incoming_refuse(m, msg);
	return m->incoming.stream.error == -ECANCELED ? -ECANCELED : -EINVAL;
}

/*
 * Bounded waits: a migration's source that sends nothing for the stall
 * timeout has gone; a signal (the signalfd as cancel fd) stops a restore
 * or a migration at once, which then is refused.
 */
static int incoming_limits(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	int rc;

	rc = stream_set_stall_timeout(&in->stream,
				      in->migration ? m->opts->stall_ms : 0);
	if (rc)
		return rc;
	stream_set_cancel_fd(&in->stream, m->signal_fd);
	return 0;
}

/* A live source still holds the locks: they come with YOURS. */
static int incoming_disks(struct monitor *m)
{
	char why[DISK_WHY_MAX];
	int rc = monitor_leases_setup(m, why, sizeof(why));

	if (!rc)
		rc = monitor_disks_open(m, m->incoming.migration, why,
					sizeof(why));
	if (rc) {
		log_err("restore %s: %s", m->incoming_name, why);
		snprintf(m->start_error, sizeof(m->start_error), "%s", why);
		incoming_refuse(m, why);
	}
	return rc;
}

/* The taps and their scripts, before RECEIVED: no cost in downtime. */
static int incoming_nics(struct monitor *m)
{
	char why[512];
	int rc = monitor_nics_open(m, why, sizeof(why));

	if (rc) {
		log_err("restore %s: %s", m->incoming_name, why);
		incoming_refuse(m, why);
	}
	return rc;
}

/*
 * Refuse a VM whose RAM the host or our cgroup cannot hold, rather than
 * take it and let the OOM killer end this VMM, or another process of
 * the cgroup, later (godwitd checks for its VMMs: --overcommit).
 */
static int incoming_memory(struct monitor *m)
{
	struct memcheck_view v;
	char why[300];
	int rc;

	if (m->opts->overcommit)
		return 0;
	memcheck_view_read(&v);
	rc = memcheck_admit(
		&v, ((uint64_t)m->cfg.memory_mib << 20) + MEMCHECK_VMM_OVERHEAD,
		why, sizeof(why));
	if (rc) {
		log_err("restore %s: %s (--overcommit takes it all the same)",
			m->incoming_name, why);
		incoming_refuse(m, why);
	}
	return rc;
}

int monitor_incoming_prepare(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	struct incoming *in = &m->incoming;
	struct config_diag diag;
	struct rec_error err;
	int rc;

	if (!in->migration) {
		snprintf(m->incoming_name, sizeof(m->incoming_name), "%s",
			 o->restore_name);
		/* A save file is read once, front to back: big readahead. */
		posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	rc = stream_open_fd_pair(&in->stream, in->fd, in->wfd,
				 !o->incoming_stdio);
	if (rc)
		return rc;
	in->stream_open = true;
	rc = incoming_limits(m);
	if (!rc)
		rc = monitor_incoming_transport(m);
	if (rc)
		return rc;
	if (restore_read_header(&in->stream, &in->hdr, &in->config, &err))
		return fail(m, &err);
	rc = domain_config_parse(m->incoming_name, in->config,
				 in->hdr.config_len, NULL, 0, &m->cfg, &diag);
	if (rc) {
		log_err("restore %s: domain config in the stream header: %s",
			m->incoming_name, diag.error);
		incoming_refuse(m, diag.error);
		return rc;
	}
	monitor_log_identity(m);
	for (unsigned int i = 0; i < o->nr_reject_names; i++) {
		char why[160];

		if (strcmp(m->cfg.name, o->reject_names[i]))
			continue;
		snprintf(why, sizeof(why),
			 "a domain named '%s' already exists here",
			 m->cfg.name);
		log_err("restore %s: %s", m->incoming_name, why);
		incoming_refuse(m, why);
		return -EEXIST;
	}
	rc = incoming_memory(m);
	if (rc)
		return rc;
	/* The console belongs to this host, not to the saved machine. */
	m->cfg.serial = o->serial_set ? o->serial : DOMAIN_SERIAL_STDIO;
	strcpy(m->cfg.serial_path, o->serial_set ? o->serial_path : "");
	rc = incoming_disks(m);
	return rc ? rc : incoming_nics(m);
}

int monitor_incoming_load(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	struct restore_result res;
	struct rec_error err = { .offset = 0, .type = REC_ERR_STREAM_HEADER };
	struct leaserec_set leases;
	struct multiconn_rx mc;

	if (restore_check_identity(&m->vm, &in->hdr, err.why, sizeof(err.why)))
		return fail(m, &err);
	if (monitor_lazy_prepare(m))
		return -ENOMEM;
	leases.nr = 0;
	multiconn_rx_init(&mc, in->arrival.inbox, &in->stream,
			  m->opts->stall_ms, m->signal_fd);
	if (restore_vm_multi(&in->stream, &m->vm, &m->devs, &in->hdr,
			     in->migration ? &in->postcopy : NULL,
			     in->lazy_on ? &in->lazy : NULL, &leases,
			     in->migration ? &mc : NULL, &res, &err))
		return fail(m, &err);
	if (monitor_leases_recorded(m, &leases, err.why, sizeof(err.why))) {
		log_err("restore %s: %s", m->incoming_name, err.why);
		incoming_refuse(m, err.why);
		return -EINVAL;
	}
	if (monitor_lazy_start(m))
		return -EIO;
	if (in->lazy_on)
		log_info(
			"vm %s: restored its state in %llu ms (%llu MiB of stream, pages on demand)",
			m->cfg.name,
			(unsigned long long)(res.duration_ns / NSEC_PER_MSEC),
			(unsigned long long)(res.bytes >> 20));
	else
		log_info(
			"vm %s: restored %llu pages (%llu MiB of stream%s) in %llu ms",
			m->cfg.name, (unsigned long long)res.pages,
			(unsigned long long)(res.bytes >> 20),
			res.zstd_batches ? ", zstd" : "",
			(unsigned long long)(res.duration_ns / NSEC_PER_MSEC));
	return 0;
}

void monitor_incoming_finish(struct monitor *m)
{
	struct incoming *in = &m->incoming;

	if (in->stream_open)
		stream_close(&in->stream);
	in->stream_open = false;
	free(in->config);
	in->config = NULL;
}

/* ---- receiving a live migration ---- */

/* Wait for the source, but let SIGTERM/SIGINT end the wait. */
static int accept_one(struct monitor *m, int lfd, int *fd_out)
{
	struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
			       { .fd = m->signal_fd, .events = POLLIN } };
	int r;

	for (;;) {
		r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[1].revents) {
			log_err("interrupted while waiting for a migration");
			return -EINTR;
		}
		r = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (r >= 0)
			break;
		if (errno != EINTR && errno != ECONNABORTED)
			return -errno;
	}
	*fd_out = r;
	return 0;
}

/*
 * Accept the migration; the listening socket stays open for QUERY (the
 * arrival's server) and refuses any second migration.
 */
static int listen_and_accept(struct monitor *m, int *fd_out)
{
	char host[NET_HOST_MAX];
	uint16_t port;
	int lfd, rc;

	rc = net_parse_hostport(m->opts->incoming_listen, host, sizeof(host),
				&port, NET_DEFAULT_PORT);
	if (rc) {
		log_err("--listen %s: expected ADDR[:PORT]",
			m->opts->incoming_listen);
		return rc;
	}
	rc = net_listen(host, port, &lfd);
	if (rc) {
		log_err("cannot listen on %s port %u: %s", host, port,
			strerror(-rc));
		return rc;
	}
	log_info("waiting for a migration on %s port %u", host, port);
	rc = accept_one(m, lfd, fd_out);
	if (!rc)
		rc = arrival_serve(&m->incoming.arrival, lfd);
	else
		close(lfd);
	if (rc && rc != -EINTR)
		log_err("cannot answer QUERY on %s port %u: %s", host, port,
			strerror(-rc));
	return rc;
}

int monitor_incoming_accept(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	uint64_t id = m->opts->arrival_id;
	int fd, rc;

	if (!id && (rc = arrival_new_id(&id))) {
		log_err("cannot choose an arrival id: %s", strerror(-rc));
		return rc;
	}
	arrival_init(&in->arrival, id, m->opts->outcome_file);
	if (m->opts->tls) {
		in->tls =
			(struct tls_opts){ .dir = m->opts->tls_dir,
					   .nr_allow_names =
						   m->opts->nr_tls_allow,
					   .handshake_ms = m->opts->stall_ms };
		memcpy(in->tls.allow_names, m->opts->tls_allow,
		       sizeof(m->opts->tls_allow));
		in->arrival.tls = &in->tls;
	}
	/* On our listening socket we take a migration's extra connections. */
	if (m->opts->incoming_fd < 0 && !m->opts->incoming_stdio)
		in->arrival.inbox = conn_inbox_new();
	in->wfd = m->opts->incoming_stdio ? STDOUT_FILENO : -1;
	if (m->opts->incoming_stdio)
		fd = STDIN_FILENO;
	else if (m->opts->incoming_fd >= 0)
		fd = m->opts->incoming_fd;
	else if ((rc = listen_and_accept(m, &fd)))
		return rc;
	if (!m->opts->incoming_stdio && net_set_nodelay(fd))
		log_warn("cannot set migration socket options");
	in->fd = fd;
	if (in->wfd < 0)
		in->wfd = fd;
	in->migration = true;
	if (m->opts->incoming_stdio)
		snprintf(in->peer, sizeof(in->peer), "stdio (ssh)");
	else
		net_peer_name(fd, in->peer, sizeof(in->peer));
	snprintf(m->incoming_name, sizeof(m->incoming_name),
		 "migration from %s", in->peer);
	test_stall(m, "after-accept");
	if (m->opts->incoming_listen[0])
		log_info("receiving a migration from %s", in->peer);
	return 0;
}

/* ---- the handover's ops (migration/handover.c) ---- */

static void ho_owned(void *opaque)
{
	struct monitor *m = opaque;
	int rc;

	log_debug("downtime: YOURS at %llu us",
		  (unsigned long long)(time_real_ns() / 1000 % 1000000000));
	rc = arrival_set(&m->incoming.arrival, HANDOVER_OUTCOME_RUNNING);
	if (rc)
		log_err("%s: cannot record RUNNING in %s: %s", m->incoming_name,
			m->opts->outcome_file, strerror(-rc));
}

/*
 * The source let go of the disks before YOURS: they are ours now. Its
 * leases too, at its final pause: acquired with the generations it
 * recorded, so a lease taken in between gives the VM back. In post-copy
 * the missing regions are ours to fetch from here on.
 */
static int ho_claim(void *opaque, char *why, size_t whylen)
{
	struct monitor *m = opaque;
	int rc = monitor_disks_lock(m, why, whylen);
	uint64_t t0 = time_mono_ns();

	if (rc || m->user_paused)
		return rc ? rc : monitor_postcopy_claim(m, why, whylen);
	rc = monitor_leases_acquire(m, why, whylen);
	log_debug("downtime: leases acquired in %llu us",
		  (unsigned long long)(time_mono_ns() - t0) / 1000);
	return rc ? rc : monitor_postcopy_claim(m, why, whylen);
}

static int start_vcpus(struct monitor *m)
{
	int rc = vm_start(&m->vm, m->user_paused);

	if (!rc)
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	return rc;
}

/* The network learns where the VM is now, as its vCPUs start. */
static int ho_resume(void *opaque)
{
	return monitor_nics_resume(opaque, start_vcpus);
}

static void ho_discard(void *opaque, const char *why)
{
	struct monitor *m = opaque;

	log_err("%s: %s; discarding the VM", m->incoming_name, why);
	monitor_incoming_abandon(m);
}

static void ho_at(void *opaque, const char *phase)
{
	test_stall(opaque, phase);
}

static const struct handover_dest_ops ho_ops = {
	.claim = ho_claim,
	.owned = ho_owned,
	.resume = ho_resume,
	.discard = ho_discard,
	.at = ho_at,
};

int monitor_incoming_handover(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	struct handover_dest h = { .arrival_id = in->arrival.id,
				   .yours_ms = m->opts->stall_ms };
	uint64_t pause;
	int rc;

	/* Shared storage: before RECEIVED, so a failure comes before YOURS
	 * and the source keeps the VM (disk_steps.c). */
	rc = monitor_disks_activate(m, h.why, sizeof(h.why));
	if (rc) {
		log_err("%s: %s", m->incoming_name, h.why);
		incoming_refuse(m, h.why);
		return rc;
	}
	test_stall(m, "before-received");
	/* From RECEIVED on a source that lost us may ask about this id. */
	in->arrival.disclosed = true;
	rc = handover_dest_run(&in->stream, &h, &ho_ops, m);
	if (rc) {
		if (h.source_pause_real_ns) /* ours, but it cannot run */
			log_err("%s: %s", m->incoming_name, h.why);
		return rc;
	}
	if (arrival_sync(&in->arrival))
		log_warn("cannot sync %s", m->opts->outcome_file);
	pause = h.source_pause_real_ns;
	log_info("vm %s: migration from %s complete%s, downtime %.2f ms",
		 m->cfg.name, in->peer, h.confirmed ? "" : " (not confirmed)",
		 h.resumed_real_ns > pause ? (h.resumed_real_ns - pause) / 1e6 :
					     0.0);
	monitor_incoming_finish(m);
	return 0;
}

/*
 * The VM is given up before YOURS (or never got that far): DISCARDED is
 * recorded before the connection closes. Idempotent.
 */
void monitor_incoming_abandon(struct monitor *m)
{
	struct arrival *a = &m->incoming.arrival;
	int rc;

	if (!m->incoming.migration ||
	    arrival_outcome(a) != HANDOVER_OUTCOME_PENDING)
		return;
	rc = arrival_set(a, HANDOVER_OUTCOME_DISCARDED);
	if (rc)
		log_err("%s: cannot record DISCARDED in %s: %s",
			m->incoming_name, m->opts->outcome_file, strerror(-rc));
}

/*
 * After giving the VM up: close the connection, and if a source may be
 * asking about this arrival (RECEIVED went out) and we answer QUERY
 * ourselves, answer DISCARDED for a while (or until a signal) first.
 */
void monitor_incoming_linger(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	struct pollfd p = { .fd = m->signal_fd, .events = POLLIN };
	struct signalfd_siginfo si;

	monitor_incoming_abandon(m);
	monitor_incoming_finish(m);
	if (!in->arrival.serving || !in->arrival.disclosed ||
	    !m->opts->linger_s)
		return;
	log_info(
		"answering DISCARDED for arrival %016llx for %u s (a signal ends it)",
		(unsigned long long)in->arrival.id, m->opts->linger_s);
	/* A signal that stopped the migration is handled: only a new one
	 * cuts the wait short. */
	while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si))
		;
	while (poll(&p, 1, m->opts->linger_s * 1000) < 0 && errno == EINTR)
		;
}
