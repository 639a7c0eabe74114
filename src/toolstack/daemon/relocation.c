/*
 * The relocation server, xend's port 8002: accepts TCP connections from
 * the hosts the allow-list admits and hands each migration, as fd 3, to
 * a new `godwit migrate-receive --incoming-fd 3` process, which receives
 * it (the handover with the source included) and refuses a VM whose
 * name is already taken here. The daemon closes its copy of the socket
 * at once and treats the receiver as an arrival (attach.c): once its
 * control socket answers, the VM is here and is registered; if the
 * receiver ends first, its exit file says why and the arrival is dropped.
 *
 * Nothing is done for a connection (no process, no file, no registry
 * entry) before its first bytes say what it is (preamble.h), peeked so
 * the receiver still reads the stream from its first byte:
 *
 *   accept -> allow-list -> per-peer and total limits of connections
 *   still to speak -> wait (SO_RCVLOWAT: woken when enough bytes are
 *   there, or at the header deadline) -> stream header: memory check,
 *   then a receiver | QUERY: one OUTCOME, closed | else: closed.
 *
 * A stream refused here (not enough memory) gets a handover FAILED with
 * the reason, as the receiver would send it; the rest of what the
 * source sends is read and dropped until it stops, so that the reason
 * is not lost to a TCP reset.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "format/record.h"
#include "toolstack/daemon/allow.h"
#include "toolstack/daemon/arrival.h"
#include "toolstack/daemon/preamble.h"
#include "toolstack/daemon/reloc_tls.h"

#define RELOC_ACCEPTS_PER_WAKEUP 16
/* Connections still to send their first bytes, in all and per peer. */
#define RELOC_PENDING_MAX 64
#define RELOC_PENDING_PER_PEER 8
/* How long a refused source may take to stop sending. */
#define RELOC_DRAIN_MS 5000
/* The same for a peer the allow-list does not admit: just long enough. */
#define RELOC_DENIED_DRAIN_MS 1000
/* Refusals of too many connections are logged at most this often. */
#define RELOC_QUIET_NS (5 * NSEC_PER_SEC)

enum pend_state {
	PEND_HEADER, /* waiting for its first bytes */
	PEND_DRAIN, /* refused with FAILED: reading until the source stops */
	PEND_TLS_CLOSING, /* TLS: RESTART sent, its close_notify to come */
};

/* A connection the daemon has done no work for yet. */
struct pend {
	struct pend *next;
	struct reloc *r;
	int fd;
	enum pend_state state;
	uint64_t deadline_ns;
	char addr[NET_HOST_MAX]; /* numeric, for the per-peer limit */
	char peer[NET_HOST_MAX + 8]; /* ADDR:PORT, for the log */
	struct rtls_conn *tls; /* TLS: session 1 (reloc_tls.h) */
	uint64_t mem_bytes; /* TLS: the stream's, until session 1 ends */
};

struct reloc {
	struct gwd *g;
	int fd;
	struct allow_list allow;
	struct pend *pending;
	unsigned int npending;
	struct evloop_timer *timer; /* the earliest deadline */
	unsigned char *buf; /* PREAMBLE_MAX bytes for peeking */
	uint64_t quiet_until_ns;
	struct rtls *tls; /* NULL: plain TCP */
};

static void reloc_receive(struct gwd *g, int fd, const char *peer,
			  uint64_t mem_bytes)
{
	struct dom *d;
	int rc;

	rc = reg_new(g, &d);
	if (rc) {
		log_err("relocation: cannot take a migration from %s: %s", peer,
			strerror(-rc));
		return;
	}
	d->rec.origin = ORIGIN_MIGRATION;
	d->rec.mem_bytes = mem_bytes;
	snprintf(d->rec.peer, sizeof(d->rec.peer), "%s", peer);
	rc = reg_make_incoming_dir(d);
	if (!rc)
		rc = arrival_assign(d);
	if (!rc)
		rc = spawn_vmm(d, SPAWN_RECEIVE, NULL, fd, false);
	if (!rc)
		rc = attach_start(d);
	if (!rc)
		rc = reg_save(d);
	if (rc) {
		log_err("relocation: cannot start a receiver for %s: %s", peer,
			strerror(-rc));
		reg_discard(d);
		return;
	}
	if (d->rec.arrival_id)
		log_info(
			"relocation: receiving a migration from %s (receiver %d, arrival %016llx)",
			peer, (int)d->pid,
			(unsigned long long)d->rec.arrival_id);
	else
		log_info(
			"relocation: receiving a migration from %s (receiver %d)",
			peer, (int)d->pid);
}

/* ---- connections still to speak ---- */

static void timer_update(struct reloc *r)
{
	uint64_t next = 0, now = time_mono_ns();
	struct pend *p;

	for (p = r->pending; p; p = p->next)
		if (!next || p->deadline_ns < next)
			next = p->deadline_ns;
	if (!next)
		evloop_timer_disarm(r->timer);
	else
		evloop_timer_arm(r->timer, next > now ? next - now : 0, 0);
}

/* Forget p; its fd is closed unless keep_fd. */
static void pend_free(struct pend *p, bool keep_fd)
{
	struct reloc *r = p->r;
	struct pend **pp;

	for (pp = &r->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			r->npending--;
			break;
		}
	}
	evloop_del_fd(r->g->loop, p->fd);
	if (!keep_fd)
		close(p->fd);
	rtls_conn_free(p->tls);
	free(p);
	timer_update(r);
}

static unsigned int pending_from(struct reloc *r, const char *addr)
{
	unsigned int n = 0;
	struct pend *p;

	for (p = r->pending; p; p = p->next)
		n += !strcmp(p->addr, addr);
	return n;
}

/* Answer a QUERY: one OUTCOME, then the connection ends. */
static void answer_query(struct pend *p, uint64_t id)
{
	struct handover_msg m;
	uint32_t outcome = arrival_outcome(p->r->g, id);
	static const char *const words[] = { "", "RUNNING", "DISCARDED",
					     "PENDING", "UNKNOWN" };

	/* Read what was peeked: unread bytes would make close() reset the
	 * connection, and a reset can destroy the answer. */
	if (recv(p->fd, p->r->buf, sizeof(m), MSG_DONTWAIT) != sizeof(m))
		log_debug("relocation: %s: QUERY not read whole", p->peer);
	handover_msg_outcome_init(&m, time_real_ns(), id, outcome);
	if (send(p->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    sizeof(m))
		log_warn("relocation: %s: cannot send OUTCOME: %s", p->peer,
			 strerror(errno));
	else
		log_info("relocation: %s asked about arrival %016llx: %s",
			 p->peer, (unsigned long long)id, words[outcome]);
	shutdown(p->fd, SHUT_WR);
	pend_free(p, false);
}

/* Refuse a stream as a receiver would: FAILED, then drain. */
static void refuse_stream(struct pend *p, int err, const char *why,
			  unsigned int drain_ms)
{
	struct handover_msg m;

	handover_msg_init(&m, HANDOVER_FAILED, time_real_ns(), 0, err, why);
	if (send(p->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    sizeof(m)) {
		pend_free(p, false);
		return;
	}
	shutdown(p->fd, SHUT_WR);
	p->state = PEND_DRAIN;
	p->deadline_ns = time_mono_ns() + drain_ms * NSEC_PER_MSEC;
	timer_update(p->r);
}

static void start_stream(struct pend *p, uint64_t mem_bytes)
{
	struct gwd *g = p->r->g;
	char why[512], peer[sizeof(p->peer)];
	int one = 1, fd = p->fd;

	if (gwd_mem_check(g, mem_bytes, why, sizeof(why))) {
		log_err("relocation: refused a migration from %s (%llu MiB): %s",
			p->peer, (unsigned long long)(mem_bytes >> 20), why);
		refuse_stream(p, -ENOMEM, why, RELOC_DRAIN_MS);
		return;
	}
	/* The receiver reads normally from here on. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)))
		log_debug("relocation: SO_RCVLOWAT: %s", strerror(errno));
	snprintf(peer, sizeof(peer), "%s", p->peer);
	pend_free(p, true);
	reloc_receive(g, fd, peer, mem_bytes);
	close(fd); /* the receiver has its own copy */
}

/*
 * Its first bytes are there (or some of them): what is it? ended: the
 * peer will send nothing more (EPOLLRDHUP).
 */
static void pend_judge(struct pend *p, bool ended)
{
	struct preamble pre;
	ssize_t n;
	int need;

	n = recv(p->fd, p->r->buf, PREAMBLE_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("relocation: %s closed before a stream header",
			  p->peer);
		return pend_free(p, false);
	}
	preamble_classify(p->r->buf, n, &pre);
	switch (pre.kind) {
	case PREAMBLE_MORE:
		if (ended) {
			log_warn(
				"relocation: %s closed after %zd bytes, before a whole stream header",
				p->peer, n);
			return pend_free(p, false);
		}
		/* Wake up when that much is there, not for every byte. */
		need = (int)pre.need;
		if (setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &need,
			       sizeof(need)))
			log_debug("relocation: SO_RCVLOWAT: %s",
				  strerror(errno));
		return;
	case PREAMBLE_QUERY:
		return answer_query(p, pre.arrival_id);
	case PREAMBLE_STREAM:
		return start_stream(p, pre.mem_bytes);
	case PREAMBLE_BAD:
		log_warn("relocation: %s: %s; closed", p->peer, pre.why);
		/* A source with a bad header is told why, as a receiver
		 * would tell it; anything else is just closed. */
		if (pre.stream)
			return refuse_stream(p, -EINVAL, pre.why,
					     RELOC_DRAIN_MS);
		return pend_free(p, false);
	}
}

/* ---- TLS: session 1 judges, session 2 (the receiver's) carries ---- */

/* Answer in session 1 (ACCEPTED, msg, close_notify), then drain. */
static void tls_answer(struct pend *p, const struct handover_msg *m)
{
	if (rtls_conn_answer(p->tls, m, sizeof(*m))) {
		pend_free(p, false);
		return;
	}
	shutdown(p->fd, SHUT_WR);
	p->state = PEND_DRAIN;
	p->deadline_ns = time_mono_ns() + RELOC_DRAIN_MS * NSEC_PER_MSEC;
	timer_update(p->r);
}

static void tls_query(struct pend *p, uint64_t id)
{
	uint32_t outcome = arrival_outcome(p->r->g, id);
	struct handover_msg m;

	handover_msg_outcome_init(&m, time_real_ns(), id, outcome);
	log_info("relocation: %s (%s) asked about arrival %016llx over TLS",
		 p->peer, rtls_conn_peer(p->tls), (unsigned long long)id);
	tls_answer(p, &m);
}

static void tls_refuse(struct pend *p, int err, const char *why)
{
	struct handover_msg m;

	handover_msg_init(&m, HANDOVER_FAILED, time_real_ns(), 0, err, why);
	tls_answer(p, &m);
}

/* A stream we take: RESTART, and the receiver once session 1 is over. */
static void tls_stream(struct pend *p, uint64_t mem_bytes)
{
	char why[512];

	if (gwd_mem_check(p->r->g, mem_bytes, why, sizeof(why))) {
		log_err("relocation: refused a migration from %s (%llu MiB): %s",
			p->peer, (unsigned long long)(mem_bytes >> 20), why);
		return tls_refuse(p, -ENOMEM, why);
	}
	if (rtls_conn_restart(p->tls))
		return pend_free(p, false);
	p->mem_bytes = mem_bytes;
	p->state = PEND_TLS_CLOSING;
}

/* The first word (as pend_judge reads a plain one). */
static void tls_word(struct pend *p, const unsigned char *buf, size_t len,
		     bool ended)
{
	struct preamble pre;

	preamble_classify(buf, len, &pre);
	switch (pre.kind) {
	case PREAMBLE_MORE:
		if (ended)
			return pend_free(p, false);
		return;
	case PREAMBLE_QUERY:
		return tls_query(p, pre.arrival_id);
	case PREAMBLE_STREAM:
		return tls_stream(p, pre.mem_bytes);
	case PREAMBLE_BAD:
		log_warn("relocation: %s: %s; closed", p->peer, pre.why);
		if (pre.stream)
			return tls_refuse(p, -EINVAL, pre.why);
		return pend_free(p, false);
	}
}

static void tls_judge(struct pend *p, bool ended)
{
	const unsigned char *buf = NULL;
	size_t len = 0;
	char why[300];
	int rc;

	rc = rtls_conn_step(p->tls, &buf, &len, why, sizeof(why));
	if (rc < 0) {
		log_warn("relocation: refused a connection from %s: %s",
			 p->peer, why);
		/* A plain godwit source reads a plain refusal: say why. */
		if (rc == -EPROTO && strstr(why, "plain text"))
			return refuse_stream(
				p, -EPROTO,
				"this destination takes TLS only (godwit migrate --tls)",
				RELOC_DRAIN_MS);
		return pend_free(p, false);
	}
	if (rc == RTLS_DATA)
		return tls_word(p, buf, len, ended);
	if (rc == RTLS_CLOSED) {
		if (rtls_conn_close_notify(p->tls))
			return pend_free(p, false);
		log_info("relocation: %s: TLS client %s", p->peer,
			 rtls_conn_peer(p->tls));
		return start_stream(p, p->mem_bytes);
	}
	if (ended)
		pend_free(p, false);
}

static void pend_on_fd(struct evloop *loop, int fd, uint32_t events,
		       void *opaque)
{
	struct pend *p = opaque;
	char sink[4096];
	ssize_t n;

	if (p->tls && p->state != PEND_DRAIN)
		return tls_judge(p, events & (EPOLLRDHUP | EVLOOP_HUP));
	if (p->state == PEND_HEADER)
		return pend_judge(p, events & (EPOLLRDHUP | EVLOOP_HUP));
	do {
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
	} while (n > 0);
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		pend_free(p, false);
}

static void on_timer(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct reloc *r = opaque;
	uint64_t now = time_mono_ns();
	struct pend *p, *next;

	for (p = r->pending; p; p = next) {
		next = p->next;
		if (p->deadline_ns > now)
			continue;
		if (p->state == PEND_HEADER)
			log_warn(
				"relocation: %s sent no stream header within %u ms; closed",
				p->peer, r->g->reloc_opts.header_ms);
		pend_free(p, false);
	}
	timer_update(r);
}

/*
 * Keep an admitted connection until its first bytes say what it is. NULL
 * if it was closed instead (too many waiting).
 */
static struct pend *pend_add(struct reloc *r, int fd, const char *addr,
			     const char *peer)
{
	uint64_t now = time_mono_ns();
	struct pend *p;

	if (r->npending >= RELOC_PENDING_MAX ||
	    pending_from(r, addr) >= RELOC_PENDING_PER_PEER) {
		if (now >= r->quiet_until_ns)
			log_warn(
				"relocation: refused a connection from %s: too many connections (%u from it) have not sent a stream header yet",
				peer, pending_from(r, addr));
		r->quiet_until_ns = now + RELOC_QUIET_NS;
		close(fd);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	/* EPOLLRDHUP: a peer that stops short is not waited for. */
	if (!p || evloop_add_fd(r->g->loop, fd, EVLOOP_IN | EPOLLRDHUP,
				pend_on_fd, p)) {
		free(p);
		close(fd);
		return NULL;
	}
	*p = (struct pend){
		.next = r->pending, .r = r, .fd = fd, .state = PEND_HEADER
	};
	p->deadline_ns =
		now + (uint64_t)r->g->reloc_opts.header_ms * NSEC_PER_MSEC;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	if (r->tls && rtls_conn_new(r->tls, fd, &p->tls)) {
		evloop_del_fd(r->g->loop, fd);
		close(fd);
		free(p);
		return NULL;
	}
	r->pending = p;
	r->npending++;
	timer_update(r);
	return p;
}

/*
 * A peer the allow-list does not admit is told so, with the address it
 * comes from, in a handover FAILED (its migration then fails with that
 * line instead of "the destination closed the connection"), and closed
 * after a short drain. It takes a place among the connections waiting
 * to speak meanwhile, so it is bounded like them.
 */
static void refuse_peer(struct reloc *r, int fd, const char *addr,
			const char *peer)
{
	char why[sizeof(((struct handover_msg *)0)->text)];
	struct pend *p;

	log_warn(
		"relocation: refused a connection from %s (not allowed by --relocation-hosts-allow)",
		peer);
	snprintf(why, sizeof(why),
		 "%s is not allowed by this host's --relocation-hosts-allow",
		 addr);
	p = pend_add(r, fd, addr, peer);
	if (p)
		refuse_stream(p, -EACCES, why, RELOC_DENIED_DRAIN_MS);
}

static void reloc_on_accept(struct evloop *loop, int lfd, uint32_t events,
			    void *opaque)
{
	struct reloc *r = opaque;
	struct sockaddr_storage ss;
	char addr[NET_HOST_MAX], peer[NET_HOST_MAX + 8];
	socklen_t len;
	int i, fd;

	for (i = 0; i < RELOC_ACCEPTS_PER_WAKEUP; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("relocation: accept: %s",
					 strerror(errno));
			return;
		}
		if (allow_addr_text((struct sockaddr *)&ss, len, addr,
				    sizeof(addr))) {
			close(fd);
			continue;
		}
		net_peer_name(fd, peer, sizeof(peer));
		if (!allow_match(&r->allow, addr)) {
			refuse_peer(r, fd, addr, peer);
			continue;
		}
		pend_add(r, fd, addr, peer);
	}
}

int reloc_start(struct gwd *g)
{
	const struct gwd_reloc_opts *o = &g->reloc_opts;
	struct reloc *r;
	char why[256];
	int rc;

	if (!o->enabled)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->g = g;
	r->fd = -1;
	g->reloc = r;
	rc = allow_init(&r->allow, o->hosts_allow, why, sizeof(why));
	if (rc) {
		log_err("--relocation-hosts-allow: %s", why);
		return rc;
	}
	if (o->tls) {
		rc = rtls_new(&r->tls, o->tls_dir, o->tls_allow,
			      o->nr_tls_allow, why, sizeof(why));
		if (rc) {
			log_err("relocation: TLS: %s", why);
			return rc;
		}
	}
	r->buf = malloc(PREAMBLE_MAX);
	rc = r->buf ? evloop_timer_new(g->loop, on_timer, r, &r->timer) :
		      -ENOMEM;
	if (rc)
		return rc;
	if (!r->allow.n)
		log_warn(
			"relocation: the allow-list is empty: every host may migrate VMs here");
	rc = net_listen(o->address, o->port, &r->fd);
	if (rc) {
		log_err("relocation: cannot listen on %s port %u: %s",
			o->address, o->port, strerror(-rc));
		return rc;
	}
	/* Room for a burst: refusals are ours to make, not SYN drops. */
	if (listen(r->fd, RELOC_PENDING_MAX))
		log_debug("relocation: listen backlog: %s", strerror(errno));
	rc = fd_set_nonblock(r->fd, true);
	if (!rc)
		rc = fd_set_cloexec(r->fd);
	if (!rc)
		rc = evloop_add_fd(g->loop, r->fd, EVLOOP_IN, reloc_on_accept,
				   r);
	if (!rc)
		log_info("relocation: listening on %s port %u%s (allowed: %s)",
			 o->address, o->port, o->tls ? " with TLS" : "",
			 o->hosts_allow[0] ? o->hosts_allow : "everyone");
	return rc;
}

void reloc_stop(struct gwd *g)
{
	struct reloc *r = g->reloc;

	if (!r)
		return;
	while (r->pending)
		pend_free(r->pending, false);
	if (r->fd >= 0) {
		evloop_del_fd(g->loop, r->fd);
		close(r->fd);
	}
	evloop_timer_free(r->timer);
	allow_destroy(&r->allow);
	rtls_free(r->tls);
	free(r->buf);
	free(r);
	g->reloc = NULL;
}
