/*
 * Messages of the config library: one line each, shaped
 * "FILE:LINE[:COL]: KEY: MESSAGE" so they can be grepped, collected in the
 * caller's struct config_diag. The library never prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* Bytes of a value shown in a message before it is cut. */
#define EXCERPT_BYTES 40

void config_diag_reset(struct config_diag *d)
{
	if (d)
		memset(d, 0, sizeof(*d));
}

static void format_msg(char *out, size_t len, const struct config_loc *loc,
		       const char *key, const char *fmt, va_list ap)
{
	size_t n;

	if (loc->line && loc->col)
		snprintf(out, len, "%s:%u:%u: ", loc->file, loc->line,
			 loc->col);
	else if (loc->line)
		snprintf(out, len, "%s:%u: ", loc->file, loc->line);
	else
		snprintf(out, len, "%s: ", loc->file);
	n = strlen(out);
	if (key && n < len)
		snprintf(out + n, len - n, "%s: ", key);
	n = strlen(out);
	if (n < len)
		vsnprintf(out + n, len - n, fmt, ap);
	/* A file name with a newline must not split the line. */
	for (n = 0; out[n]; n++) {
		if (out[n] == '\n' || out[n] == '\r')
			out[n] = ' ';
	}
}

int config_error(struct config_diag *d, const struct config_loc *loc,
		 const char *key, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return -EINVAL;
	va_start(ap, fmt);
	format_msg(d->error, sizeof(d->error), loc, key, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void config_warning(struct config_diag *d, const struct config_loc *loc,
		    const char *key, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	if (d->nr_warnings >= CONFIG_WARN_MAX) {
		d->warnings_dropped++;
		return;
	}
	va_start(ap, fmt);
	format_msg(d->warnings[d->nr_warnings], CONFIG_MSG_MAX, loc, key, fmt,
		   ap);
	va_end(ap);
	d->nr_warnings++;
}

/* Append the shown form of byte c; false when out is full. */
static bool excerpt_byte(char *out, size_t len, size_t *n, unsigned char c)
{
	char tmp[5];
	size_t k;

	if (c == '"' || c == '\\')
		snprintf(tmp, sizeof(tmp), "\\%c", c);
	else if (c < 0x20 || c >= 0x7f)
		snprintf(tmp, sizeof(tmp), "\\x%02x", c);
	else
		snprintf(tmp, sizeof(tmp), "%c", c);
	k = strlen(tmp);
	if (*n + k + 1 > len)
		return false;
	memcpy(out + *n, tmp, k + 1);
	*n += k;
	return true;
}

void config_excerpt(char *out, size_t len, const char *s)
{
	size_t n = 0, i;

	if (len < 8) {
		if (len)
			out[0] = 0;
		return;
	}
	/* Keep room for the closing quote, "..." and the NUL. */
	len -= 4;
	out[n++] = '"';
	out[n] = 0;
	for (i = 0; s[i] && i < EXCERPT_BYTES; i++) {
		if (!excerpt_byte(out, len, &n, (unsigned char)s[i]))
			break;
	}
	out[n++] = '"';
	if (s[i]) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = 0;
}
