/*
 * The relocation server, xend's port 8002: accepts TCP connections from
 * the hosts the allow-list admits and hands each one, as fd 3, to a new
 * `godwit migrate-receive --incoming-fd 3` process, which receives one
 * migration (the handover with the source included) and refuses a VM
 * whose name is already taken here. The daemon closes its copy of the
 * socket at once and treats the receiver as an arrival (attach.c): once
 * its control socket answers, the VM is here and is registered; if the
 * receiver ends first, its exit file says why and the arrival is dropped.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "toolstack/daemon/allow.h"

#define RELOC_ACCEPTS_PER_WAKEUP 16

struct reloc {
	struct gwd *g;
	int fd;
	struct allow_list allow;
};

static void reloc_receive(struct gwd *g, int fd, const char *peer)
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
	snprintf(d->rec.peer, sizeof(d->rec.peer), "%s", peer);
	rc = reg_make_incoming_dir(d);
	if (!rc)
		rc = spawn_vmm(d, SPAWN_RECEIVE, NULL, fd, false);
	if (!rc)
		rc = attach_start(d);
	reg_save(d);
	if (rc) {
		log_err("relocation: cannot start a receiver for %s: %s", peer,
			strerror(-rc));
		reg_discard(d);
		return;
	}
	log_info("relocation: receiving a migration from %s (receiver %d)",
		 peer, (int)d->pid);
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
			log_warn(
				"relocation: refused a connection from %s (not allowed by --relocation-hosts-allow)",
				peer);
			close(fd);
			continue;
		}
		reloc_receive(r->g, fd, peer);
		close(fd); /* the receiver has its own copy */
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
	if (!r->allow.n)
		log_warn(
			"relocation: the allow-list is empty: every host may migrate VMs here");
	rc = net_listen(o->address, o->port, &r->fd);
	if (rc) {
		log_err("relocation: cannot listen on %s port %u: %s",
			o->address, o->port, strerror(-rc));
		return rc;
	}
	rc = fd_set_nonblock(r->fd, true);
	if (!rc)
		rc = fd_set_cloexec(r->fd);
	if (!rc)
		rc = evloop_add_fd(g->loop, r->fd, EVLOOP_IN, reloc_on_accept,
				   r);
	if (!rc)
		log_info("relocation: listening on %s port %u (allowed: %s)",
			 o->address, o->port,
			 o->hosts_allow[0] ? o->hosts_allow : "everyone");
	return rc;
}

void reloc_stop(struct gwd *g)
{
	struct reloc *r = g->reloc;

	if (!r)
		return;
	if (r->fd >= 0) {
		evloop_del_fd(g->loop, r->fd);
		close(r->fd);
	}
	allow_destroy(&r->allow);
	free(r);
	g->reloc = NULL;
}
