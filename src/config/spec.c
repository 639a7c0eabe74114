/*
 * Reading the device spec strings inside the disk and vif lists: items
 * separated by commas and trimmed, each key=value or a bare word, with
 * messages that name the list and the entry ("vm.cfg:4: vif: entry 2:
 * ..."). Disks are read in disk.c; network interfaces here:
 *
 *   vif:  "mac=02:00:00:00:00:01, bridge=br0, model=virtio"
 *
 * Parameters godwit does not implement are refused, except a few
 * harmless xl ones that are ignored with a warning.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* xl vif parameters accepted and ignored. */
static const char *const vif_ignored[] = {
	"type", "script", "ip", "backend", "gatewaydev", "rate", "mtu",
};

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

static int vif_mac(const struct config_spec *sp, struct domain_vif *out,
		   const struct config_item *it)
{
	char text[DOMAIN_MAC_STR_LEN + 1], buf[80];
	static const uint8_t zero[6];

	config_span_shown(buf, sizeof(buf), it->val, it->vlen);
	if (it->vlen > DOMAIN_MAC_STR_LEN)
		return config_spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	memcpy(text, it->val, it->vlen);
	text[it->vlen] = 0;
	if (config_mac_parse(text, out->mac))
		return config_spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	if (out->mac[0] & 1)
		return config_spec_error(sp, "mac %s is a multicast address",
					 buf);
	if (!memcmp(out->mac, zero, sizeof(zero)))
		return config_spec_error(sp, "mac %s is not a valid address",
					 buf);
	return 0;
}

static int vif_ifname(const struct config_spec *sp, const char *what, char *out,
		      const struct config_item *it)
{
	char text[DOMAIN_IFNAME_MAX + 1], buf[80];

	if (it->vlen && it->vlen <= DOMAIN_IFNAME_MAX) {
		memcpy(text, it->val, it->vlen);
		text[it->vlen] = 0;
		if (config_is_plain_word(text))
			return config_span_copy(sp, what, out,
						DOMAIN_IFNAME_MAX, it);
	}
	return config_spec_error(
		sp, "invalid %s %s (1 to %d of A-Z a-z 0-9 _ . -)", what,
		config_span_shown(buf, sizeof(buf), it->val, it->vlen),
		DOMAIN_IFNAME_MAX);
}

static int vif_model(const struct config_spec *sp, struct domain_vif *out,
		     const struct config_item *it)
{
	char buf[80];

	if (config_span_is(it->val, it->vlen, "virtio") ||
	    config_span_is(it->val, it->vlen, "virtio-net")) {
		out->model = DOMAIN_VIF_VIRTIO;
		return 0;
	}
	return config_spec_error(sp, "model %s is not supported (only virtio)",
				 config_span_shown(buf, sizeof(buf), it->val,
						   it->vlen));
}

/* One key=value of a vif spec; seen has a bit per key already given. */
static int vif_item(const struct config_spec *sp, struct domain_vif *out,
		    const struct config_item *it, unsigned int *seen)
{
	static const char *const names[] = { "mac", "bridge", "vifname",
					     "model" };
	char buf[80];
	int i;

	if (config_spec_ignored(sp, it->key, it->klen, vif_ignored,
				ARRAY_SIZE(vif_ignored)))
		return 0;
	i = config_span_lookup(it->key, it->klen, names, ARRAY_SIZE(names));
	if (i < 0)
		return config_spec_error(sp, "unknown parameter %s",
					 config_span_shown(buf, sizeof(buf),
							   it->key, it->klen));
	if (*seen & (1u << i))
		return config_spec_error(sp, "%s given twice", names[i]);
	*seen |= 1u << i;
	if (i == 0)
		return vif_mac(sp, out, it);
	if (i == 1)
		return vif_ifname(sp, "bridge", out->bridge, it);
	if (i == 2)
		return vif_ifname(sp, "vifname", out->vifname, it);
	return vif_model(sp, out, it);
}

int config_parse_vif(struct config_build *b, const struct config_atom *a,
		     unsigned int index, struct domain_vif *out)
{
	struct config_spec sp = { b->diag, a, "vif", index };
	struct config_item_iter it = { a->text, 0, false };
	struct config_item item;
	unsigned int seen = 0;
	char buf[80];
	int rc;

	memset(out, 0, sizeof(*out));
	out->model = DOMAIN_VIF_VIRTIO;
	while (config_item_next(&it, &item)) {
		if (!item.key && !item.vlen)
			continue;
		if (!item.key)
			return config_spec_error(
				&sp, "expected key=value, got %s",
				config_span_shown(buf, sizeof(buf), item.val,
						  item.vlen));
		rc = vif_item(&sp, out, &item, &seen);
		if (rc)
			return rc;
	}
	if (seen & 1)
		return 0;
	rc = config_mac_generate(out->mac);
	if (rc)
		return config_spec_error(&sp,
					 "cannot generate a mac address: %s",
					 strerror(-rc));
	return 0;
}
