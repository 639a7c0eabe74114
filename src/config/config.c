/*
 * Entry points of the config library: read a file (bounded), run its
 * statements and then the command-line overrides through the key table,
 * then the whole-config checks and defaults. The parse works on a
 * private copy; the caller's struct is written only on success.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/internal.h"

void domain_config_init(struct domain_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory_mib = DOMAIN_MEMORY_DEFAULT_MIB;
	cfg->maxmem_mib = DOMAIN_MEMORY_DEFAULT_MIB;
	cfg->vcpus = 1;
	cfg->maxvcpus = 1;
	strcpy(cfg->cpu, "host");
	cfg->serial = DOMAIN_SERIAL_STDIO;
	cfg->on_poweroff = DOMAIN_ACTION_DESTROY;
	cfg->on_reboot = DOMAIN_ACTION_RESTART;
	cfg->on_crash = DOMAIN_ACTION_DESTROY;
}

static int parse_text(struct config_build *b, struct config_lexer *lx)
{
	int rc;

	rc = config_lex_check(lx, b->diag);
	while (!rc) {
		rc = config_lex_stmt(lx, &b->stmt, b->diag);
		if (rc <= 0)
			break;
		rc = config_apply(b, &b->stmt);
	}
	return rc;
}

static int parse_overrides(struct config_build *b, const char *const *overrides,
			   size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = config_lex_override(overrides[i], (unsigned int)i + 1,
					 &b->stmt, b->diag);
		if (!rc)
			rc = config_apply(b, &b->stmt);
		if (rc)
			return rc;
	}
	return 0;
}

int domain_config_parse(const char *file, const char *text, size_t len,
			const char *const *overrides, size_t nr_overrides,
			struct domain_config *cfg_out, struct config_diag *diag)
{
	struct config_loc where = { file ? file : "(config)", 0, 0 };
	struct config_lexer lx;
	struct config_build *b;
	int rc;

	config_diag_reset(diag);
	if (len > CONFIG_FILE_MAX)
		return config_error(diag, &where, NULL,
				    "file too large (max %d bytes)",
				    CONFIG_FILE_MAX);
	if (len && !text)
		return config_error(diag, &where, NULL, "no text");
	if (nr_overrides > CONFIG_OVERRIDES_MAX)
		return config_error(diag, &where, NULL,
				    "too many overrides (max %d)",
				    CONFIG_OVERRIDES_MAX);
	b = calloc(1, sizeof(*b));
	if (!b) {
		config_error(diag, &where, NULL, "out of memory");
		return -ENOMEM;
	}
	b->diag = diag;
	domain_config_init(&b->cfg);
	config_lex_init(&lx, where.file, text, len);
	rc = parse_text(b, &lx);
	if (!rc)
		rc = parse_overrides(b, overrides, nr_overrides);
	if (!rc)
		rc = config_finish(b, where.file);
	if (!rc)
		memcpy(cfg_out, &b->cfg, sizeof(*cfg_out));
	free(b);
	return rc;
}

int domain_config_load(const char *path, const char *const *overrides,
		       size_t nr_overrides, struct domain_config *cfg_out,
		       struct config_diag *diag)
{
	struct config_loc where = { path, 0, 0 };
	void *text = NULL;
	size_t len = 0;
	int rc;

	config_diag_reset(diag);
	rc = file_read_all(path, CONFIG_FILE_MAX, &text, &len);
	if (rc == -EISDIR || rc == -EINVAL)
		return config_error(diag, &where, NULL, "not a regular file");
	if (rc == -EFBIG)
		return config_error(diag, &where, NULL,
				    "file too large (max %d bytes)",
				    CONFIG_FILE_MAX);
	if (rc) {
		config_error(diag, &where, NULL, "cannot open: %s",
			     strerror(-rc));
		return rc;
	}
	rc = domain_config_parse(path, text, len, overrides, nr_overrides,
				 cfg_out, diag);
	free(text);
	return rc;
}
