/*
 * Unit tests of QUERY and OUTCOME over loopback TCP: the destination's
 * arrival record and its server (src/migration/arrival.c), the source's
 * client and settling loop (src/migration/query.c), and the outcome file
 * godwitd reads.
 */
#include <errno.h>
#include <limits.h>
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/net.h"
#include "common/util.h"
#include "format/stream_format.h"
#include "migration/arrival.h"
#include "migration/query.h"
#include "migration/transport/stream.h"

#define ID 0x0badc0ffee0ddf00ULL

struct served {
	struct arrival a;
	struct query_target t;
};

/* An arrival record served on a free loopback port. */
static void serve(struct served *sv, const char *outcome_file)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd;

	arrival_init(&sv->a, ID, outcome_file);
	assert_int_equal(net_listen("127.0.0.1", 0, &lfd), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(arrival_serve(&sv->a, lfd), 0);
	sv->t = (struct query_target){ .host = "127.0.0.1",
				       .arrival_id = ID,
				       .attempt_ms = 1000,
				       .cancel_fd = -1 };
	sv->t.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static uint32_t ask(struct served *sv, uint64_t id)
{
	struct query_target t = sv->t;
	uint32_t outcome = 0;
	char why[160];

	t.arrival_id = id;
	assert_int_equal(query_ask(&t, &outcome, why, sizeof(why)), 0);
	return outcome;
}

static void test_answers_follow_the_record(void **state)
{
	struct served sv;

	serve(&sv, NULL);
	assert_int_equal(ask(&sv, ID), HANDOVER_OUTCOME_PENDING);
	assert_int_equal(ask(&sv, ID + 1), HANDOVER_OUTCOME_UNKNOWN);
	assert_int_equal(arrival_set(&sv.a, HANDOVER_OUTCOME_RUNNING), 0);
	assert_int_equal(ask(&sv, ID), HANDOVER_OUTCOME_RUNNING);
	assert_int_equal(arrival_set(&sv.a, HANDOVER_OUTCOME_DISCARDED), 0);
	assert_int_equal(ask(&sv, ID), HANDOVER_OUTCOME_DISCARDED);
	assert_int_equal(ask(&sv, ID + 1), HANDOVER_OUTCOME_UNKNOWN);
	arrival_destroy(&sv.a);
}

/* Exactly one migration per process: a second one is closed at once. */
static void test_other_connections_closed_at_once(void **state)
{
	static const uint8_t stream_magic[8] = { 0x89, 'G',  'D',  'W',
						 '\r', '\n', 0x1a, '\n' };
	struct served sv;
	uint64_t start;
	char why[160], b;
	int fd;

	serve(&sv, NULL);
	assert_int_equal(net_connect("127.0.0.1", sv.t.port, 1000, &fd, why,
				     sizeof(why)),
			 0);
	start = time_mono_ns();
	assert_int_equal(write(fd, stream_magic, 8), 8);
	assert_int_equal(read(fd, &b, 1), 0); /* closed, no answer */
	assert_true(time_mono_ns() - start < 500 * NSEC_PER_MSEC);
	close(fd);
	/* And the server still answers. */
	assert_int_equal(ask(&sv, ID), HANDOVER_OUTCOME_PENDING);
	arrival_destroy(&sv.a);
}

static char *read_file(const char *path)
{
	static char buf[64];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* The outcome file holds exactly the word, replaced atomically. */
static void test_outcome_file(void **state)
{
	char dir[] = "/tmp/godwit-arrival-XXXXXX", path[PATH_MAX],
	     tmp[PATH_MAX];
	struct arrival a;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/outcome", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	arrival_init(&a, ID, path);
	assert_int_equal(access(path, F_OK), -1); /* PENDING: no file */
	assert_int_equal(arrival_set(&a, HANDOVER_OUTCOME_RUNNING), 0);
	assert_string_equal(read_file(path), "RUNNING");
	assert_int_equal(arrival_sync(&a), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	arrival_init(&a, ID, path);
	assert_int_equal(arrival_set(&a, HANDOVER_OUTCOME_DISCARDED), 0);
	assert_string_equal(read_file(path), "DISCARDED");
	arrival_destroy(&a);
	unlink(path);
	rmdir(dir);
	/* A file that cannot be written is reported; memory is set. */
	arrival_init(&a, ID, "/nonexistent-dir/outcome");
	assert_int_equal(arrival_set(&a, HANDOVER_OUTCOME_RUNNING), -ENOENT);
	assert_int_equal(arrival_outcome(&a), HANDOVER_OUTCOME_RUNNING);
}

struct later {
	struct arrival *a;
	uint32_t outcome;
	unsigned int ms;
};

static void *set_later(void *opaque)
{
	struct later *l = opaque;

	usleep(l->ms * 1000);
	assert_int_equal(arrival_set(l->a, l->outcome), 0);
	return NULL;
}

/* PENDING means ask again; the destination's final word settles it. */
static void test_settle_waits_through_pending(void **state)
{
	struct served sv;
	struct later l = { .outcome = HANDOVER_OUTCOME_DISCARDED, .ms = 300 };
	uint64_t start = time_mono_ns();
	uint32_t outcome = 0;
	pthread_t th;

	serve(&sv, NULL);
	l.a = &sv.a;
	assert_int_equal(pthread_create(&th, NULL, set_later, &l), 0);
	assert_int_equal(query_settle(&sv.t, &outcome), 0);
	assert_int_equal(outcome, HANDOVER_OUTCOME_DISCARDED);
	/* The second attempt, a second after the first. */
	assert_true(time_mono_ns() - start < 3 * NSEC_PER_SEC);
	pthread_join(th, NULL);
	arrival_destroy(&sv.a);
}

static void *raise_later(void *opaque)
{
	int *efd = opaque;

	usleep(300 * 1000);
	assert_int_equal(stream_cancel_raise(*efd), 0);
	return NULL;
}

static int settle_until_cancelled(struct query_target *t)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), rc;
	uint64_t start = time_mono_ns();
	uint32_t outcome = 0;
	pthread_t th;

	t->cancel_fd = efd;
	assert_int_equal(pthread_create(&th, NULL, raise_later, &efd), 0);
	rc = query_settle(t, &outcome);
	assert_true(time_mono_ns() - start < 3 * NSEC_PER_SEC);
	pthread_join(th, NULL);
	close(efd);
	return rc;
}

/*
 * A destination nobody can reach, or one that cannot be asked (arrival id
 * 0), settles nothing: only the cancel fd (the operator) ends the wait.
 */
static void test_settle_unreachable_or_unaskable_waits(void **state)
{
	struct query_target t = { .host = "127.0.0.1",
				  .arrival_id = ID,
				  .attempt_ms = 500 };
	int lfd;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	/* A port nobody listens on (any more): refused. */
	assert_int_equal(net_listen("127.0.0.1", 0, &lfd), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	close(lfd);
	t.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(settle_until_cancelled(&t), -ECANCELED);
	t.arrival_id = 0;
	assert_int_equal(settle_until_cancelled(&t), -ECANCELED);
}

static void test_new_ids_are_random_and_nonzero(void **state)
{
	uint64_t a = 0, b = 0;

	assert_int_equal(arrival_new_id(&a), 0);
	assert_int_equal(arrival_new_id(&b), 0);
	assert_true(a && b && a != b);
}

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_follow_the_record),
		cmocka_unit_test(test_other_connections_closed_at_once),
		cmocka_unit_test(test_outcome_file),
		cmocka_unit_test(test_settle_waits_through_pending),
		cmocka_unit_test(test_settle_unreachable_or_unaskable_waits),
		cmocka_unit_test(test_new_ids_are_random_and_nonzero),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
