/*
 * Unit tests of the domain configuration: the driver that runs every
 * group, and the parse helpers the groups share (helpers.h).
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

#include "helpers.h"

void *test_alloc(size_t size)
{
	void *p = calloc(1, size);

	if (!p)
		abort();
	return p;
}

struct parse_result *cfg_parse_len(const char *text, size_t len,
				   const char *const *ov, size_t n)
{
	struct parse_result *r = test_alloc(sizeof(*r));

	r->rc = domain_config_parse("vm.cfg", text, len, ov, n, &r->cfg,
				    &r->diag);
	return r;
}

struct parse_result *cfg_parse(const char *text, const char *const *ov,
			       size_t n)
{
	return cfg_parse_len(text, strlen(text), ov, n);
}

struct parse_result *cfg_ok(const char *text)
{
	struct parse_result *r = cfg_parse(text, NULL, 0);

	if (r->rc)
		fail_msg("parse failed (%d): %s", r->rc, r->diag.error);
	return r;
}

void cfg_fails(const char *text, const char *message)
{
	cfg_override_fails(text, NULL, 0, message);
}

void cfg_override_fails(const char *text, const char *const *ov, size_t n,
			const char *message)
{
	struct parse_result *r = cfg_parse(text, ov, n);

	assert_int_equal(r->rc, -EINVAL);
	assert_string_equal(r->diag.error, message);
	free(r);
}

bool cfg_has_warning(const struct config_diag *d, const char *message)
{
	unsigned int i;

	for (i = 0; i < d->nr_warnings; i++) {
		if (!strcmp(d->warnings[i], message))
			return true;
	}
	return false;
}

void cfg_assert_round_trip(const struct domain_config *cfg)
{
	char *text = test_alloc(DOMAIN_CONFIG_TEXT_MAX);
	char *again = test_alloc(DOMAIN_CONFIG_TEXT_MAX);
	struct parse_result *r;

	assert_int_equal(
		domain_config_format(cfg, text, DOMAIN_CONFIG_TEXT_MAX), 0);
	r = cfg_parse(text, NULL, 0);
	if (r->rc)
		fail_msg("canonical text does not parse: %s\n%s", r->diag.error,
			 text);
	assert_true(domain_config_equal(cfg, &r->cfg));
	assert_true(r->cfg.uuid_given);
	if (cfg->uuid_given)
		assert_memory_equal(cfg, &r->cfg, sizeof(*cfg));
	assert_int_equal(domain_config_format(&r->cfg, again,
					      DOMAIN_CONFIG_TEXT_MAX),
			 0);
	assert_string_equal(text, again);
	free(r);
	free(again);
	free(text);
}

int main(void)
{
	int failed = 0;

	failed += config_test_syntax();
	failed += config_test_keys();
	failed += config_test_specs();
	failed += config_test_overrides();
	failed += config_test_roundtrip();
	failed += config_test_disks();
	return failed ? 1 : 0;
}
