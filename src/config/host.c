/*
 * godwitd's configuration file (host_config.h): the xl.cfg reader
 * (lex.c) with a key table of its own. Every key is a string from a
 * fixed set of words; the parse works on a copy and writes the caller's
 * struct only on success.
 */
#include "config/host_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/internal.h"

static const char *const on_stop_words[] = { "keep", "save" };

void host_config_init(struct host_config *h)
{
	memset(h, 0, sizeof(*h));
	h->on_host_stop = HOST_ON_STOP_KEEP;
}

const char *host_on_stop_name(enum host_on_stop v)
{
	return (unsigned int)v < ARRAY_SIZE(on_stop_words) ? on_stop_words[v] :
							     "?";
}

/* One of words, or an error naming them. */
static int word_of(const struct config_stmt *st, const char *const *words,
		   size_t n, struct config_diag *d)
{
	char shown[64];
	int i;

	if (st->value.kind != CONFIG_STRING)
		return config_error(d, &st->value.loc, st->key,
				    "expected a string");
	i = config_span_lookup(st->value.text, st->value.len, words, n);
	if (i >= 0)
		return i;
	config_excerpt(shown, sizeof(shown), st->value.text);
	return config_error(d, &st->value.loc, st->key,
			    "unknown value %s (expected \"keep\" or \"save\")",
			    shown);
}

static int apply(struct host_config *h, const struct config_stmt *st,
		 struct config_diag *d)
{
	int v;

	if (strcmp(st->key, "on_host_stop"))
		return config_error(
			d, &st->loc, st->key,
			"unknown key (godwitd.conf has on_host_stop)");
	v = word_of(st, on_stop_words, ARRAY_SIZE(on_stop_words), d);
	if (v < 0)
		return v;
	h->on_host_stop = (enum host_on_stop)v;
	return 0;
}

int host_config_parse(const char *file, const char *text, size_t len,
		      struct host_config *h, struct config_diag *diag)
{
	struct config_loc where = { file ? file : "(godwitd.conf)", 0, 0 };
	struct config_stmt *st = calloc(1, sizeof(*st));
	struct host_config out;
	struct config_lexer lx;
	int rc;

	config_diag_reset(diag);
	if (!st) {
		config_error(diag, &where, NULL, "out of memory");
		return -ENOMEM;
	}
	host_config_init(&out);
	config_lex_init(&lx, where.file, text, len);
	rc = len > CONFIG_FILE_MAX ?
		     config_error(diag, &where, NULL,
				  "file too large (max %d bytes)",
				  CONFIG_FILE_MAX) :
		     config_lex_check(&lx, diag);
	while (!rc) {
		rc = config_lex_stmt(&lx, st, diag);
		if (rc <= 0)
			break;
		rc = apply(&out, st, diag);
	}
	free(st);
	if (!rc)
		*h = out;
	return rc;
}

int host_config_load(const char *path, bool missing_ok, struct host_config *h,
		     struct config_diag *diag)
{
	struct config_loc where = { path, 0, 0 };
	void *text = NULL;
	size_t len = 0;
	int rc;

	config_diag_reset(diag);
	rc = file_read_all(path, CONFIG_FILE_MAX, &text, &len);
	if (rc == -ENOENT && missing_ok) {
		host_config_init(h);
		return 0;
	}
	if (rc == -EFBIG)
		return config_error(diag, &where, NULL,
				    "file too large (max %d bytes)",
				    CONFIG_FILE_MAX);
	if (rc) {
		config_error(diag, &where, NULL, "cannot read it: %s",
			     strerror(-rc));
		return rc;
	}
	rc = host_config_parse(path, text, len, h, diag);
	free(text);
	return rc;
}
