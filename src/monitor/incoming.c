/*
 * Building a VM from a stream. The header comes first: it carries the
 * domain config the VM is created from (with the command line's serial
 * choice on top). Once the VM exists its identity is checked against the
 * header, and only then are pages and state loaded. Any failure leaves
 * nothing running: the VM is torn down and the process exits 1.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "migration/handover.h"
#include "migration/restore.h"

/* A source stalled this long mid-stream has gone away. */
#define INCOMING_IO_TIMEOUT_MS 30000

/*
 * Fault injection for the kvm suite: GODWIT_TEST_STALL=PHASE makes the
 * destination announce the phase on stderr and wait there, so a test can
 * kill it at exactly that point. Unset in normal use.
 */
static void test_stall(const char *phase)
{
	const char *want = getenv("GODWIT_TEST_STALL");

	if (!want || strcmp(want, phase))
		return;
	log_info("test: stalled %s", phase);
	for (;;)
		pause();
}

/*
 * Closing a socket with unread data makes TCP reset the connection, and a
 * reset can destroy our FAILED message before the source reads it. So
 * send FIN after it and swallow what the source still sends until it
 * stops (it does once it sees our message) or a few seconds pass.
 */
static void drain(int fd)
{
	uint64_t deadline = time_mono_ns() + 5 * NSEC_PER_SEC;
	char buf[65536];
	ssize_t r;

	shutdown(fd, SHUT_WR);
	if (handover_set_timeout(fd, 500))
		return;
	do {
		r = read(fd, buf, sizeof(buf));
	} while ((r > 0 || (r < 0 && errno == EINTR)) &&
		 time_mono_ns() < deadline);
}

/* Tell a live source why we refuse; best effort, then the VM goes. */
static void incoming_refuse(struct monitor *m, const char *why)
{
	struct incoming *in = &m->restore;

	if (!in->migration || !in->stream_open)
		return;
	/* A read error does not stop us writing the reason back. */
	in->stream.error = 0;
	if (handover_send(&in->stream, HANDOVER_FAILED, 0, -EINVAL, why)) {
		log_debug("could not tell the source why");
		return;
	}
	drain(in->fd);
}

static int fail(struct monitor *m, const struct rec_error *err)
{
	char msg[512];

	restore_describe(err, msg, sizeof(msg));
	log_err("restore %s: %s", m->restore_name, msg);
	incoming_refuse(m, msg);
	return -EINVAL;
}

/* A live source still holds the locks: they come with YOURS. */
static int incoming_disks(struct monitor *m)
{
	char why[DISK_WHY_MAX];
	int rc = monitor_disks_open(m, m->restore.migration, why, sizeof(why));

	if (rc) {
		log_err("restore %s: %s", m->restore_name, why);
		incoming_refuse(m, why);
	}
	return rc;
}

int monitor_restore_prepare(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	struct incoming *in = &m->restore;
	struct config_diag diag;
	struct rec_error err;
	int rc;

	if (!in->migration) {
		snprintf(m->restore_name, sizeof(m->restore_name), "%s",
			 o->restore_name);
		/* A save file is read once, front to back: big readahead. */
		posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	rc = stream_open_fd(&in->stream, in->fd, true);
	if (rc)
		return rc;
	in->stream_open = true;
	if (restore_read_header(&in->stream, &in->hdr, &in->config, &err))
		return fail(m, &err);
	rc = domain_config_parse(m->restore_name, in->config,
				 in->hdr.config_len, NULL, 0, &m->cfg, &diag);
	if (rc) {
		log_err("restore %s: domain config in the stream header: %s",
			m->restore_name, diag.error);
		incoming_refuse(m, diag.error);
		return rc;
	}
	for (unsigned int i = 0; i < o->nr_reject_names; i++) {
		char why[160];

		if (strcmp(m->cfg.name, o->reject_names[i]))
			continue;
		snprintf(why, sizeof(why),
			 "a domain named '%s' already exists here",
			 m->cfg.name);
		log_err("restore %s: %s", m->restore_name, why);
		incoming_refuse(m, why);
		return -EEXIST;
	}
	/* The console belongs to this host, not to the saved machine. */
	m->cfg.serial = o->serial_set ? o->serial : DOMAIN_SERIAL_STDIO;
	strcpy(m->cfg.serial_path, o->serial_set ? o->serial_path : "");
	return incoming_disks(m);
}

int monitor_restore_load(struct monitor *m)
{
	struct incoming *in = &m->restore;
	struct restore_result res;
	struct rec_error err = { .offset = 0, .type = REC_ERR_STREAM_HEADER };

	if (restore_check_identity(&m->vm, &in->hdr, err.why, sizeof(err.why)))
		return fail(m, &err);
	if (restore_vm(&in->stream, &m->vm, &m->devs, &in->hdr, &res, &err))
		return fail(m, &err);
	log_info("vm %s: restored %llu pages (%llu MiB of stream) in %llu ms",
		 m->cfg.name, (unsigned long long)res.pages,
		 (unsigned long long)(res.bytes >> 20),
		 (unsigned long long)(res.duration_ns / NSEC_PER_MSEC));
	return 0;
}

void monitor_restore_finish(struct monitor *m)
{
	struct incoming *in = &m->restore;

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
	close(lfd); /* exactly one migration per process */
	return rc;
}

int monitor_incoming_accept(struct monitor *m)
{
	struct incoming *in = &m->restore;
	int fd, rc;

	if (m->opts->incoming_fd >= 0)
		fd = m->opts->incoming_fd;
	else if ((rc = listen_and_accept(m, &fd)))
		return rc;
	if (handover_set_timeout(fd, INCOMING_IO_TIMEOUT_MS) ||
	    net_set_nodelay(fd))
		log_warn("cannot set migration socket options");
	in->fd = fd;
	in->migration = true;
	net_peer_name(fd, in->peer, sizeof(in->peer));
	snprintf(m->restore_name, sizeof(m->restore_name), "migration from %s",
		 in->peer);
	test_stall("after-accept");
	if (m->opts->incoming_listen[0])
		log_info("receiving a migration from %s", in->peer);
	return 0;
}

int monitor_incoming_handover(struct monitor *m)
{
	struct incoming *in = &m->restore;
	struct handover_msg msg;
	char why[160];
	uint64_t resumed;
	int rc;

	log_debug("downtime: restored, sending RECEIVED at %llu us",
		  (unsigned long long)(time_real_ns() / 1000 % 1000000000));
	rc = handover_send(&in->stream, HANDOVER_RECEIVED, 0, 0, NULL);
	test_stall("after-received");
	if (!rc)
		rc = handover_recv(&in->stream, &msg, why, sizeof(why));
	if (!rc && msg.type != HANDOVER_YOURS)
		rc = -EPROTO,
		snprintf(why, sizeof(why), "expected YOURS, got %s",
			 handover_type_name(msg.type));
	if (rc) {
		log_err("%s: the source did not hand the VM over (%s); discarding it",
			m->restore_name,
			rc == -EPROTO || rc == -EPIPE || rc == -EAGAIN ||
					rc == -EINVAL ?
				why :
				strerror(-rc));
		return rc;
	}
	/* Ours now: run it, then say so. */
	log_debug("downtime: YOURS at %llu us (source paused at %llu us)",
		  (unsigned long long)(time_real_ns() / 1000 % 1000000000),
		  (unsigned long long)(msg.value / 1000 % 1000000000));
	test_stall("after-yours");
	if (monitor_disks_lock(m, why, sizeof(why))) {
		/* The source takes the VM back on FAILED. */
		log_err("%s: %s; giving the VM back", m->restore_name, why);
		if (handover_send(&in->stream, HANDOVER_FAILED, 0, -EBUSY, why))
			log_debug("could not tell the source why");
		return -EBUSY;
	}
	rc = vm_start(&m->vm, m->opts->paused);
	resumed = time_real_ns();
	if (rc) {
		log_err("cannot start the received VM: %s", strerror(-rc));
		return rc;
	}
	m->state = m->opts->paused ? RUN_PAUSED : RUN_RUNNING;
	if (handover_send(&in->stream, HANDOVER_CONFIRMED, 0, 0, NULL)) {
		/* The source may take the VM back: never run it twice. */
		log_err("%s: cannot confirm to the source; stopping the VM",
			m->restore_name);
		return -ECONNRESET;
	}
	log_info("vm %s: migration from %s complete, downtime %.2f ms",
		 m->cfg.name, in->peer,
		 resumed > msg.value ? (resumed - msg.value) / 1e6 : 0.0);
	monitor_restore_finish(m);
	return 0;
}
