/*
 * gw-net-client: what a user of a VM's service sees. Sends numbered UDP
 * requests to the net test guest's echo port at a fixed rate (1 kHz by
 * default) on an absolute schedule, and records every reply: which
 * request it answers, the guest's own sequence number (guests/README.md:
 * the reply carries the payload and then 8 bytes big-endian), and when
 * it arrived.
 *
 *   gw-net-client ADDR PORT [--hz N] [--seconds S] [--until FILE]
 *                 [--drain-ms MS] [--log FILE] [--size BYTES]
 *
 * It sends for S seconds, or until FILE exists (whichever comes first),
 * then waits MS milliseconds (500) for late replies, and prints one JSON
 * object: sent, answered, lost, duplicated, reordered (a reply to an
 * earlier request after a later one), guest_gaps (replies whose guest
 * number skips: answers the client never got), RTT median, p99 and max
 * (ms), the blackout (the longest gap between consecutive replies, ms,
 * with when it started and ended relative to the first request), and
 * how many of the lost requests were sent outside that gap. With --log,
 * every reply as "request guest_seq sent_ns recv_ns" (CLOCK_MONOTONIC).
 *
 * Test tool, not part of godwit: plain C, no godwit libraries.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_MIN 16 /* request number, send time */
#define PAYLOAD_MAX 1464

struct reply {
	uint64_t req; /* 1-based request number */
	uint64_t gseq; /* the guest's number */
	uint64_t recv_ns;
};

struct run {
	int sock;
	uint64_t hz, max_req;
	size_t size;
	uint64_t t0;
	uint64_t *sent_ns; /* per request, 0: not sent */
	uint64_t nsent;
	struct reply *replies;
	size_t nrep, caprep;
	const char *until;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void send_one(struct run *r, uint64_t req)
{
	uint8_t buf[PAYLOAD_MAX] = { 0 };

	put_be64(buf, req);
	r->sent_ns[req] = now_ns();
	put_be64(buf + 8, r->sent_ns[req]);
	if (send(r->sock, buf, r->size, 0) < 0 && errno != ECONNREFUSED)
		fprintf(stderr, "gw-net-client: send: %s\n", strerror(errno));
	r->nsent = req;
}

static void recv_all(struct run *r)
{
	uint8_t buf[PAYLOAD_MAX + 64];
	ssize_t n;

	while ((n = recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		uint64_t t = now_ns(), req;

		if ((size_t)n != r->size + 8)
			continue; /* not an answer to us */
		req = get_be64(buf);
		if (!req || req > r->nsent)
			continue;
		if (r->nrep == r->caprep) {
			r->caprep = r->caprep ? 2 * r->caprep : 4096;
			r->replies = realloc(r->replies,
					     r->caprep * sizeof(*r->replies));
			if (!r->replies)
				exit(1);
		}
		r->replies[r->nrep++] =
			(struct reply){ req, get_be64(buf + r->size), t };
	}
}

static bool stop_now(const struct run *r, uint64_t t, uint64_t end)
{
	struct stat st;

	if (t >= end || r->nsent >= r->max_req)
		return true;
	return r->until && !stat(r->until, &st);
}

/* Send on schedule; receive between sends. */
static void run_loop(struct run *r, uint64_t seconds, uint64_t drain_ms)
{
	uint64_t period = 1000000000ULL / r->hz, end, next;
	struct pollfd p = { .fd = r->sock, .events = POLLIN };
	struct timespec ts;

	r->t0 = now_ns();
	end = r->t0 + seconds * 1000000000ULL;
	next = r->t0;
	for (;;) {
		uint64_t t = now_ns();

		if (t >= next) {
			if (stop_now(r, t, end))
				break;
			send_one(r, r->nsent + 1);
			next = r->t0 + r->nsent * period;
			continue;
		}
		ts.tv_sec = (time_t)((next - t) / 1000000000ULL);
		ts.tv_nsec = (long)((next - t) % 1000000000ULL);
		if (ppoll(&p, 1, &ts, NULL) > 0)
			recv_all(r);
	}
	end = now_ns() + drain_ms * 1000000ULL;
	while (now_ns() < end) {
		if (poll(&p, 1, 10) > 0)
			recv_all(r);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	uint64_t answered, dup, reordered, gaps, lost_outside;
	double rtt_med, rtt_p99, rtt_max, blackout, bo_from, bo_to;
};

static void summarize(const struct run *r, struct summary *s)
{
	uint8_t *seen = calloc(r->nsent + 1, 1);
	uint64_t *rtt = malloc((r->nrep + 1) * sizeof(*rtt)), maxreq = 0;
	uint64_t gap = 0, gap_from = r->t0, gap_to = r->t0, k = 0, i;

	if (!seen || !rtt)
		exit(1);
	memset(s, 0, sizeof(*s));
	for (i = 0; i < r->nrep; i++) {
		const struct reply *p = &r->replies[i];
		uint64_t prev = i ? r->replies[i - 1].recv_ns : r->t0;

		if (seen[p->req]++) {
			s->dup++;
			continue;
		}
		s->reordered += p->req < maxreq;
		maxreq = p->req > maxreq ? p->req : maxreq;
		s->gaps += i && p->gseq != r->replies[i - 1].gseq + 1;
		rtt[k++] = p->recv_ns - r->sent_ns[p->req];
		if (p->recv_ns - prev > gap) {
			gap = p->recv_ns - prev;
			gap_from = prev;
			gap_to = p->recv_ns;
		}
	}
	s->answered = k;
	for (i = 1; i <= r->nsent; i++)
		s->lost_outside += !seen[i] && (r->sent_ns[i] < gap_from ||
						r->sent_ns[i] > gap_to);
	qsort(rtt, k, sizeof(*rtt), cmp_u64);
	if (k) {
		s->rtt_med = rtt[k / 2] / 1e6;
		s->rtt_p99 =
			rtt[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e6;
		s->rtt_max = rtt[k - 1] / 1e6;
	}
	s->blackout = gap / 1e6;
	s->bo_from = (gap_from - r->t0) / 1e6;
	s->bo_to = (gap_to - r->t0) / 1e6;
	free(seen);
	free(rtt);
}

static void write_log(const struct run *r, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "gw-net-client: %s: %s\n", path,
			strerror(errno));
		return;
	}
	fprintf(f, "# t0_ns %llu\n", (unsigned long long)r->t0);
	for (size_t i = 0; i < r->nrep; i++)
		fprintf(f, "%llu %llu %llu %llu\n",
			(unsigned long long)r->replies[i].req,
			(unsigned long long)r->replies[i].gseq,
			(unsigned long long)r->sent_ns[r->replies[i].req],
			(unsigned long long)r->replies[i].recv_ns);
	fclose(f);
}

static int open_socket(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int buf = 4 << 20;

	if (s < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "gw-net-client: bad address %s\n", addr);
		exit(2);
	}
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("gw-net-client: connect");
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "hz", required_argument, NULL, 'z' },
		{ "seconds", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "drain-ms", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "size", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct run r = { .hz = 1000, .size = 32 };
	uint64_t seconds = 10, drain = 500;
	const char *log = NULL;
	struct summary s;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt == 'z')
			r.hz = strtoull(optarg, NULL, 10);
		else if (opt == 's')
			seconds = strtoull(optarg, NULL, 10);
		else if (opt == 'u')
			r.until = optarg;
		else if (opt == 'd')
			drain = strtoull(optarg, NULL, 10);
		else if (opt == 'l')
			log = optarg;
		else if (opt == 'b')
			r.size = strtoull(optarg, NULL, 10);
		else
			return 2;
	}
	if (argc - optind != 2 || !r.hz || r.hz > 100000 ||
	    r.size < PAYLOAD_MIN || r.size > PAYLOAD_MAX) {
		fprintf(stderr, "usage: gw-net-client ADDR PORT [--hz N] "
				"[--seconds S] [--until FILE] [--drain-ms MS] "
				"[--log FILE] [--size 16-1464]\n");
		return 2;
	}
	r.sock = open_socket(argv[optind], atoi(argv[optind + 1]));
	r.max_req = seconds * r.hz + 1;
	r.sent_ns = calloc(r.max_req + 2, sizeof(*r.sent_ns));
	if (!r.sent_ns)
		return 1;
	run_loop(&r, seconds, drain);
	summarize(&r, &s);
	if (log)
		write_log(&r, log);
	printf("{\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, "
	       "\"lost_outside_blackout\": %llu, \"duplicated\": %llu, "
	       "\"reordered\": %llu, \"guest_gaps\": %llu, "
	       "\"rtt_median_ms\": %.3f, \"rtt_p99_ms\": %.3f, "
	       "\"rtt_max_ms\": %.3f, \"blackout_ms\": %.3f, "
	       "\"blackout_from_ms\": %.3f, \"blackout_to_ms\": %.3f}\n",
	       (unsigned long long)r.nsent, (unsigned long long)s.answered,
	       (unsigned long long)(r.nsent - s.answered),
	       (unsigned long long)s.lost_outside, (unsigned long long)s.dup,
	       (unsigned long long)s.reordered, (unsigned long long)s.gaps,
	       s.rtt_med, s.rtt_p99, s.rtt_max, s.blackout, s.bo_from, s.bo_to);
	return 0;
}
