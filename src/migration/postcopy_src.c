/*
 * Post-copy, the source's half (postcopy.h has the exchange). After
 * YOURS the VM stays paused here, its RAM untouched, and this serves the
 * destination's two connections: the faults connection on the caller's
 * thread (a REQUEST is answered at once), the pages connection on a
 * thread of its own that streams every region the destination's HELLO
 * asked for. A broken connection just ends that connection: the
 * destination connects again when the operator recovers it. Only
 * COMPLETE (the destination has every region) or the cancel fd (this
 * process ends) ends the serving.
 */
#include "migration/postcopy.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "migration/pages.h"
#include "migration/recio.h"

#define REGION POSTCOPY_REGION_SIZE

int postcopy_src_listen(struct postcopy_src *ps, struct guest_mem *mem,
			int sock, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = -1, one = 1;

	memset(ps, 0, sizeof(*ps));
	ps->lfd = -1;
	ps->cancel_fd = -1;
	ps->mem = mem;
	ps->nr_regions = mem->size / REGION;
	if (getsockname(sock, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	/* The address the destination reached us at; any port. */
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	ps->port = ntohs(ss.ss_family == AF_INET ?
				 ((struct sockaddr_in *)&ss)->sin_port :
				 ((struct sockaddr_in6 *)&ss)->sin6_port);
	ps->lfd = fd;
	return 0;
fail:
	snprintf(why, whylen, "cannot listen for post-copy: %s",
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -errno;
}

int postcopy_src_switch(struct postcopy_src *ps, struct stream *s,
			const struct bitmap *dirty)
{
	struct rec_postcopy rec = { .region_pages = POSTCOPY_REGION_PAGES,
				    .port = ps->port,
				    .nr_regions = ps->nr_regions };
	uint64_t words = postcopy_map_words(ps->nr_regions);
	struct iovec iov[2];
	size_t i;

	if (bitmap_init(&ps->pending, ps->nr_regions))
		return stream_set_error(s, -ENOMEM);
	ps->sent_map = calloc(words, 8);
	if (!ps->sent_map)
		return stream_set_error(s, -ENOMEM);
	/* A region with any page dirty: the destination's copy is stale. */
	for (i = bitmap_next_set(dirty, 0); i < dirty->nbits;
	     i = bitmap_next_set(
		     dirty, ALIGN_UP(i + 1, (size_t)POSTCOPY_REGION_PAGES))) {
		bitmap_set(&ps->pending, i / POSTCOPY_REGION_PAGES);
		rec.pending++;
	}
	memcpy(ps->stream_id, s->rec_stream_id, STREAM_ID_LEN);
	iov[0] = (struct iovec){ &rec, sizeof(rec) };
	iov[1] = (struct iovec){ ps->pending.words, words * 8 };
	return rec_write(s, REC_POSTCOPY, iov, 2);
}

static bool region_is_zero(const uint8_t *p)
{
	unsigned int i;

	for (i = 0; i < POSTCOPY_REGION_PAGES; i++)
		if (!page_is_zero(p + i * STREAM_PAGE_SIZE))
			return false;
	return true;
}

static int send_region(struct postcopy_src *ps, struct stream *s, uint64_t r)
{
	const uint8_t *data = ps->mem->host + r * REGION;
	bool zero = region_is_zero(data);
	struct postcopy_msg m;
	struct iovec iov[2];

	postcopy_msg_init(&m, POSTCOPY_REGION, r, zero ? POSTCOPY_F_ZERO : 0,
			  data, zero ? 0 : REGION);
	iov[0] = (struct iovec){ &m, sizeof(m) };
	iov[1] = (struct iovec){ (void *)data, zero ? 0 : REGION };
	if (stream_writev(s, iov, zero ? 1 : 2))
		return s->error;
	__atomic_fetch_or(&ps->sent_map[r / 64], 1ULL << (r % 64),
			  __ATOMIC_RELAXED);
	__atomic_fetch_add(&ps->sent, 1, __ATOMIC_RELAXED);
	return 0;
}

static bool was_sent(struct postcopy_src *ps, uint64_t r)
{
	return __atomic_load_n(&ps->sent_map[r / 64], __ATOMIC_RELAXED) &
	       (1ULL << (r % 64));
}

/* The pages connection: every region asked for, in order, then DONE. */
static void *pager(void *opaque)
{
	struct postcopy_src *ps = opaque;
	const uint64_t *map = (const uint64_t *)ps->page_map;
	struct postcopy_msg m;
	uint64_t r, w;
	int rc = 0;

	for (r = 0; !rc && r < ps->nr_regions; r++) {
		memcpy(&w, &map[r / 64], 8);
		if (!(w & (1ULL << (r % 64))) || !bitmap_test(&ps->pending, r))
			continue;
		/* One sent on the faults connection arrives there. */
		if (!was_sent(ps, r))
			rc = send_region(ps, &ps->page_s, r);
	}
	postcopy_msg_init(&m, POSTCOPY_DONE, 0, 0, NULL, 0);
	if (!rc)
		rc = stream_write(&ps->page_s, &m, sizeof(m));
	if (rc)
		log_debug("post-copy: the pages connection ended: %s",
			  strerror(-rc));
	return NULL;
}

static void stop_pager(struct postcopy_src *ps)
{
	if (!ps->pager_on)
		return;
	if (ps->page_s.fd >= 0)
		shutdown(ps->page_s.fd, SHUT_RDWR);
	pthread_join(ps->pager, NULL);
	stream_close(&ps->page_s);
	free(ps->page_map);
	ps->page_map = NULL;
	ps->pager_on = false;
}

/* One message and its data (at most a map or a region) from s. */
static int read_msg(struct postcopy_src *ps, struct stream *s,
		    struct postcopy_msg *m, uint8_t **data_out, char *why,
		    size_t whylen)
{
	uint8_t *data = NULL;

	*data_out = NULL;
	if (stream_read(s, m, sizeof(*m))) {
		stream_error_text(s, why, whylen);
		return s->error;
	}
	if (postcopy_msg_check(m, ps->nr_regions, why, whylen))
		return -EPROTO;
	if (m->length) {
		data = malloc(m->length);
		if (!data)
			return -ENOMEM;
		if (stream_read(s, data, m->length)) {
			stream_error_text(s, why, whylen);
			free(data);
			return s->error;
		}
		if (postcopy_data_check(m, data, why, whylen)) {
			free(data);
			return -EPROTO;
		}
	}
	*data_out = data;
	return 0;
}

/* A new connection: its HELLO says what it is for. */
static void accept_one(struct postcopy_src *ps, struct stream *faults,
		       bool *have_faults)
{
	struct postcopy_msg m;
	struct stream s;
	uint8_t *data = NULL;
	char why[200] = "";
	int fd, rc;

	fd = accept4(ps->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	rc = stream_open_fd(&s, fd, true);
	if (rc) {
		close(fd);
		return;
	}
	if (net_set_nodelay(fd) || stream_set_stall_timeout(&s, ps->stall_ms))
		log_debug("post-copy: cannot set socket options");
	stream_set_cancel_fd(&s, ps->cancel_fd);
	rc = read_msg(ps, &s, &m, &data, why, sizeof(why));
	if (!rc && m.type != POSTCOPY_HELLO) {
		snprintf(why, sizeof(why), "expected HELLO, got %s",
			 postcopy_type_name(m.type));
		rc = -EPROTO;
	}
	if (!rc)
		rc = postcopy_hello_check(&m, data, ps->stream_id,
					  ps->nr_regions, why, sizeof(why));
	if (rc) {
		log_warn("post-copy: refused a connection: %s", why);
		free(data);
		stream_close(&s);
		return;
	}
	if (m.arg == POSTCOPY_ROLE_FAULTS) {
		if (*have_faults)
			stream_close(faults);
		*faults = s;
		*have_faults = true;
		free(data);
		return;
	}
	stop_pager(ps);
	ps->page_s = s;
	stream_set_rate_limit(&ps->page_s, ps->rate_bps);
	ps->page_map = data; /* stream id, then the map */
	memmove(ps->page_map, ps->page_map + STREAM_ID_LEN,
		m.length - STREAM_ID_LEN);
	ps->pager_on = !pthread_create(&ps->pager, NULL, pager, ps);
	if (!ps->pager_on) {
		stream_close(&ps->page_s);
		free(ps->page_map);
		ps->page_map = NULL;
	}
}

/* A message on the faults connection: 1 after COMPLETE, else 0/-errno. */
static int serve_request(struct postcopy_src *ps, struct stream *s, char *why,
			 size_t whylen)
{
	struct postcopy_msg m;
	uint8_t *data;
	int rc;

	stream_set_deadline_in(s, ps->stall_ms, "a post-copy message");
	rc = read_msg(ps, s, &m, &data, why, whylen);
	free(data);
	stream_set_deadline(s, 0, NULL);
	if (rc)
		return rc;
	if (m.type == POSTCOPY_REQUEST) {
		__atomic_fetch_add(&ps->requests, 1, __ATOMIC_RELAXED);
		return send_region(ps, s, m.region);
	}
	if (m.type != POSTCOPY_COMPLETE) {
		snprintf(why, whylen, "unexpected %s on the faults connection",
			 postcopy_type_name(m.type));
		return -EPROTO;
	}
	postcopy_msg_init(&m, POSTCOPY_BYE, 0, 0, NULL, 0);
	rc = stream_write(s, &m, sizeof(m));
	return rc ? rc : 1;
}

int postcopy_src_serve(struct postcopy_src *ps, char *why, size_t whylen)
{
	struct stream faults;
	bool have_faults = false;
	char reason[200];
	int rc = 0, r;

	while (!rc) {
		struct pollfd p[3] = {
			{ .fd = ps->lfd, .events = POLLIN },
			{ .fd = ps->cancel_fd, .events = POLLIN },
			{ .fd = have_faults ? faults.fd : -1,
			  .events = POLLIN },
		};

		/* Requests already buffered are not seen by poll. */
		r = have_faults && stream_has_buffered(&faults) ?
			    1 :
			    poll(p, 3, -1);
		if (have_faults && stream_has_buffered(&faults))
			p[2].revents = POLLIN;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (p[1].revents) {
			snprintf(
				why, whylen,
				"stopped while the destination still needed pages: the VM is lost");
			rc = -ECANCELED;
			break;
		}
		if (p[0].revents)
			accept_one(ps, &faults, &have_faults);
		if (!have_faults || !p[2].revents)
			continue;
		r = serve_request(ps, &faults, reason, sizeof(reason));
		if (r == 1)
			break;
		if (r < 0) {
			log_warn(
				"post-copy: the destination's faults connection broke (%s); waiting for it to reconnect (godwit migrate-recover on the destination)",
				reason);
			stream_close(&faults);
			have_faults = false;
		}
	}
	stop_pager(ps);
	if (have_faults)
		stream_close(&faults);
	return rc;
}

void postcopy_src_destroy(struct postcopy_src *ps)
{
	stop_pager(ps);
	if (ps->lfd >= 0)
		close(ps->lfd);
	ps->lfd = -1;
	bitmap_destroy(&ps->pending);
	free(ps->sent_map);
	ps->sent_map = NULL;
}
