/*
 * Unit tests of how things arrive at godwitd: the first bytes of a
 * relocation connection (preamble.h: stream headers of any version,
 * QUERY messages, garbage, and how many bytes to wait for), the words of
 * an arrival's outcome file (arrival.h), and the command lines of VMMs
 * found running without a record (orphan_parse).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"
#include "format/record.h"
#include "toolstack/daemon/arrival.h"
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/preamble.h"

static const char config[] = "name = \"web\"\nmemory = 64\n";

/* A revision-1 header (or another version) followed by its config. */
static size_t make_stream(unsigned char *buf, uint32_t version,
			  uint32_t header_size, const char *cfg, size_t cfg_len)
{
	struct stream_header h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, STREAM_MAGIC, STREAM_MAGIC_LEN);
	h.version = version;
	h.flags = STREAM_F_LIVE;
	h.header_size = header_size;
	h.config_len = cfg_len;
	h.mem_bytes = 64ULL << 20;
	h.nr_vcpus = 1;
	h.page_size = STREAM_PAGE_SIZE;
	memcpy(h.cpu_vendor, "GenuineIntel", 12);
	/* Over header_size bytes: 64 in revision 1, 80 in revision 2. */
	if (header_size <= sizeof(h))
		stream_header_seal(&h, cfg);
	memset(buf, 0, header_size);
	memcpy(buf, &h, header_size < sizeof(h) ? header_size : sizeof(h));
	memcpy(buf + header_size, cfg, cfg_len);
	return header_size + cfg_len;
}

static void classify(const void *buf, size_t len, struct preamble *p)
{
	preamble_classify(buf, len, p);
}

static void test_stream_v1(void **state)
{
	unsigned char buf[512];
	size_t n = make_stream(buf, 1, 64, config, strlen(config)), i;
	struct preamble p;

	/* Every prefix asks for more, and for no more than it needs. */
	for (i = 0; i < n; i++) {
		classify(buf, i, &p);
		assert_int_equal(p.kind, PREAMBLE_MORE);
		assert_true(p.need > i && p.need <= n);
	}
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_STREAM);
	assert_true(p.stream && p.crc_checked);
	assert_int_equal(p.version, 1);
	assert_int_equal(p.mem_bytes, 64ULL << 20);
	/* A flipped config byte breaks the CRC. */
	buf[70] ^= 1;
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	assert_true(p.stream);
	assert_non_null(strstr(p.why, "CRC"));
}

/* The revision godwit writes now: 80 bytes, CRC over all of them. */
static void test_stream_v2(void **state)
{
	unsigned char buf[512];
	size_t n = make_stream(buf, 2, 80, config, strlen(config));
	struct preamble p;

	classify(buf, n - 1, &p);
	assert_int_equal(p.kind, PREAMBLE_MORE);
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_STREAM);
	assert_true(p.stream && p.crc_checked);
	assert_int_equal(p.version, 2);
	buf[70] ^= 1; /* inside stream_id: covered by the CRC */
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	assert_non_null(strstr(p.why, "CRC"));
}

/* A config too large to peek: the fixed part alone decides. */
static void test_stream_large_config(void **state)
{
	size_t len = PREAMBLE_CONFIG_PEEK + 1;
	unsigned char *buf = malloc(64 + len);
	char *cfg = malloc(len);
	struct preamble p;

	memset(cfg, 'x', len);
	make_stream(buf, 1, 64, cfg, len);
	classify(buf, 64, &p);
	assert_int_equal(p.kind, PREAMBLE_STREAM);
	assert_false(p.crc_checked);
	free(buf);
	free(cfg);
}

/* Another version is the receiver's to judge once its sizes are sane. */
static void test_stream_other_version(void **state)
{
	unsigned char buf[512];
	size_t n = make_stream(buf, 2, 96, config, strlen(config));
	struct stream_header *h = (struct stream_header *)buf;
	struct preamble p;

	classify(buf, 95 + strlen(config), &p);
	assert_int_equal(p.kind, PREAMBLE_MORE);
	assert_int_equal(p.need, n);
	h->header_crc ^= 1; /* not checked: its layout is not ours */
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_STREAM);
	assert_int_equal(p.version, 2);
	assert_false(p.crc_checked);
	h->header_size = 60;
	classify(buf, n, &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	assert_non_null(strstr(p.why, "header size 60"));
	h->header_size = 96;
	h->config_len = 0;
	classify(buf, n, &p);
	assert_non_null(strstr(p.why, "config length 0"));
	h->config_len = strlen(config);
	h->mem_bytes = 12345;
	classify(buf, n, &p);
	assert_non_null(strstr(p.why, "memory size 12345"));
	h->mem_bytes = 1ULL << 20;
	h->version = 0;
	classify(buf, n, &p);
	assert_non_null(strstr(p.why, "version 0"));
}

static void test_query_and_garbage(void **state)
{
	struct handover_msg m;
	struct preamble p;

	handover_msg_init(&m, HANDOVER_QUERY, 1, 0xfeedfacecafebeefULL, 0,
			  NULL);
	classify(&m, 4, &p);
	assert_int_equal(p.kind, PREAMBLE_MORE);
	assert_int_equal(p.need, sizeof(m));
	classify(&m, sizeof(m), &p);
	assert_int_equal(p.kind, PREAMBLE_QUERY);
	assert_false(p.stream);
	assert_int_equal(p.arrival_id, 0xfeedfacecafebeefULL);
	m.value ^= 1; /* CRC no longer matches */
	classify(&m, sizeof(m), &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	handover_msg_init(&m, HANDOVER_YOURS, 1, 5, 0, NULL);
	classify(&m, sizeof(m), &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	assert_non_null(strstr(p.why, "where a stream or a QUERY"));
	classify("GET / HTTP/1.0\r\n", 16, &p);
	assert_int_equal(p.kind, PREAMBLE_BAD);
	assert_non_null(strstr(p.why, "bad magic"));
	classify("G", 1, &p); /* may still become "GDWH" */
	assert_int_equal(p.kind, PREAMBLE_MORE);
	classify("", 0, &p);
	assert_int_equal(p.kind, PREAMBLE_MORE);
}

static void test_outcome_words(void **state)
{
	assert_int_equal(arrival_parse_word("RUNNING", 7),
			 HANDOVER_OUTCOME_RUNNING);
	assert_int_equal(arrival_parse_word("RUNNING\n", 8),
			 HANDOVER_OUTCOME_RUNNING);
	assert_int_equal(arrival_parse_word("DISCARDED\n", 10),
			 HANDOVER_OUTCOME_DISCARDED);
	assert_int_equal(arrival_parse_word("RUNNIN", 6), 0);
	assert_int_equal(arrival_parse_word("running", 7), 0);
	assert_int_equal(arrival_parse_word("RUNNING\nX", 9), 0);
	assert_int_equal(arrival_parse_word("", 0), 0);
	assert_string_equal(arrival_word(HANDOVER_OUTCOME_RUNNING), "RUNNING");
	assert_string_equal(arrival_word(HANDOVER_OUTCOME_PENDING), "");
}

/* A NUL-separated command line from its words. */
static size_t cmdline(char *buf, const char *const *argv)
{
	size_t n = 0;

	for (; *argv; argv++) {
		strcpy(buf + n, *argv);
		n += strlen(*argv) + 1;
	}
	return n;
}

static void test_orphan_cmdlines(void **state)
{
	const char *const rcv[] = { "/usr/bin/godwit",
				    "migrate-receive",
				    "--incoming-fd",
				    "3",
				    "--arrival-id",
				    "00c0ffee12345678",
				    "--outcome-file",
				    "/var/lib/godwit/incoming/t/outcome",
				    "--qmp",
				    "/run/godwit/vm/.t.qmp",
				    "--exit-file",
				    "/var/lib/godwit/incoming/t/exit",
				    NULL };
	const char *const rst[] = { "godwit",
				    "restore",
				    "/srv/web.save",
				    "-F",
				    "--qmp",
				    "/q",
				    "--exit-file",
				    "/var/lib/godwit/incoming/u/exit",
				    "-p",
				    NULL };
	const char *const other[] = { "godwit",	     "run",
				      "--qmp",	     "/q",
				      "--exit-file", "/elsewhere/exit",
				      NULL };
	const char *const sibling[] = {
		"godwit", "run",	 "--qmp",
		"/q",	  "--exit-file", "/var/lib/godwit2/domains/x/exit",
		NULL
	};
	char buf[1024];
	struct orphan o;
	size_t n;

	n = cmdline(buf, rcv);
	assert_int_equal(orphan_parse(buf, n, "/var/lib/godwit", &o), 0);
	assert_int_equal(o.origin, ORIGIN_MIGRATION);
	assert_string_equal(o.arrival_id, "00c0ffee12345678");
	assert_string_equal(o.outcome_file,
			    "/var/lib/godwit/incoming/t/outcome");
	assert_string_equal(o.qmp, "/run/godwit/vm/.t.qmp");
	/* Not NUL-terminated: not a whole command line. */
	assert_int_equal(orphan_parse(buf, n - 1, "/var/lib/godwit", &o),
			 -EINVAL);
	n = cmdline(buf, rst);
	assert_int_equal(orphan_parse(buf, n, "/var/lib/godwit", &o), 0);
	assert_int_equal(o.origin, ORIGIN_RESTORE);
	assert_string_equal(o.file, "/srv/web.save");
	assert_null(o.arrival_id);
	/* Another registry's VMMs, or a VMM run by hand, are not ours. */
	n = cmdline(buf, other);
	assert_int_equal(orphan_parse(buf, n, "/var/lib/godwit", &o), -EINVAL);
	n = cmdline(buf, sibling);
	assert_int_equal(orphan_parse(buf, n, "/var/lib/godwit", &o), -EINVAL);
	memcpy(buf, "bash\0-c\0", 8);
	assert_int_equal(orphan_parse(buf, 8, "/var/lib/godwit", &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_v1),
		cmocka_unit_test(test_stream_v2),
		cmocka_unit_test(test_stream_large_config),
		cmocka_unit_test(test_stream_other_version),
		cmocka_unit_test(test_query_and_garbage),
		cmocka_unit_test(test_outcome_words),
		cmocka_unit_test(test_orphan_cmdlines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
