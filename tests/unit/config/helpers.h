/*
 * Shared helpers of the config unit tests: parse a text as "vm.cfg" and
 * check the exact one-line error, or success with its warnings. Each
 * test file exports one cmocka group, run by test_config.c.
 */
#ifndef GODWIT_TESTS_UNIT_CONFIG_HELPERS_H
#define GODWIT_TESTS_UNIT_CONFIG_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/domain_config.h"

/* Result of one parse; heap-allocated (the structs are large). */
struct parse_result {
	int rc;
	struct domain_config cfg;
	struct config_diag diag;
};

/* Zeroed memory; aborts when there is none. */
void *test_alloc(size_t size) __attribute__((returns_nonnull, malloc));
/* Parse text (strlen) as vm.cfg with overrides; free() the result. */
struct parse_result *cfg_parse(const char *text, const char *const *ov,
			       size_t n);
/* Same with an explicit length (NUL bytes in the input). */
struct parse_result *cfg_parse_len(const char *text, size_t len,
				   const char *const *ov, size_t n);
/* Assert text parses; fails the test with the error otherwise. */
struct parse_result *cfg_ok(const char *text);
/* Assert text fails with -EINVAL and exactly message. */
void cfg_fails(const char *text, const char *message);
/* Assert overrides on top of text fail with exactly message. */
void cfg_override_fails(const char *text, const char *const *ov, size_t n,
			const char *message);
/* Is message one of the warnings? */
bool cfg_has_warning(const struct config_diag *d, const char *message);
/* Format cfg, parse it back, and assert equality and a stable text. */
void cfg_assert_round_trip(const struct domain_config *cfg);

int config_test_syntax(void);
int config_test_keys(void);
int config_test_specs(void);
int config_test_overrides(void);
int config_test_roundtrip(void);
int config_test_disks(void);

#endif
