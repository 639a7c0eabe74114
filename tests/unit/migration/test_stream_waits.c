/*
 * Unit tests of the stream's bounded waits (transport/stream.h) on
 * socketpairs, pipes and files: the stall timeout (no byte moved for N
 * ms while waiting), the absolute deadline (which also catches a peer
 * that trickles bytes and so never stalls), cancellation from another
 * thread or by a readable fd, and files, which are never polled.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "migration/transport/stream.h"

#define MS NSEC_PER_MSEC
#define BIG (8u << 20) /* more than any socket buffer takes */

static uint64_t elapsed_ms(uint64_t start)
{
	return (time_mono_ns() - start) / MS;
}

static void open_pair(struct stream *s, int sv[2], unsigned int stall_ms)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(stream_open_fd(s, sv[0], true), 0);
	assert_int_equal(stream_set_stall_timeout(s, stall_ms), 0);
}

/* A peer that stops reading: the writer fails at the stall timeout. */
static void test_stall_when_peer_stops_reading(void **state)
{
	uint8_t *buf = calloc(1, BIG);
	uint64_t start = time_mono_ns(), ms;
	struct stream s;
	char why[160];
	int sv[2];

	open_pair(&s, sv, 200);
	assert_int_equal(stream_write(&s, buf, BIG), -ETIMEDOUT);
	ms = elapsed_ms(start);
	assert_true(ms >= 200 && ms < 2000);
	assert_int_equal(s.timed_out, STREAM_TIMEOUT_STALL);
	stream_error_text(&s, why, sizeof(why));
	assert_non_null(strstr(why, "no progress for 0.2 s (stall timeout)"));
	/* Sticky: the next call fails at once. */
	start = time_mono_ns();
	assert_int_equal(stream_write(&s, buf, 1), -ETIMEDOUT);
	assert_true(elapsed_ms(start) < 50);
	stream_close(&s);
	close(sv[1]);
	free(buf);
}

/* A silent peer: the reader fails at the stall timeout. */
static void test_stall_when_peer_is_silent(void **state)
{
	uint64_t start = time_mono_ns(), ms;
	struct stream s;
	uint8_t b[16];
	int sv[2];

	open_pair(&s, sv, 150);
	assert_int_equal(write(sv[1], b, 8), 8); /* half of what we want */
	assert_int_equal(stream_read(&s, b, sizeof(b)), -ETIMEDOUT);
	ms = elapsed_ms(start);
	assert_true(ms >= 150 && ms < 2000);
	assert_int_equal(s.timed_out, STREAM_TIMEOUT_STALL);
	stream_close(&s);
	close(sv[1]);
}

struct trickler {
	int fd;
	unsigned int bytes, every_ms;
};

static void *trickle(void *opaque)
{
	struct trickler *t = opaque;
	unsigned int i;

	for (i = 0; i < t->bytes; i++) {
		usleep(t->every_ms * 1000);
		if (write(t->fd, "x", 1) != 1)
			break;
	}
	return NULL;
}

/*
 * A peer that trickles a byte every 50 ms moves bytes, so a 300 ms stall
 * timeout never fires; only the deadline stops it, at its time.
 */
static void test_trickle_is_no_stall_but_meets_the_deadline(void **state)
{
	struct trickler t = { .bytes = 60, .every_ms = 50 };
	uint64_t start, ms;
	struct stream s;
	pthread_t th;
	uint8_t b[100];
	char why[160];
	int sv[2];

	open_pair(&s, sv, 300);
	t.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, trickle, &t), 0);
	/* 10 bytes take 500 ms, more than the stall timeout: still fine. */
	assert_int_equal(stream_read(&s, b, 10), 0);
	start = time_mono_ns();
	stream_set_deadline(&s, start + 400 * MS, "the test's 400 ms");
	assert_int_equal(stream_read(&s, b, sizeof(b)), -ETIMEDOUT);
	ms = elapsed_ms(start);
	assert_true(ms >= 400 && ms < 2000);
	assert_int_equal(s.timed_out, STREAM_TIMEOUT_DEADLINE);
	stream_error_text(&s, why, sizeof(why));
	assert_string_equal(why, "past the test's 400 ms");
	stream_close(&s);
	close(sv[1]);
	pthread_join(th, NULL);
}

/* A passed deadline fails a call even when data is there to read. */
static void test_passed_deadline_fails_at_once(void **state)
{
	struct stream s;
	uint8_t b[8] = { 0 };
	int sv[2];

	open_pair(&s, sv, 0);
	assert_int_equal(write(sv[1], b, sizeof(b)), sizeof(b));
	stream_set_deadline(&s, time_mono_ns() - 1, "then");
	assert_int_equal(stream_read(&s, b, sizeof(b)), -ETIMEDOUT);
	/* Removed, and the error cleared: the data is still there. */
	stream_clear_error(&s);
	stream_set_deadline(&s, 0, NULL);
	assert_int_equal(stream_read(&s, b, sizeof(b)), 0);
	stream_close(&s);
	close(sv[1]);
}

struct canceller {
	struct stream *s;
	unsigned int after_ms;
};

static void *cancel_later(void *opaque)
{
	struct canceller *c = opaque;

	usleep(c->after_ms * 1000);
	assert_int_equal(stream_cancel(c->s), 0);
	return NULL;
}

/* Another thread cancels a writer blocked on a peer that reads nothing. */
static void test_cancel_from_another_thread(void **state)
{
	uint8_t *buf = calloc(1, BIG);
	struct stream s;
	struct canceller c = { .s = &s, .after_ms = 100 };
	uint64_t start = time_mono_ns(), ms;
	pthread_t th;
	int sv[2];

	open_pair(&s, sv, 0); /* no stall timeout: only cancel ends it */
	assert_int_equal(stream_cancel_init(&s), 0);
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
	assert_int_equal(stream_write(&s, buf, BIG), -ECANCELED);
	ms = elapsed_ms(start);
	assert_true(ms >= 100 && ms < 2000);
	pthread_join(th, NULL);
	/* Its waits too. */
	assert_int_equal(stream_peer_wait(&s, 1000), -ECANCELED);
	stream_close(&s);
	close(sv[1]);
	free(buf);
}

/*
 * A readable cancel fd (an eventfd here; the VMM uses its signalfd) stops
 * a stream that has data flowing: it is checked before every transfer.
 */
static void test_cancel_fd_wins_over_flowing_data(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct stream s;
	uint8_t b[64] = { 0 };
	int sv[2];

	open_pair(&s, sv, 1000);
	stream_set_cancel_fd(&s, efd);
	assert_int_equal(write(sv[1], b, sizeof(b)), sizeof(b));
	assert_int_equal(stream_read(&s, b, 8), 0);
	assert_int_equal(stream_cancel_raise(efd), 0);
	/* The rest is buffered already; the next refill is refused. */
	assert_int_equal(stream_read(&s, b, 56), 0);
	assert_int_equal(stream_read(&s, b, 1), -ECANCELED);
	stream_close(&s);
	close(sv[1]);
	close(efd); /* not the stream's */
}

/* Pipes get the same waits as sockets. */
static void test_pipe_writer_stalls(void **state)
{
	uint8_t *buf = calloc(1, BIG);
	uint64_t start = time_mono_ns();
	struct stream s;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(stream_open_fd(&s, p[1], true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 150), 0);
	assert_true(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	assert_int_equal(stream_write(&s, buf, BIG), -ETIMEDOUT);
	assert_true(elapsed_ms(start) >= 150);
	stream_close(&s);
	close(p[0]);
	free(buf);
}

/* Regular files are not polled (nor made non-blocking), but cancel. */
static void test_file_not_polled_but_cancels(void **state)
{
	int fd = memfd_create("waits", MFD_CLOEXEC);
	uint8_t b[4096] = { 1 };
	struct stream s;

	assert_int_equal(write(fd, b, sizeof(b)), sizeof(b));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(stream_open_fd(&s, fd, true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 10), 0);
	assert_false(s.poll_io);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(stream_cancel_init(&s), 0);
	assert_int_equal(stream_cancel(&s), 0);
	assert_int_equal(stream_read(&s, b, 16), -ECANCELED);
	stream_close(&s);
}

/* A rate-limited writer's sleep ends when it is cancelled. */
static void test_rate_limit_sleep_cancels(void **state)
{
	uint8_t *buf = calloc(1, 1 << 20);
	struct stream s;
	struct canceller c = { .s = &s, .after_ms = 100 };
	uint64_t start = time_mono_ns();
	pthread_t th;

	stream_open_mem_write(&s);
	assert_int_equal(stream_cancel_init(&s), 0);
	stream_set_rate_limit(&s, 1 << 10); /* a MiB would take 1024 s */
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
	assert_int_equal(stream_write(&s, buf, 1 << 20), -ECANCELED);
	assert_true(elapsed_ms(start) < 2000);
	pthread_join(th, NULL);
	free(stream_mem_take(&s, &(size_t){ 0 }));
	stream_close(&s);
	free(buf);
}

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_when_peer_stops_reading),
		cmocka_unit_test(test_stall_when_peer_is_silent),
		cmocka_unit_test(
			test_trickle_is_no_stall_but_meets_the_deadline),
		cmocka_unit_test(test_passed_deadline_fails_at_once),
		cmocka_unit_test(test_cancel_from_another_thread),
		cmocka_unit_test(test_cancel_fd_wins_over_flowing_data),
		cmocka_unit_test(test_pipe_writer_stalls),
		cmocka_unit_test(test_file_not_polled_but_cancels),
		cmocka_unit_test(test_rate_limit_sleep_cancels),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
