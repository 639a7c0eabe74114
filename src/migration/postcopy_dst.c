/*
 * Post-copy, the destination's half (postcopy.h has the exchange). One
 * thread owns the userfaultfd, both connections and the region maps: it
 * polls them all, asks for a region the guest waits on (once), places
 * what arrives on either connection (the first copy wins), and says
 * COMPLETE when it has everything. A connection that breaks (or stalls
 * past the stall timeout while a region is outstanding) pauses the VM;
 * a recover request from the monitor reconnects and resumes it.
 */
#include "migration/postcopy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "vmm/vm.h"

#define REGION POSTCOPY_REGION_SIZE

int postcopy_plan_read(struct postcopy_plan *p, const void *body, uint32_t len)
{
	const struct rec_postcopy *rec = body;

	if (p->present)
		return -EEXIST;
	if (bitmap_init(&p->regions, rec->nr_regions))
		return -ENOMEM;
	memcpy(p->regions.words, rec + 1, len - sizeof(*rec));
	p->present = true;
	p->port = rec->port;
	p->nr_regions = rec->nr_regions;
	p->pending = rec->pending;
	return 0;
}

void postcopy_plan_destroy(struct postcopy_plan *p)
{
	bitmap_destroy(&p->regions);
	p->present = false;
}

const char *postcopy_state_name(enum postcopy_state st)
{
	static const char *const names[] = { "postcopy-active",
					     "postcopy-paused", "completed",
					     "stopped" };

	return (unsigned int)st < ARRAY_SIZE(names) ? names[st] : "?";
}

enum postcopy_state postcopy_dst_state(struct postcopy_dst *d)
{
	return __atomic_load_n(&d->state, __ATOMIC_RELAXED);
}

static void set_state(struct postcopy_dst *d, enum postcopy_state st,
		      const char *why)
{
	__atomic_store_n(&d->state, st, __ATOMIC_RELAXED);
	d->ops->state(d->opaque, st, why);
}

/* ---- connections ---- */

static void disconnect(struct postcopy_dst *d)
{
	if (!d->connected)
		return;
	stream_close(&d->fault_s);
	stream_close(&d->page_s);
	d->connected = false;
}

static int send_msg(struct stream *s, uint32_t type, uint64_t region,
		    uint32_t arg, const void *data, uint32_t len)
{
	struct postcopy_msg m;
	struct iovec iov[2] = { { &m, sizeof(m) }, { (void *)data, len } };

	postcopy_msg_init(&m, type, region, arg, data, len);
	return stream_writev(s, iov, len ? 2 : 1);
}

/* HELLO: the stream id, and for the pages role what is still missing. */
static int hello(struct postcopy_dst *d, struct stream *s, uint32_t role)
{
	uint64_t words = postcopy_map_words(d->ram.nr_regions), i;
	uint32_t len = STREAM_ID_LEN;
	uint8_t *buf;
	uint64_t *map;
	int rc;

	if (role == POSTCOPY_ROLE_PAGES)
		len += 8 * words;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, d->stream_id, STREAM_ID_LEN);
	map = (uint64_t *)(buf + STREAM_ID_LEN);
	for (i = 0; role == POSTCOPY_ROLE_PAGES && i < words; i++)
		map[i] = d->ram.wanted.words[i] & ~d->ram.loaded.words[i];
	rc = send_msg(s, POSTCOPY_HELLO, 0, role, buf, len);
	free(buf);
	return rc;
}

static int open_one(struct postcopy_dst *d, struct stream *s, const char *host,
		    uint16_t port, char *why, size_t whylen)
{
	int fd, rc;

	rc = net_connect(host, port, d->stall_ms, &fd, why, whylen);
	if (rc)
		return rc;
	rc = stream_open_fd(s, fd, true);
	if (rc) {
		close(fd);
		return rc;
	}
	if (net_set_nodelay(fd) || stream_set_stall_timeout(s, d->stall_ms))
		log_debug("post-copy: cannot set socket options");
	return 0;
}

/*
 * Both connections, their HELLOs, and the requests still outstanding
 * (a region asked for before a break is asked for again).
 */
static int connect_source(struct postcopy_dst *d, const char *host,
			  uint16_t port, char *why, size_t whylen)
{
	uint64_t r;
	int rc;

	rc = open_one(d, &d->page_s, host, port, why, whylen);
	if (rc)
		return rc;
	rc = open_one(d, &d->fault_s, host, port, why, whylen);
	if (rc) {
		stream_close(&d->page_s);
		return rc;
	}
	d->connected = true;
	d->page_done = false;
	rc = hello(d, &d->page_s, POSTCOPY_ROLE_PAGES);
	if (!rc)
		rc = hello(d, &d->fault_s, POSTCOPY_ROLE_FAULTS);
	for (r = bitmap_next_set(&d->requested, 0);
	     !rc && r < d->ram.nr_regions;
	     r = bitmap_next_set(&d->requested, r + 1))
		if (!uffd_ram_is_loaded(&d->ram, r))
			rc = send_msg(&d->fault_s, POSTCOPY_REQUEST, r, 0, NULL,
				      0);
	if (rc) {
		snprintf(why, whylen, "talking to the source at %s port %u: %s",
			 host, port, strerror(-rc));
		disconnect(d);
	}
	return rc;
}

/* A connection broke: pause the VM and wait for a recover request. */
static void broken(struct postcopy_dst *d, const char *what, const char *why)
{
	char line[300];

	disconnect(d);
	vm_pause_request(d->vm);
	snprintf(
		line, sizeof(line),
		"post-copy: %s: %s; %llu of %llu regions still missing; the VM is paused until `godwit migrate-recover` reconnects (if the source host is gone, the VM is lost)",
		what, why,
		(unsigned long long)(d->ram.nr_wanted - d->ram.nr_loaded),
		(unsigned long long)d->ram.nr_wanted);
	log_err("%s", line);
	set_state(d, PCS_PAUSED, line);
}

/* ---- the thread ---- */

/* Faults: ask for each region the guest waits on, once. */
static int serve_faults(struct postcopy_dst *d)
{
	uint64_t r;
	bool fetch;
	int rc;

	while (!(rc = uffd_ram_next_fault(&d->ram, &r, &fetch))) {
		__atomic_fetch_add(&d->faults, 1, __ATOMIC_RELAXED);
		if (!fetch || bitmap_test(&d->requested, r))
			continue;
		bitmap_set(&d->requested, r);
		if (d->connected &&
		    send_msg(&d->fault_s, POSTCOPY_REQUEST, r, 0, NULL, 0))
			return d->fault_s.error;
	}
	return rc == -EAGAIN ? 0 : rc;
}

/* One message from s: a region is placed, DONE noted. */
static int take_msg(struct postcopy_dst *d, struct stream *s, bool *done,
		    char *why, size_t whylen)
{
	struct postcopy_msg m;
	bool zero;
	int rc;

	if (stream_read(s, &m, sizeof(m)))
		return stream_error_text(s, why, whylen), s->error;
	if (postcopy_msg_check(&m, d->ram.nr_regions, why, whylen))
		return -EPROTO;
	if (m.type == POSTCOPY_DONE) {
		*done = true;
		return 0;
	}
	if (m.type != POSTCOPY_REGION) {
		snprintf(why, whylen, "unexpected %s",
			 postcopy_type_name(m.type));
		return -EPROTO;
	}
	zero = m.arg & POSTCOPY_F_ZERO;
	if (!zero && stream_read(s, d->buf, REGION))
		return stream_error_text(s, why, whylen), s->error;
	if (!zero && postcopy_data_check(&m, d->buf, why, whylen))
		return -EPROTO;
	if (!bitmap_test(&d->ram.wanted, m.region)) {
		snprintf(why, whylen,
			 "the source sent region %llu, which is not missing",
			 (unsigned long long)m.region);
		return -EPROTO;
	}
	rc = uffd_ram_place(&d->ram, m.region, zero ? NULL : d->buf);
	if (rc)
		snprintf(why, whylen, "placing region %llu: %s",
			 (unsigned long long)m.region, strerror(-rc));
	return rc;
}

/* Tests (GODWIT_TEST_POSTCOPY_CUT): break both connections once. */
static void test_cut(struct postcopy_dst *d)
{
	if (!d->cut_after || d->ram.nr_loaded < d->cut_after)
		return;
	d->cut_after = 0;
	log_info("test: cutting the post-copy connections");
	shutdown(d->page_s.fd, SHUT_RDWR);
	shutdown(d->fault_s.fd, SHUT_RDWR);
}

static void read_channel(struct postcopy_dst *d, struct stream *s,
			 const char *what, bool is_pages)
{
	char why[200] = "";
	bool done = false;
	uint64_t before = d->ram.nr_loaded;

	if (take_msg(d, s, &done, why, sizeof(why)))
		return broken(d, what, why);
	if (done && is_pages)
		d->page_done = true;
	if (d->ram.nr_loaded > before)
		__atomic_fetch_add(is_pages ? &d->streamed : &d->fetched, 1,
				   __ATOMIC_RELAXED);
	test_cut(d);
}

/*
 * The source's BYE after COMPLETE. Answers to requests made before the
 * pages connection brought the same regions may still come first: read
 * them to the end and pass over them (closing with them unread would
 * reset the connection before the source reads COMPLETE, and the
 * source would wait for a reconnection forever).
 */
static int await_bye(struct postcopy_dst *d, char *why, size_t whylen)
{
	struct stream *s = &d->fault_s;
	struct postcopy_msg m;

	for (;;) {
		if (stream_read(s, &m, sizeof(m)))
			return stream_error_text(s, why, whylen), s->error;
		if (postcopy_msg_check(&m, d->ram.nr_regions, why, whylen))
			return -EPROTO;
		if (m.type == POSTCOPY_BYE)
			return 0;
		if (m.type != POSTCOPY_REGION) {
			snprintf(why, whylen, "%s instead of BYE",
				 postcopy_type_name(m.type));
			return -EPROTO;
		}
		if (!(m.arg & POSTCOPY_F_ZERO) &&
		    stream_read(s, d->buf, REGION))
			return stream_error_text(s, why, whylen), s->error;
	}
}

/* Everything is here: COMPLETE, the source's BYE, userfaultfd off. */
static void finish(struct postcopy_dst *d)
{
	char why[200] = "";

	stream_set_deadline_in(&d->fault_s, d->stall_ms, "the source's BYE");
	if (send_msg(&d->fault_s, POSTCOPY_COMPLETE, 0, 0, NULL, 0) ||
	    await_bye(d, why, sizeof(why)))
		log_warn(
			"post-copy: the source did not acknowledge COMPLETE (%s); it keeps its copy until it is stopped",
			why[0] ? why : "cannot send it");
	disconnect(d);
	uffd_ram_close(&d->ram);
	__atomic_store_n(&d->done_ns, time_mono_ns(), __ATOMIC_RELAXED);
	set_state(d, PCS_DONE, NULL);
}

/* A request from the monitor: stop (true) or a recover attempt. */
static bool handle_ctl(struct postcopy_dst *d)
{
	char host[256], why[256] = "";
	uint64_t v;
	uint16_t port;
	bool stop, recover;
	int rc = 0;

	if (read(d->ctl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("post-copy: control eventfd: %s", strerror(errno));
	pthread_mutex_lock(&d->lock);
	stop = d->want_stop;
	recover = d->want_recover;
	d->want_recover = false;
	snprintf(host, sizeof(host), "%s", d->recover_host);
	port = d->recover_port;
	pthread_mutex_unlock(&d->lock);
	if (stop || !recover)
		return stop;
	if (postcopy_dst_state(d) != PCS_PAUSED) {
		snprintf(why, sizeof(why), "post-copy is %s, not paused",
			 postcopy_state_name(postcopy_dst_state(d)));
		rc = -EALREADY;
	} else {
		rc = connect_source(d, host, port, why, sizeof(why));
	}
	if (!rc) {
		snprintf(d->host, sizeof(d->host), "%s", host);
		d->port = port;
		if (vm_resume(d->vm))
			log_err("post-copy: cannot resume the VM");
		log_info(
			"post-copy: reconnected to %s port %u; the VM runs again",
			host, port);
		set_state(d, PCS_ACTIVE, NULL);
	}
	pthread_mutex_lock(&d->lock);
	d->recover_rc = rc;
	snprintf(d->recover_why, sizeof(d->recover_why), "%s", why);
	pthread_mutex_unlock(&d->lock);
	d->ops->recovered(d->opaque, rc, why);
	return false;
}

static int poll_once(struct postcopy_dst *d, struct pollfd p[4])
{
	bool buffered = d->connected && (stream_has_buffered(&d->fault_s) ||
					 stream_has_buffered(&d->page_s));

	p[0] = (struct pollfd){ .fd = d->ram.fd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = d->ctl_fd, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = d->connected ? d->fault_s.fd : -1,
				.events = POLLIN };
	p[3] = (struct pollfd){ .fd = d->connected && !d->page_done ?
					      d->page_s.fd :
					      -1,
				.events = POLLIN };
	if (poll(p, 4, buffered ? 0 : -1) < 0 && errno != EINTR)
		return -errno;
	if (d->connected && stream_has_buffered(&d->fault_s))
		p[2].revents |= POLLIN;
	if (d->connected && !d->page_done && stream_has_buffered(&d->page_s))
		p[3].revents |= POLLIN;
	return 0;
}

static void *dst_thread(void *opaque)
{
	struct postcopy_dst *d = opaque;
	struct pollfd p[4];
	int rc;

	while (!uffd_ram_complete(&d->ram) || !d->connected) {
		if (poll_once(d, p))
			break;
		if (p[1].revents && handle_ctl(d))
			goto stopped;
		if (p[0].revents && (rc = serve_faults(d)) && d->connected)
			broken(d, "asking the source for a region",
			       strerror(-rc));
		if (d->connected && p[2].revents)
			read_channel(d, &d->fault_s, "the faults connection",
				     false);
		if (d->connected && p[3].revents)
			read_channel(d, &d->page_s, "the pages connection",
				     true);
	}
	finish(d);
	return NULL;
stopped:
	/* The VM ended here: it needs nothing more; the source may go. */
	if (d->connected &&
	    send_msg(&d->fault_s, POSTCOPY_COMPLETE, 0, 0, NULL, 0))
		log_debug("post-copy: could not tell the source");
	disconnect(d);
	set_state(d, PCS_STOPPED, NULL);
	return NULL;
}

int postcopy_dst_start(struct postcopy_dst *d, struct vm *vm,
		       const struct postcopy_plan *plan,
		       const uint8_t stream_id[STREAM_ID_LEN], const char *host,
		       unsigned int stall_ms,
		       const struct postcopy_dst_ops *ops, void *opaque,
		       char *why, size_t whylen)
{
	const char *cut = getenv("GODWIT_TEST_POSTCOPY_CUT");
	uint64_t r;
	int rc;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->plan = plan;
	d->ops = ops;
	d->opaque = opaque;
	d->stall_ms = stall_ms;
	d->port = plan->port;
	d->ctl_fd = -1;
	d->start_ns = time_mono_ns();
	d->cut_after = cut ? (unsigned int)atoi(cut) : 0;
	memcpy(d->stream_id, stream_id, STREAM_ID_LEN);
	snprintf(d->host, sizeof(d->host), "%s", host);
	pthread_mutex_init(&d->lock, NULL);
	rc = uffd_ram_open(&d->ram, &vm->mem, why, whylen);
	if (rc)
		return rc;
	for (r = bitmap_next_set(&plan->regions, 0);
	     !rc && r < plan->nr_regions;
	     r = bitmap_next_set(&plan->regions, r + 1))
		rc = uffd_ram_want(&d->ram, r);
	d->buf = malloc(REGION);
	d->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!rc && (!d->buf || d->ctl_fd < 0 ||
		    bitmap_init(&d->requested, d->ram.nr_regions)))
		rc = -ENOMEM;
	if (rc) {
		snprintf(why, whylen, "preparing guest RAM for post-copy: %s",
			 strerror(-rc));
		return rc;
	}
	rc = connect_source(d, host, plan->port, why, whylen);
	if (rc)
		return rc;
	d->state = PCS_ACTIVE;
	rc = -pthread_create(&d->thread, NULL, dst_thread, d);
	d->thread_on = !rc;
	if (rc)
		snprintf(why, whylen, "cannot start the post-copy thread");
	log_info("post-copy: %llu regions (%llu MiB) to fetch from %s port %u",
		 (unsigned long long)d->ram.nr_wanted,
		 (unsigned long long)(d->ram.nr_wanted * REGION >> 20), host,
		 plan->port);
	return rc;
}

int postcopy_dst_recover(struct postcopy_dst *d, const char *host,
			 uint16_t port)
{
	if (!d->thread_on)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	d->want_recover = true;
	snprintf(d->recover_host, sizeof(d->recover_host), "%s",
		 host ? host : d->host);
	d->recover_port = port ? port : d->port;
	pthread_mutex_unlock(&d->lock);
	return stream_cancel_raise(d->ctl_fd);
}

void postcopy_dst_stop(struct postcopy_dst *d)
{
	if (d->thread_on) {
		pthread_mutex_lock(&d->lock);
		d->want_stop = true;
		pthread_mutex_unlock(&d->lock);
		if (stream_cancel_raise(d->ctl_fd))
			log_warn("post-copy: cannot stop the thread");
		pthread_join(d->thread, NULL);
		d->thread_on = false;
	}
	disconnect(d);
	uffd_ram_close(&d->ram);
	bitmap_destroy(&d->requested);
	free(d->buf);
	d->buf = NULL;
	if (d->ctl_fd >= 0)
		close(d->ctl_fd);
	d->ctl_fd = -1;
}
