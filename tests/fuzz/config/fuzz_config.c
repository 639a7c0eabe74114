/*
 * libFuzzer target of the domain configuration: arbitrary bytes parsed as
 * a config file. Whatever parses must round-trip: format -> parse gives
 * an equal struct and the same canonical text again; any mismatch
 * aborts. The first input line may also be used as one override, so the
 * override reader is covered by the same corpus, or as one disk spec
 * added as `godwit run --disk` adds it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/domain_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Canonical text of a, parsed again into b; aborts on any mismatch. */
static void check_round_trip(const struct domain_config *a)
{
	static char text[DOMAIN_CONFIG_TEXT_MAX], again[DOMAIN_CONFIG_TEXT_MAX];
	static struct domain_config b;
	static struct config_diag diag;

	if (domain_config_format(a, text, sizeof(text))) {
		fprintf(stderr, "format failed\n");
		abort();
	}
	if (domain_config_parse("canonical", text, strlen(text), NULL, 0, &b,
				&diag)) {
		fprintf(stderr, "canonical text does not parse: %s\n%s\n",
			diag.error, text);
		abort();
	}
	if (!domain_config_equal(a, &b) || !b.uuid_given) {
		fprintf(stderr, "round trip changed the config:\n%s\n", text);
		abort();
	}
	if (domain_config_format(&b, again, sizeof(again)) ||
	    strcmp(text, again)) {
		fprintf(stderr, "canonical text is not stable:\n%s\n", text);
		abort();
	}
}

/* A first line "PREFIXtext": text into out; 1 if there is one. */
static size_t take_line(const uint8_t *data, size_t size, const char *prefix,
			char *out, size_t len)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t p = strlen(prefix), n;

	if (size < p || memcmp(data, prefix, p) || !nl)
		return 0;
	n = (size_t)(nl - data) - p;
	if (n >= len || memchr(data + p, 0, n))
		return 0;
	memcpy(out, data + p, n);
	out[n] = 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct domain_config cfg;
	static struct config_diag diag;
	static char ov[CONFIG_LINE_MAX + 1];
	const char *ovs[1] = { ov };
	size_t n = take_line(data, size, "#override ", ov, sizeof(ov));
	size_t disk = take_line(data, size, "#disk ", ov, sizeof(ov));

	if (domain_config_parse("fuzz.cfg", (const char *)data, size, ovs, n,
				&cfg, &diag))
		return 0;
	if (disk && domain_config_add_disk(&cfg, "--disk", ov, &diag))
		return 0;
	check_round_trip(&cfg);
	return 0;
}
