/*
 * Reading the device spec strings inside the disk and vif lists: items
 * separated by commas and trimmed, each key=value or a bare word, with
 * messages that name the list and the entry ("vm.cfg:4: vif: entry 2:
 * ..."). Disks are read in disk.c, network interfaces in vif.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* Messages about a spec name its line, not its column. */
static struct config_loc spec_loc(const struct config_spec *sp)
{
	return (struct config_loc){ sp->a->loc.file, sp->a->loc.line, 0 };
}

static void spec_message(const struct config_spec *sp, bool error,
			 const char *fmt, va_list ap)
{
	struct config_loc loc = spec_loc(sp);
	char msg[CONFIG_MSG_MAX], entry[32] = "";

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (sp->index)
		snprintf(entry, sizeof(entry), "entry %u: ", sp->index);
	if (error)
		config_error(sp->diag, &loc, sp->key, "%s%s", entry, msg);
	else
		config_warning(sp->diag, &loc, sp->key, "%s%s", entry, msg);
}

int config_spec_error(const struct config_spec *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spec_message(sp, true, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void config_spec_warning(const struct config_spec *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spec_message(sp, false, fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

void config_span_trim(const char **s, size_t *len)
{
	while (*len && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

bool config_span_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(s, word, len);
}

int config_span_lookup(const char *s, size_t len, const char *const *words,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (config_span_is(s, len, words[i]))
			return (int)i;
	}
	return -ENOENT;
}

bool config_spec_ignored(const struct config_spec *sp, const char *name,
			 size_t len, const char *const *ignored, size_t n)
{
	if (config_span_lookup(name, len, ignored, n) < 0)
		return false;
	config_spec_warning(sp, "%.*s ignored (not implemented by godwit)",
			    (int)len, name);
	return true;
}

bool config_item_next(struct config_item_iter *it, struct config_item *item)
{
	const char *p, *comma, *eq;
	size_t len;

	if (it->done)
		return false;
	p = it->s + it->pos;
	comma = strchr(p, ',');
	len = comma ? (size_t)(comma - p) : strlen(p);
	it->pos += len + 1;
	it->done = !comma;
	memset(item, 0, sizeof(*item));
	eq = memchr(p, '=', len);
	if (eq) {
		item->key = p;
		item->klen = eq - p;
		config_span_trim(&item->key, &item->klen);
		len -= eq + 1 - p;
		p = eq + 1;
	}
	config_span_trim(&p, &len);
	item->val = p;
	item->vlen = len;
	return true;
}

void config_item_take_rest(struct config_item_iter *it,
			   struct config_item *item)
{
	item->vlen = strlen(item->val);
	config_span_trim(&item->val, &item->vlen);
	it->done = true;
}

const char *config_span_shown(char *buf, size_t len, const char *s, size_t n)
{
	char tmp[64];

	/* config_excerpt() cuts at 40 bytes and marks the cut. */
	snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(n, sizeof(tmp) - 1), s);
	config_excerpt(buf, len, tmp);
	return buf;
}

int config_span_copy(const struct config_spec *sp, const char *what, char *out,
		     size_t max, const struct config_item *it)
{
	if (it->vlen > max)
		return config_spec_error(sp, "%s too long (max %zu bytes)",
					 what, max);
	memset(out, 0, max + 1);
	memcpy(out, it->val, it->vlen);
	return 0;
}
