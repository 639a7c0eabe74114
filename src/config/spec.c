/*
 * Device spec strings inside the disk and vif lists, in xl's forms:
 *
 *   disk: "format=raw, vdev=xvda, access=rw, target=/path"   (keywords)
 *         "/path,raw,xvda,rw"            (positional: target,format,vdev,access)
 *         "phy:/dev/vg/lv,xvda,w"        (xm legacy: [prefix:]target,vdev,access)
 *   vif:  "mac=02:00:00:00:00:01, bridge=br0, model=virtio"
 *
 * Items are separated by commas and trimmed; "target=" takes the rest of
 * the string, commas included, so it must come last. Parameters godwit
 * does not implement are refused, except a few harmless xl ones that
 * are ignored with a warning.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* One spec string being read: for messages and warnings. */
struct spec {
	struct config_build *b;
	const struct config_atom *a;
	const char *key;
	unsigned int index;
};

/* One comma-separated item: key=val, or a bare val (key NULL). */
struct spec_item {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

/* Walks the items of one spec string. */
struct spec_iter {
	const char *s;
	size_t pos;
	bool done;
};

/* A disk spec's four parameters as found, before they are checked. */
struct disk_parts {
	struct spec_item part[4];
	bool given[4];
	struct spec_item positional[4];
	unsigned int nr_positional;
};

enum { DISK_TARGET, DISK_FORMAT, DISK_VDEV, DISK_ACCESS };

static const char *const disk_part_names[] = { "target", "format", "vdev",
					       "access" };

/* xl disk parameters accepted and ignored. */
static const char *const disk_ignored[] = {
	"backend",    "backendtype",	"script",  "discard",
	"no-discard", "direct-io-safe", "trusted", "untrusted",
};

/* xl vif parameters accepted and ignored. */
static const char *const vif_ignored[] = {
	"type", "script", "ip", "backend", "gatewaydev", "rate", "mtu",
};

/* Image formats xl knows; godwit reads raw only. */
static const char *const disk_formats[] = { "raw", "qcow", "qcow2",
					    "vhd", "qed",  "empty" };

static int spec_error(const struct spec *sp, const char *fmt, ...)
	__printf(2, 3);

/* Messages about a spec name its line, not its column. */
static struct config_loc spec_loc(const struct spec *sp)
{
	return (struct config_loc){ sp->a->loc.file, sp->a->loc.line, 0 };
}

static int spec_error(const struct spec *sp, const char *fmt, ...)
{
	struct config_loc loc = spec_loc(sp);
	char msg[CONFIG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return config_error(sp->b->diag, &loc, sp->key, "entry %u: %s",
			    sp->index, msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

static bool span_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(s, word, len);
}

static int span_lookup(const char *s, size_t len, const char *const *words,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (span_is(s, len, words[i]))
			return (int)i;
	}
	return -ENOENT;
}

/* Is name one of the xl parameters in ignored[n]? Warns if it is. */
static bool spec_ignored(const struct spec *sp, const char *name, size_t len,
			 const char *const *ignored, size_t n)
{
	struct config_loc loc = spec_loc(sp);

	if (span_lookup(name, len, ignored, n) < 0)
		return false;
	config_warning(sp->b->diag, &loc, sp->key,
		       "entry %u: %.*s ignored (not implemented by godwit)",
		       sp->index, (int)len, name);
	return true;
}

/* Next item; false after the last. */
static bool spec_next(struct spec_iter *it, struct spec_item *item)
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
		trim(&item->key, &item->klen);
		len -= eq + 1 - p;
		p = eq + 1;
	}
	trim(&p, &len);
	item->val = p;
	item->vlen = len;
	return true;
}

/* Make item's value the rest of the string, commas included. */
static void spec_take_rest(struct spec_iter *it, struct spec_item *item)
{
	item->vlen = strlen(item->val);
	trim(&item->val, &item->vlen);
	it->done = true;
}

/* A span as a quoted excerpt for messages. */
static const char *span_shown(char *buf, size_t len, const char *s, size_t n)
{
	char tmp[64];

	/* config_excerpt() cuts at 40 bytes and marks the cut. */
	snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(n, sizeof(tmp) - 1), s);
	config_excerpt(buf, len, tmp);
	return buf;
}

static int span_copy(const struct spec *sp, const char *what, char *out,
		     size_t max, const struct spec_item *it)
{
	if (it->vlen > max)
		return spec_error(sp, "%s too long (max %zu bytes)", what, max);
	memset(out, 0, max + 1);
	memcpy(out, it->val, it->vlen);
	return 0;
}

/* Old-style target prefixes ("phy:/dev/sdb") and the format they imply. */
static const struct {
	const char *prefix;
	const char *format;
} target_prefixes[] = {
	{ "phy:", "raw" },	   { "file:", "raw" },
	{ "raw:", "raw" },	   { "aio:", "raw" },
	{ "tap:aio:", "raw" },	   { "tap2:aio:", "raw" },
	{ "qcow:", "qcow" },	   { "qcow2:", "qcow2" },
	{ "vhd:", "vhd" },	   { "tap:qcow:", "qcow" },
	{ "tap:qcow2:", "qcow2" }, { "tap:vhd:", "vhd" },
};

static int disk_set_part(const struct spec *sp, struct disk_parts *dp, int i,
			 const struct spec_item *it)
{
	if (dp->given[i])
		return spec_error(sp, "%s given twice", disk_part_names[i]);
	dp->part[i] = *it;
	dp->given[i] = true;
	return 0;
}

/* A positional target: strip an old-style prefix, noting its format. */
static int disk_positional_target(const struct spec *sp, struct disk_parts *dp,
				  const struct spec_item *it)
{
	struct spec_item t = *it, f = { 0 };
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(target_prefixes); i++) {
		n = strlen(target_prefixes[i].prefix);
		if (t.vlen < n || memcmp(t.val, target_prefixes[i].prefix, n))
			continue;
		t.val += n;
		t.vlen -= n;
		trim(&t.val, &t.vlen);
		f.val = target_prefixes[i].format;
		f.vlen = strlen(f.val);
		break;
	}
	if (f.val && disk_set_part(sp, dp, DISK_FORMAT, &f))
		return -EINVAL;
	return disk_set_part(sp, dp, DISK_TARGET, &t);
}

/*
 * Positional items: target,format,vdev,access; or xm's target,vdev,access
 * when there are three and the second is not a format name.
 */
static int disk_positional(const struct spec *sp, struct disk_parts *dp)
{
	static const int xl_order[] = { DISK_TARGET, DISK_FORMAT, DISK_VDEV,
					DISK_ACCESS };
	static const int xm_order[] = { DISK_TARGET, DISK_VDEV, DISK_ACCESS };
	const struct spec_item *pos = dp->positional;
	const int *order = xl_order;
	unsigned int i;
	int rc = 0;

	if (dp->nr_positional == 3 && pos[1].vlen &&
	    span_lookup(pos[1].val, pos[1].vlen, disk_formats,
			ARRAY_SIZE(disk_formats)) < 0)
		order = xm_order;
	for (i = 0; i < dp->nr_positional && !rc; i++) {
		if (!pos[i].vlen)
			continue;
		if (order[i] == DISK_TARGET)
			rc = disk_positional_target(sp, dp, &pos[i]);
		else
			rc = disk_set_part(sp, dp, order[i], &pos[i]);
	}
	return rc;
}

static int disk_devtype(const struct spec *sp, const struct spec_item *it)
{
	char buf[80];

	if (span_is(it->val, it->vlen, "disk"))
		return 0;
	if (span_is(it->val, it->vlen, "cdrom"))
		return spec_error(sp, "cdrom devices are not supported");
	return spec_error(sp, "unknown devtype %s",
			  span_shown(buf, sizeof(buf), it->val, it->vlen));
}

static int disk_item(const struct spec *sp, struct disk_parts *dp,
		     const struct spec_item *it)
{
	const char *name = it->key ? it->key : it->val;
	size_t len = it->key ? it->klen : it->vlen;
	char buf[80];
	int i;

	if (spec_ignored(sp, name, len, disk_ignored, ARRAY_SIZE(disk_ignored)))
		return 0;
	if (!it->key && dp->nr_positional >= 4)
		return spec_error(
			sp,
			"too many positional parameters (target,format,vdev,access)");
	if (!it->key) {
		dp->positional[dp->nr_positional++] = *it;
		return 0;
	}
	i = span_lookup(it->key, it->klen, disk_part_names, 4);
	if (i >= 0)
		return disk_set_part(sp, dp, i, it);
	if (span_is(it->key, it->klen, "devtype"))
		return disk_devtype(sp, it);
	return spec_error(sp, "unknown parameter %s",
			  span_shown(buf, sizeof(buf), it->key, it->klen));
}

static bool is_vdev(const char *s, size_t len)
{
	size_t i;

	if (!len || len > DOMAIN_VDEV_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	}
	return true;
}

static int disk_vdev(const struct spec *sp, const struct disk_parts *dp,
		     struct domain_disk *out)
{
	const struct spec_item *v = &dp->part[DISK_VDEV];
	char buf[80];

	if (!dp->given[DISK_VDEV] || !v->vlen)
		return spec_error(
			sp,
			"no vdev (the guest's name for the disk, e.g. xvda)");
	if (memchr(v->val, ':', v->vlen) && v->vlen > 6 &&
	    span_is(v->val + v->vlen - 6, 6, ":cdrom"))
		return spec_error(sp, "cdrom devices are not supported");
	if (!is_vdev(v->val, v->vlen))
		return spec_error(
			sp,
			"invalid vdev %s (a-z then a-z 0-9, at most %d bytes)",
			span_shown(buf, sizeof(buf), v->val, v->vlen),
			DOMAIN_VDEV_MAX);
	return span_copy(sp, "vdev", out->vdev, DOMAIN_VDEV_MAX, v);
}

static int disk_format(const struct spec *sp, const struct disk_parts *dp,
		       struct domain_disk *out)
{
	const struct spec_item *f = &dp->part[DISK_FORMAT];
	char buf[80];
	int i;

	out->format = DOMAIN_DISK_RAW;
	if (!dp->given[DISK_FORMAT] || span_is(f->val, f->vlen, "raw"))
		return 0;
	span_shown(buf, sizeof(buf), f->val, f->vlen);
	i = span_lookup(f->val, f->vlen, disk_formats,
			ARRAY_SIZE(disk_formats));
	if (i >= 0)
		return spec_error(sp, "format %s is not supported (only raw)",
				  buf);
	return spec_error(sp, "unknown format %s (only raw is supported)", buf);
}

static int disk_access(const struct spec *sp, const struct disk_parts *dp,
		       struct domain_disk *out)
{
	const struct spec_item *a = &dp->part[DISK_ACCESS];
	char buf[80];

	out->readonly = false;
	if (!dp->given[DISK_ACCESS] || span_is(a->val, a->vlen, "rw") ||
	    span_is(a->val, a->vlen, "w"))
		return 0;
	if (span_is(a->val, a->vlen, "ro") || span_is(a->val, a->vlen, "r")) {
		out->readonly = true;
		return 0;
	}
	return spec_error(sp, "access must be ro or rw, got %s",
			  span_shown(buf, sizeof(buf), a->val, a->vlen));
}

static int disk_build(const struct spec *sp, const struct disk_parts *dp,
		      struct domain_disk *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!dp->given[DISK_TARGET] || !dp->part[DISK_TARGET].vlen)
		return spec_error(sp, "no target (the disk image path)");
	rc = span_copy(sp, "target", out->target, DOMAIN_PATH_MAX,
		       &dp->part[DISK_TARGET]);
	if (!rc)
		rc = disk_format(sp, dp, out);
	if (!rc)
		rc = disk_vdev(sp, dp, out);
	if (!rc)
		rc = disk_access(sp, dp, out);
	return rc;
}

int config_parse_disk(struct config_build *b, const struct config_atom *a,
		      unsigned int index, struct domain_disk *out)
{
	struct spec sp = { b, a, "disk", index };
	struct spec_iter it = { a->text, 0, false };
	struct disk_parts dp;
	struct spec_item item;
	int rc;

	memset(&dp, 0, sizeof(dp));
	while (spec_next(&it, &item)) {
		if (item.key && span_is(item.key, item.klen, "target"))
			spec_take_rest(&it, &item);
		rc = disk_item(&sp, &dp, &item);
		if (rc)
			return rc;
	}
	rc = disk_positional(&sp, &dp);
	if (rc)
		return rc;
	return disk_build(&sp, &dp, out);
}

static int vif_mac(const struct spec *sp, struct domain_vif *out,
		   const struct spec_item *it)
{
	char text[DOMAIN_MAC_STR_LEN + 1], buf[80];
	static const uint8_t zero[6];

	span_shown(buf, sizeof(buf), it->val, it->vlen);
	if (it->vlen > DOMAIN_MAC_STR_LEN)
		return spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	memcpy(text, it->val, it->vlen);
	text[it->vlen] = 0;
	if (config_mac_parse(text, out->mac))
		return spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	if (out->mac[0] & 1)
		return spec_error(sp, "mac %s is a multicast address", buf);
	if (!memcmp(out->mac, zero, sizeof(zero)))
		return spec_error(sp, "mac %s is not a valid address", buf);
	return 0;
}

static int vif_ifname(const struct spec *sp, const char *what, char *out,
		      const struct spec_item *it)
{
	char text[DOMAIN_IFNAME_MAX + 1], buf[80];

	if (it->vlen && it->vlen <= DOMAIN_IFNAME_MAX) {
		memcpy(text, it->val, it->vlen);
		text[it->vlen] = 0;
		if (config_is_plain_word(text))
			return span_copy(sp, what, out, DOMAIN_IFNAME_MAX, it);
	}
	return spec_error(sp, "invalid %s %s (1 to %d of A-Z a-z 0-9 _ . -)",
			  what, span_shown(buf, sizeof(buf), it->val, it->vlen),
			  DOMAIN_IFNAME_MAX);
}

static int vif_model(const struct spec *sp, struct domain_vif *out,
		     const struct spec_item *it)
{
	char buf[80];

	if (span_is(it->val, it->vlen, "virtio") ||
	    span_is(it->val, it->vlen, "virtio-net")) {
		out->model = DOMAIN_VIF_VIRTIO;
		return 0;
	}
	return spec_error(sp, "model %s is not supported (only virtio)",
			  span_shown(buf, sizeof(buf), it->val, it->vlen));
}

/* One key=value of a vif spec; seen has a bit per key already given. */
static int vif_item(const struct spec *sp, struct domain_vif *out,
		    const struct spec_item *it, unsigned int *seen)
{
	static const char *const names[] = { "mac", "bridge", "vifname",
					     "model" };
	char buf[80];
	int i;

	if (spec_ignored(sp, it->key, it->klen, vif_ignored,
			 ARRAY_SIZE(vif_ignored)))
		return 0;
	i = span_lookup(it->key, it->klen, names, ARRAY_SIZE(names));
	if (i < 0)
		return spec_error(sp, "unknown parameter %s",
				  span_shown(buf, sizeof(buf), it->key,
					     it->klen));
	if (*seen & (1u << i))
		return spec_error(sp, "%s given twice", names[i]);
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
	struct spec sp = { b, a, "vif", index };
	struct spec_iter it = { a->text, 0, false };
	struct spec_item item;
	unsigned int seen = 0;
	char buf[80];
	int rc;

	memset(out, 0, sizeof(*out));
	out->model = DOMAIN_VIF_VIRTIO;
	while (spec_next(&it, &item)) {
		if (!item.key && !item.vlen)
			continue;
		if (!item.key)
			return spec_error(&sp, "expected key=value, got %s",
					  span_shown(buf, sizeof(buf), item.val,
						     item.vlen));
		rc = vif_item(&sp, out, &item, &seen);
		if (rc)
			return rc;
	}
	if (seen & 1)
		return 0;
	rc = config_mac_generate(out->mac);
	if (rc)
		return spec_error(&sp, "cannot generate a mac address: %s",
				  strerror(-rc));
	return 0;
}
