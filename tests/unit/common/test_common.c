/* Unit tests for src/common: size parsing, CRC32C, bitmaps, full I/O. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/bitmap.h"
#include "common/crc32c.h"
#include "common/util.h"
#include "common/why.h"

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size_bytes("256", &v), 0);
	assert_int_equal(v, 256ULL << 20);
	assert_int_equal(parse_size_bytes("4g", &v), 0);
	assert_int_equal(v, 4ULL << 30);
	assert_int_equal(parse_size_bytes("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size_bytes("64KiB", &v), 0);
	assert_int_equal(v, 64ULL << 10);
	assert_int_equal(parse_size_bytes("1GB", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size_bytes("", &v), -EINVAL);
	assert_int_equal(parse_size_bytes("-1", &v), -EINVAL);
	assert_int_equal(parse_size_bytes("12q", &v), -EINVAL);
	assert_int_equal(parse_size_bytes("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size_bytes("17179869184t", &v), -ERANGE);
}

static void test_parse_u64(void **state)
{
	uint64_t v;

	assert_int_equal(parse_u64("0x10", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(parse_u64("12", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(parse_u64("12a", &v), -EINVAL);
	assert_int_equal(parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(parse_u64("", &v), -EINVAL);
}

/* Known answers from RFC 3720 (iSCSI) appendix B.4. */
static void test_crc32c_vectors(void **state)
{
	uint8_t buf[32];
	int i;

	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc32c(0, buf, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(crc32c(0, buf, 32), 0x46dd794e);
}

static void test_crc32c_hw_matches_sw(void **state)
{
	uint8_t buf[1031];
	size_t i, len;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (len = 0; len < sizeof(buf); len += 37)
		assert_int_equal(crc32c(0, buf, len), crc32c_sw(0, buf, len));
	/* Running sums equal one-shot sums. */
	assert_int_equal(crc32c(crc32c(0, buf, 100), buf + 100, 900),
			 crc32c(0, buf, 1000));
}

static void test_bitmap(void **state)
{
	struct bitmap bm;

	assert_int_equal(bitmap_init(&bm, 130), 0);
	assert_int_equal(bitmap_count(&bm), 0);
	assert_int_equal(bitmap_next_set(&bm, 0), 130);
	bitmap_set(&bm, 0);
	bitmap_set(&bm, 64);
	bitmap_set(&bm, 129);
	assert_true(bitmap_test(&bm, 64));
	assert_false(bitmap_test(&bm, 63));
	assert_int_equal(bitmap_count(&bm), 3);
	assert_int_equal(bitmap_next_set(&bm, 1), 64);
	assert_int_equal(bitmap_next_set(&bm, 65), 129);
	assert_int_equal(bitmap_next_set(&bm, 130), 130);
	bitmap_clear(&bm, 64);
	assert_int_equal(bitmap_next_set(&bm, 1), 129);
	bitmap_set_all(&bm);
	assert_int_equal(bitmap_count(&bm), 130);
	bitmap_clear_all(&bm);
	assert_int_equal(bitmap_count(&bm), 0);
	bitmap_destroy(&bm);
}

static void test_full_io(void **state)
{
	char out[100000], in[100000];
	int p[2];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (char)i;
	assert_int_equal(pipe(p), 0);
	if (fork() == 0) {
		close(p[0]);
		_exit(write_full(p[1], out, sizeof(out)) ? 1 : 0);
	}
	close(p[1]);
	assert_int_equal(read_full(p[0], in, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* The writer is done: a further read hits end of file. */
	assert_int_equal(read_full(p[0], in, 1), -EPIPE);
	close(p[0]);
}

static void test_env_and_run_dir(void **state)
{
	char buf[64];

	(void)state;
	setenv("GODWIT_RUN_DIR", "", 1);
	assert_string_equal(util_run_dir(), GODWIT_RUN_DIR_DEFAULT);
	setenv("GODWIT_RUN_DIR", "/tmp/r", 1);
	assert_string_equal(util_run_dir(), "/tmp/r");
	unsetenv("GODWIT_RUN_DIR");
	assert_string_equal(env_or("GODWIT_RUN_DIR", "x"), "x");
	assert_int_equal(util_vm_socket("/tmp/r", "web", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/r/vm/web.qmp");
	assert_int_equal(util_vm_socket("/tmp/r", "web", buf, 8),
			 -ENAMETOOLONG);
}

/* why_set fills the buffer, cuts what does not fit, returns rc as given. */
static void test_why_set(void **state)
{
	char why[8] = "x";

	(void)state;
	assert_int_equal(why_set(why, sizeof(why), -EPROTO, "%s %d", "bad", 42),
			 -EPROTO);
	assert_string_equal(why, "bad 42");
	assert_int_equal(why_set(why, sizeof(why), -EINVAL, "longer than 8"),
			 -EINVAL);
	assert_string_equal(why, "longer ");
	assert_int_equal(why_set(why, 0, 3, "nothing written"), 3);
	assert_string_equal(why, "longer ");
}

static void test_file_write_atomic(void **state)
{
	char dir[] = "/tmp/gw-atomic-XXXXXX", path[64], tmp[72];
	struct stat st;
	size_t len;
	void *got;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(file_write_atomic(path, "old\n", 4, 0600), 0);
	assert_int_equal(file_write_atomic(path, "new text\n", 9, 0640), 0);
	assert_int_equal(file_read_all(path, 100, &got, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(got, "new text\n", 9);
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~umask(022));
	assert_int_not_equal(access(tmp, F_OK), 0); /* renamed away */
	/* A folder that does not exist: an error, and nothing left. */
	snprintf(path, sizeof(path), "%s/no/f", dir);
	assert_int_equal(file_write_atomic(path, "x", 1, 0600), -ENOENT);
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_hw_matches_sw),
		cmocka_unit_test(test_bitmap),
		cmocka_unit_test(test_full_io),
		cmocka_unit_test(test_env_and_run_dir),
		cmocka_unit_test(test_file_write_atomic),
		cmocka_unit_test(test_why_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
