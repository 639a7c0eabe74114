/*
 * Unit tests of the handover drivers (src/migration/handover.c) against a
 * scripted peer on a socketpair (or TCP, for a reset): what the source
 * decides after RECEIVED, YOURS and whatever comes back (never to resume
 * by itself after YOURS), and how the destination takes YOURS, runs the
 * VM even when CONFIRMED cannot be sent, and discards the VM for good
 * when YOURS does not come in time.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/util.h"
#include "format/record.h"
#include "migration/handover.h"

#define ID 0x1234abcd5678ef01ULL
#define PAUSE_NS 777ULL

static void put(int fd, uint32_t type, uint64_t value, const char *text)
{
	struct handover_msg m;

	handover_msg_init(&m, type, 1, value,
			  type == HANDOVER_FAILED ? -EINVAL : 0, text);
	assert_int_equal(write_full(fd, &m, sizeof(m)), 0);
}

/* The next message within ms; false on EOF or silence. */
static bool get(int fd, struct handover_msg *m, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t r;

	while (got < sizeof(*m)) {
		if (poll(&p, 1, ms) <= 0)
			return false;
		r = read(fd, (char *)m + got, sizeof(*m) - got);
		if (r <= 0)
			return false;
		got += r;
	}
	return handover_msg_check(m, (char[96]){ 0 }, 96) == 0;
}

/* ---- the source ---- */

/* What the scripted destination does after RECEIVED. */
enum script {
	S_CONFIRM, /* CONFIRMED after YOURS */
	S_CLOSE, /* close after YOURS */
	S_SILENT, /* say nothing after YOURS */
	S_FAIL_AFTER, /* FAILED after YOURS */
	S_REFUSE, /* FAILED instead of RECEIVED */
	S_NOTHING, /* never RECEIVED */
	S_ACKS, /* two late ROUND_ACKs, then RECEIVED, CONFIRMED */
};

struct dest_peer {
	int fd;
	enum script script;
	bool got_yours;
	uint64_t yours_value;
	pthread_t th;
};

static void *dest_script(void *opaque)
{
	struct dest_peer *p = opaque;
	struct handover_msg m;

	if (p->script == S_REFUSE) {
		put(p->fd, HANDOVER_FAILED, 0, "no room");
		return NULL;
	}
	if (p->script == S_NOTHING)
		return NULL;
	if (p->script == S_ACKS) {
		put(p->fd, HANDOVER_ROUND_ACK, 3, NULL);
		put(p->fd, HANDOVER_ROUND_ACK, 4, NULL);
	}
	put(p->fd, HANDOVER_RECEIVED, ID, NULL);
	p->got_yours = get(p->fd, &m, 2000) && m.type == HANDOVER_YOURS;
	p->yours_value = m.value;
	if (p->script == S_CONFIRM || p->script == S_ACKS)
		put(p->fd, HANDOVER_CONFIRMED, 0, NULL);
	if (p->script == S_FAIL_AFTER)
		put(p->fd, HANDOVER_FAILED, 0, "gave up");
	if (p->script == S_CLOSE)
		close(p->fd);
	return NULL;
}

struct src_ops_rec {
	int sync_rc, commit_rc;
	unsigned int syncs, commits;
};

static int rec_sync(void *opaque, char *why, size_t len)
{
	struct src_ops_rec *r = opaque;

	r->syncs++;
	if (r->sync_rc)
		snprintf(why, len, "hook vetoed");
	return r->sync_rc;
}

static int rec_commit(void *opaque)
{
	struct src_ops_rec *r = opaque;

	r->commits++;
	return r->commit_rc;
}

static const struct handover_source_ops src_ops = { .sync = rec_sync,
						    .commit = rec_commit };

/* Run the source driver against a destination following script. */
static enum handover_verdict run_source(enum script script,
					struct src_ops_rec *rec,
					struct handover_source *h,
					struct dest_peer *p)
{
	enum handover_verdict v;
	struct stream s;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*p = (struct dest_peer){ .fd = sv[1], .script = script };
	assert_int_equal(pthread_create(&p->th, NULL, dest_script, p), 0);
	assert_int_equal(stream_open_fd(&s, sv[0], true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 5000), 0);
	/* precopy.c's paused deadline */
	stream_set_deadline_in(&s, 300, "the paused deadline");
	*h = (struct handover_source){ .pause_real_ns = PAUSE_NS,
				       .confirm_ms = 300,
				       .late_acks = 2 };
	v = handover_source_run(&s, h, &src_ops, rec);
	pthread_join(p->th, NULL);
	stream_close(&s);
	if (script != S_CLOSE)
		close(sv[1]);
	return v;
}

static void test_source_confirmed(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_CONFIRM, &rec, &h, &p),
			 HANDOVER_V_CONFIRMED);
	assert_true(p.got_yours);
	assert_int_equal(p.yours_value, PAUSE_NS);
	assert_true(h.arrival_id == ID);
	assert_int_equal(rec.syncs, 1);
	assert_int_equal(rec.commits, 1);
}

static void test_source_skips_late_round_acks(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_ACKS, &rec, &h, &p),
			 HANDOVER_V_CONFIRMED);
}

/* A closed connection after YOURS proves nothing: unconfirmed. */
static void test_source_close_after_yours_is_unconfirmed(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_CLOSE, &rec, &h, &p),
			 HANDOVER_V_UNCONFIRMED);
	assert_true(p.got_yours);
	assert_string_equal(h.why, "the peer closed the connection");
}

static void test_source_silence_after_yours_is_unconfirmed(void **state)
{
	struct src_ops_rec rec = { 0 };
	uint64_t start = time_mono_ns();
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_SILENT, &rec, &h, &p),
			 HANDOVER_V_UNCONFIRMED);
	assert_true(time_mono_ns() - start < 3 * NSEC_PER_SEC);
	assert_string_equal(h.why, "past the wait for CONFIRMED (0.3 s)");
}

/* The destination's own FAILED after YOURS: it discarded the VM. */
static void test_source_failed_after_yours_is_discarded(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_FAIL_AFTER, &rec, &h, &p),
			 HANDOVER_V_DISCARDED);
	assert_string_equal(h.why, "gave up");
}

static void test_source_refused_resumes(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_REFUSE, &rec, &h, &p), HANDOVER_V_RESUME);
	assert_string_equal(h.why, "the destination refused the VM: no room");
	assert_int_equal(rec.commits, 0);
}

/* No RECEIVED within the paused deadline: resume, naming the limit. */
static void test_source_paused_deadline_resumes(void **state)
{
	struct src_ops_rec rec = { 0 };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_NOTHING, &rec, &h, &p),
			 HANDOVER_V_RESUME);
	assert_string_equal(
		h.why, "waiting for the destination: past the paused deadline");
	assert_int_equal(rec.syncs, 0);
}

/* A veto or a cancel before YOURS: resume, and YOURS never goes out. */
static void test_source_veto_and_cancel_send_no_yours(void **state)
{
	struct src_ops_rec rec = { .sync_rc = -EPERM };
	struct handover_source h;
	struct dest_peer p;

	assert_int_equal(run_source(S_CONFIRM, &rec, &h, &p),
			 HANDOVER_V_RESUME);
	assert_false(p.got_yours);
	assert_string_equal(h.why, "hook vetoed");
	rec = (struct src_ops_rec){ .commit_rc = -ECANCELED };
	assert_int_equal(run_source(S_CONFIRM, &rec, &h, &p),
			 HANDOVER_V_RESUME);
	assert_false(p.got_yours);
	assert_string_equal(h.why, "cancelled");
}

/* The "relay": RECEIVED back, YOURS on, then a reset (SO_LINGER 0). */
static void *reset_after_yours(void *opaque)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct dest_peer *p = opaque;
	struct handover_msg m;

	put(p->fd, HANDOVER_RECEIVED, ID, NULL);
	p->got_yours = get(p->fd, &m, 2000) && m.type == HANDOVER_YOURS;
	assert_int_equal(
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(p->fd);
	return NULL;
}

/* A reset after YOURS (a relay's, a firewall's) proves nothing either. */
static void test_source_reset_after_yours_is_unconfirmed(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct src_ops_rec rec = { 0 };
	struct handover_source h = { .pause_real_ns = PAUSE_NS,
				     .confirm_ms = 2000 };
	struct dest_peer p = { 0 };
	struct stream s;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	p.fd = accept(l, NULL, NULL);
	assert_int_equal(pthread_create(&p.th, NULL, reset_after_yours, &p), 0);
	assert_int_equal(stream_open_fd(&s, c, true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 5000), 0);
	assert_int_equal(handover_source_run(&s, &h, &src_ops, &rec),
			 HANDOVER_V_UNCONFIRMED);
	pthread_join(p.th, NULL);
	assert_true(p.got_yours);
	assert_string_equal(h.why, "the peer closed the connection");
	stream_close(&s);
	close(l);
}

/* ---- the destination ---- */

/* What the scripted source does after reading RECEIVED. */
enum src_script {
	T_YOURS, /* YOURS, then read CONFIRMED */
	T_YOURS_CLOSE, /* YOURS, then close at once */
	T_CLOSE, /* close without YOURS */
	T_LATE, /* YOURS after 600 ms: after the deadline */
	T_QUIET, /* nothing: the test cancels the destination */
};

struct src_peer {
	int fd;
	enum src_script script;
	bool got_received, got_confirmed;
	uint64_t arrival_id;
	struct handover_msg last; /* FAILED, if any */
	bool got_failed;
	pthread_t th;
};

static void *src_script(void *opaque)
{
	struct src_peer *p = opaque;
	struct handover_msg m;

	p->got_received = get(p->fd, &m, 2000) && m.type == HANDOVER_RECEIVED;
	p->arrival_id = m.value;
	if (p->script == T_CLOSE) {
		close(p->fd);
		return NULL;
	}
	if (p->script == T_LATE)
		usleep(600 * 1000);
	if (p->script != T_QUIET)
		put(p->fd, HANDOVER_YOURS, PAUSE_NS, NULL);
	if (p->script == T_YOURS_CLOSE) {
		close(p->fd);
		return NULL;
	}
	if (get(p->fd, &m, 2000)) {
		p->got_confirmed = m.type == HANDOVER_CONFIRMED;
		p->got_failed = m.type == HANDOVER_FAILED;
		p->last = m;
	}
	return NULL;
}

struct dest_ops_rec {
	char order[16]; /* c: claim, o: owned, r: resume, d: discard */
	char why[160];
	int signal_at_received; /* eventfd to raise there, or -1 */
	bool claim_fails; /* a disk lock is held elsewhere */
};

static void add(struct dest_ops_rec *r, char c)
{
	r->order[strlen(r->order)] = c;
}

static int rec_claim(void *opaque, char *why, size_t whylen)
{
	struct dest_ops_rec *r = opaque;

	add(r, 'c');
	if (!r->claim_fails)
		return 0;
	snprintf(why, whylen, "disk xvda: held by process 1");
	return -EBUSY;
}

static void rec_owned(void *opaque)
{
	add(opaque, 'o');
}

static int rec_resume(void *opaque)
{
	add(opaque, 'r');
	return 0;
}

static void rec_discard(void *opaque, const char *why)
{
	struct dest_ops_rec *r = opaque;

	add(r, 'd');
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void rec_at(void *opaque, const char *phase)
{
	struct dest_ops_rec *r = opaque;

	if (r->signal_at_received >= 0 && !strcmp(phase, "after-received"))
		assert_int_equal(stream_cancel_raise(r->signal_at_received), 0);
}

static const struct handover_dest_ops dest_ops = { .claim = rec_claim,
						   .owned = rec_owned,
						   .resume = rec_resume,
						   .discard = rec_discard,
						   .at = rec_at };

static int run_dest(enum src_script script, struct dest_ops_rec *rec,
		    struct src_peer *p, int cancel_fd)
{
	struct handover_dest h = { .arrival_id = ID, .yours_ms = 300 };
	bool claim_fails = rec->claim_fails;
	struct stream s;
	int sv[2], rc;

	memset(rec, 0, sizeof(*rec));
	rec->signal_at_received = cancel_fd;
	rec->claim_fails = claim_fails;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*p = (struct src_peer){ .fd = sv[1], .script = script };
	assert_int_equal(pthread_create(&p->th, NULL, src_script, p), 0);
	assert_int_equal(stream_open_fd(&s, sv[0], true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 5000), 0);
	stream_set_cancel_fd(&s, cancel_fd);
	rc = handover_dest_run(&s, &h, &dest_ops, rec);
	if (!rc)
		assert_true(h.source_pause_real_ns == PAUSE_NS);
	pthread_join(p->th, NULL);
	stream_close(&s);
	if (script != T_CLOSE && script != T_YOURS_CLOSE)
		close(sv[1]);
	return rc;
}

static void test_dest_takes_yours(void **state)
{
	struct dest_ops_rec rec = { 0 };
	struct src_peer p;

	assert_int_equal(run_dest(T_YOURS, &rec, &p, -1), 0);
	assert_true(p.got_received);
	assert_true(p.arrival_id == ID);
	/* Disks claimed, recorded as RUNNING before any vCPU runs. */
	assert_string_equal(rec.order, "cor");
	assert_true(p.got_confirmed);
}

/* CONFIRMED cannot be sent: the VM runs on (the source will not). */
static void test_dest_keeps_vm_when_confirm_fails(void **state)
{
	struct dest_ops_rec rec = { 0 };
	struct src_peer p;

	assert_int_equal(run_dest(T_YOURS_CLOSE, &rec, &p, -1), 0);
	assert_string_equal(rec.order, "cor");
}

/*
 * YOURS came but the disks cannot be taken (someone else holds one):
 * never run, recorded DISCARDED, and the source is told with FAILED so
 * it takes the VM back.
 */
static void test_dest_gives_back_when_claim_fails(void **state)
{
	struct dest_ops_rec rec = { .claim_fails = true };
	struct src_peer p;

	assert_int_equal(run_dest(T_YOURS, &rec, &p, -1), -EBUSY);
	assert_string_equal(rec.order, "cd");
	assert_string_equal(rec.why, "disk xvda: held by process 1");
	assert_true(p.got_failed);
	assert_string_equal(p.last.text, "disk xvda: held by process 1");
	assert_false(p.got_confirmed);
}

static void test_dest_discards_without_yours(void **state)
{
	struct dest_ops_rec rec = { 0 };
	struct src_peer p;

	assert_int_equal(run_dest(T_CLOSE, &rec, &p, -1), -EPIPE);
	assert_string_equal(rec.order, "d");
	assert_string_equal(
		rec.why,
		"the source did not hand the VM over: the peer closed the connection");
}

/* Past its deadline a late YOURS changes nothing: never resumed. */
static void test_dest_late_yours_is_ignored(void **state)
{
	uint64_t start = time_mono_ns();
	struct dest_ops_rec rec = { 0 };
	struct src_peer p;

	assert_int_equal(run_dest(T_LATE, &rec, &p, -1), -ETIMEDOUT);
	assert_true(time_mono_ns() - start < 3 * NSEC_PER_SEC);
	assert_string_equal(rec.order, "d");
	assert_non_null(strstr(rec.why, "past the wait for YOURS (0.3 s)"));
	/* The source was told, and got no CONFIRMED. */
	assert_true(p.got_failed);
	assert_false(p.got_confirmed);
}

/* Told to stop (a signal: the cancel fd) while waiting for YOURS. */
static void test_dest_shutting_down_refuses(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct dest_ops_rec rec = { 0 };
	struct src_peer p;

	assert_int_equal(run_dest(T_QUIET, &rec, &p, efd), -ECANCELED);
	assert_true(p.got_received);
	assert_string_equal(rec.order, "d");
	assert_string_equal(rec.why, "the destination is shutting down");
	assert_true(p.got_failed);
	assert_string_equal(p.last.text, "the destination is shutting down");
	close(efd);
}

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_confirmed),
		cmocka_unit_test(test_source_skips_late_round_acks),
		cmocka_unit_test(test_source_close_after_yours_is_unconfirmed),
		cmocka_unit_test(
			test_source_silence_after_yours_is_unconfirmed),
		cmocka_unit_test(test_source_failed_after_yours_is_discarded),
		cmocka_unit_test(test_source_refused_resumes),
		cmocka_unit_test(test_source_paused_deadline_resumes),
		cmocka_unit_test(test_source_veto_and_cancel_send_no_yours),
		cmocka_unit_test(test_source_reset_after_yours_is_unconfirmed),
		cmocka_unit_test(test_dest_takes_yours),
		cmocka_unit_test(test_dest_keeps_vm_when_confirm_fails),
		cmocka_unit_test(test_dest_gives_back_when_claim_fails),
		cmocka_unit_test(test_dest_discards_without_yours),
		cmocka_unit_test(test_dest_late_yours_is_ignored),
		cmocka_unit_test(test_dest_shutting_down_refuses),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
