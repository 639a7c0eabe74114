/*
 * Disk spec strings, in the forms Xen's xl-disk-configuration documents:
 *
 *   "format=raw, vdev=xvda, access=rw, target=/path"   (keywords)
 *   "/path,raw,xvda,rw"            (positional: target,format,vdev,access)
 *   "phy:/dev/vg/lv,xvda,w"        (xm: [prefix:]target,vdev,access)
 *
 * plus flags (discard, no-discard, direct-io) and script=, size=. A
 * positional target may carry xl's old prefixes, stripped in a loop as
 * xl does: tap:, tap2:, tapdisk:, aio:, ioemu:, file:, phy: mean nothing
 * more (except that phy: puts /dev/ before a relative path, as xm did),
 * raw:, qcow:, qcow2:, vhd: name the format, iscsi:, nbd:, enbd:, drbd:
 * the script block-NAME. "target=" takes the rest of the string, commas
 * included, so it must come last. Formats other than raw and qcow2,
 * cdroms and COLO are refused with one line naming what. The format is
 * what the spec says, raw when it says nothing: never guessed from the
 * image (a raw image whose guest wrote a qcow2 header stays raw).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

enum { DISK_TARGET, DISK_FORMAT, DISK_VDEV, DISK_ACCESS, DISK_NR_PARTS };

static const char *const disk_part_names[] = { "target", "format", "vdev",
					       "access" };

/* A disk spec's parameters as found, before they are checked. */
struct disk_parts {
	struct config_item part[DISK_NR_PARTS];
	bool given[DISK_NR_PARTS];
	struct config_item positional[DISK_NR_PARTS];
	unsigned int nr_positional;
	bool phy; /* a phy: prefix: a relative target is under /dev */
	struct config_item script;
	bool script_given;
	char script_buf[DOMAIN_SCRIPT_MAX + 1]; /* block-NAME from a prefix */
	struct domain_disk opts; /* flags and size as read */
};

/* Image formats xl knows; godwit reads raw and qcow2. */
static const char *const disk_formats[] = { "raw", "qcow", "qcow2",
					    "vhd", "qed",  "empty" };

/* Old target prefixes, by what they mean. */
static const char *const prefix_noop[] = { "tapdisk", "tap2", "tap", "aio",
					   "ioemu",   "file", "phy" };
static const char *const prefix_format[] = { "raw", "qcow", "qcow2", "vhd" };
static const char *const prefix_script[] = { "iscsi", "nbd", "enbd", "drbd" };

/* xl parameters accepted and ignored (with a warning). */
static const char *const disk_ignored[] = { "backend", "grant_usage" };
static const char *const flags_ignored[] = { "direct-io-safe", "trusted",
					     "untrusted", "no-colo" };
static const char *const colo_params[] = { "colo",	  "colo-host",
					   "colo-port",	  "colo-export",
					   "active-disk", "hidden-disk" };
/* xl's backend implementations: godwit has one, whichever is named. */
static const char *const backendtypes[] = { "phy", "tap", "qdisk",
					    "standalone" };

static int disk_set_part(const struct config_spec *sp, struct disk_parts *dp,
			 int i, const struct config_item *it)
{
	if (dp->given[i])
		return config_spec_error(sp, "%s given twice",
					 disk_part_names[i]);
	dp->part[i] = *it;
	dp->given[i] = true;
	return 0;
}

static int disk_set_script(const struct config_spec *sp, struct disk_parts *dp,
			   const char *val, size_t len)
{
	if (dp->script_given)
		return config_spec_error(sp, "script given twice");
	dp->script = (struct config_item){ NULL, 0, val, len };
	dp->script_given = true;
	return 0;
}

static bool is_prefix_word(const char *s, size_t len)
{
	size_t i;

	if (!len || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	}
	return true;
}

/* What one prefix word means; 1: it was not a prefix after all. */
static int disk_prefix(const struct config_spec *sp, struct disk_parts *dp,
		       const char *w, size_t n, const char *after, size_t left)
{
	struct config_item f = { 0 };
	char buf[80];
	int i;

	if (config_span_lookup(w, n, prefix_noop, ARRAY_SIZE(prefix_noop)) >=
	    0) {
		dp->phy |= config_span_is(w, n, "phy");
		return 0;
	}
	i = config_span_lookup(w, n, prefix_format, ARRAY_SIZE(prefix_format));
	if (i >= 0) {
		f.val = prefix_format[i];
		f.vlen = strlen(f.val);
		return disk_set_part(sp, dp, DISK_FORMAT, &f);
	}
	if (config_span_lookup(w, n, prefix_script,
			       ARRAY_SIZE(prefix_script)) >= 0) {
		snprintf(dp->script_buf, sizeof(dp->script_buf), "block-%.*s",
			 (int)n, w);
		return disk_set_script(sp, dp, dp->script_buf,
				       strlen(dp->script_buf));
	}
	/* "host:port" is a target; "foo:/x" is a prefix xl does not know. */
	if (left && ((*after >= 'a' && *after <= 'z') ||
		     (*after >= '0' && *after <= '9')))
		return 1;
	return config_spec_error(sp, "unknown prefix %s",
				 config_span_shown(buf, sizeof(buf), w, n + 1));
}

/* A positional target: strip its old prefixes, one after the other. */
static int disk_positional_target(const struct config_spec *sp,
				  struct disk_parts *dp,
				  const struct config_item *it)
{
	struct config_item t = *it;
	const char *colon;
	size_t n;
	int rc;

	for (;;) {
		colon = memchr(t.val, ':', t.vlen);
		n = colon ? (size_t)(colon - t.val) : 0;
		if (!colon || !is_prefix_word(t.val, n))
			break;
		rc = disk_prefix(sp, dp, t.val, n, colon + 1, t.vlen - n - 1);
		if (rc > 0)
			break;
		if (rc)
			return rc;
		t.val += n + 1;
		t.vlen -= n + 1;
		config_span_trim(&t.val, &t.vlen);
	}
	return disk_set_part(sp, dp, DISK_TARGET, &t);
}

static bool is_access(const struct config_item *it)
{
	static const char *const words[] = { "r", "ro", "w", "rw" };

	return config_span_lookup(it->val, it->vlen, words,
				  ARRAY_SIZE(words)) >= 0;
}

/*
 * Positional items: target,format,vdev,access; or xm's target,vdev,access
 * when there are three, the second is not a format name and the third
 * is an access mode ("/a,vmdk,xvda" is an unknown format, not a vdev).
 */
static int disk_positional(const struct config_spec *sp, struct disk_parts *dp)
{
	static const int xl_order[] = { DISK_TARGET, DISK_FORMAT, DISK_VDEV,
					DISK_ACCESS };
	static const int xm_order[] = { DISK_TARGET, DISK_VDEV, DISK_ACCESS };
	const struct config_item *pos = dp->positional;
	const int *order = xl_order;
	unsigned int i;
	int rc = 0;

	if (dp->nr_positional == 3 && pos[1].vlen && is_access(&pos[2]) &&
	    config_span_lookup(pos[1].val, pos[1].vlen, disk_formats,
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

static int disk_devtype(const struct config_spec *sp,
			const struct config_item *it)
{
	char buf[80];

	if (config_span_is(it->val, it->vlen, "disk"))
		return 0;
	if (config_span_is(it->val, it->vlen, "cdrom"))
		return config_spec_error(sp, "cdrom devices are not supported");
	return config_spec_error(sp, "unknown devtype %s",
				 config_span_shown(buf, sizeof(buf), it->val,
						   it->vlen));
}

/* size=: bytes, or a number with K, M, G or T (powers of 1024). */
static int disk_size(const struct config_spec *sp, struct disk_parts *dp,
		     const struct config_item *it)
{
	static const char units[] = "kmgt";
	uint64_t v = 0, mul = 1;
	const char *p = it->val, *end = it->val + it->vlen, *u;
	char buf[80];

	while (p < end && *p >= '0' && *p <= '9' && v <= UINT64_MAX / 10)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p < end && (u = strchr(units, *p | 0x20))) {
		mul <<= 10 * (u - units + 1);
		p++;
		if (end - p >= 2 && p[0] == 'i' && p[1] == 'B')
			p += 2;
		else if (p < end && *p == 'B')
			p++;
	}
	if (p == it->val || p != end || !v || v > UINT64_MAX / mul ||
	    (v * mul) % 512 || v * mul > INT64_MAX)
		return config_spec_error(
			sp,
			"invalid size %s (bytes, or a number with K, M, G or T; a multiple of 512)",
			config_span_shown(buf, sizeof(buf), it->val, it->vlen));
	dp->opts.size = v * mul;
	return 0;
}

/* One bare word that is not a positional parameter: 1 if it is not. */
static int disk_flag(const struct config_spec *sp, struct disk_parts *dp,
		     const struct config_item *it)
{
	const char *w = it->val;
	size_t n = it->vlen;

	if (config_span_is(w, n, "discard"))
		dp->opts.no_discard = false;
	else if (config_span_is(w, n, "no-discard"))
		dp->opts.no_discard = true;
	else if (config_span_is(w, n, "direct-io"))
		dp->opts.direct_io = true;
	else if (config_span_is(w, n, "cdrom"))
		return config_spec_error(sp, "cdrom devices are not supported");
	else if (config_span_is(w, n, "colo"))
		return config_spec_error(sp, "COLO is not supported");
	else if (!config_spec_ignored(sp, w, n, flags_ignored,
				      ARRAY_SIZE(flags_ignored)))
		return 1;
	return 0;
}

static int disk_backendtype(const struct config_spec *sp,
			    const struct config_item *it)
{
	char buf[80];

	if (config_span_lookup(it->val, it->vlen, backendtypes,
			       ARRAY_SIZE(backendtypes)) >= 0)
		return 0;
	return config_spec_error(
		sp, "unknown backendtype %s (phy, tap, qdisk or standalone)",
		config_span_shown(buf, sizeof(buf), it->val, it->vlen));
}

static int disk_specification(const struct config_spec *sp,
			      const struct config_item *it)
{
	char buf[80];

	if (config_span_is(it->val, it->vlen, "virtio"))
		return 0;
	if (config_span_is(it->val, it->vlen, "xen"))
		return config_spec_error(
			sp,
			"specification xen is not supported (godwit disks are virtio)");
	return config_spec_error(sp, "unknown specification %s",
				 config_span_shown(buf, sizeof(buf), it->val,
						   it->vlen));
}

/* One key=value item. */
static int disk_keyed(const struct config_spec *sp, struct disk_parts *dp,
		      const struct config_item *it)
{
	const char *k = it->key;
	size_t n = it->klen;
	char buf[80];
	int i;

	i = config_span_lookup(k, n, disk_part_names, DISK_NR_PARTS);
	if (i >= 0)
		return disk_set_part(sp, dp, i, it);
	if (config_span_is(k, n, "devtype"))
		return disk_devtype(sp, it);
	if (config_span_is(k, n, "script"))
		return disk_set_script(sp, dp, it->val, it->vlen);
	if (config_span_is(k, n, "size"))
		return disk_size(sp, dp, it);
	if (config_span_is(k, n, "backendtype"))
		return disk_backendtype(sp, it);
	if (config_span_is(k, n, "specification"))
		return disk_specification(sp, it);
	if (config_span_lookup(k, n, colo_params, ARRAY_SIZE(colo_params)) >= 0)
		return config_spec_error(sp, "COLO is not supported");
	if (config_spec_ignored(sp, k, n, disk_ignored,
				ARRAY_SIZE(disk_ignored)))
		return 0;
	return config_spec_error(sp, "unknown parameter %s",
				 config_span_shown(buf, sizeof(buf), k, n));
}

static int disk_item(const struct config_spec *sp, struct disk_parts *dp,
		     const struct config_item *it)
{
	int rc;

	if (it->key)
		return disk_keyed(sp, dp, it);
	rc = disk_flag(sp, dp, it);
	if (rc <= 0)
		return rc;
	if (dp->nr_positional >= DISK_NR_PARTS)
		return config_spec_error(
			sp,
			"too many positional parameters (target,format,vdev,access)");
	dp->positional[dp->nr_positional++] = *it;
	return 0;
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

/* The vdev, with xl's old ":disk" and ":cdrom" suffixes. */
static int disk_vdev(const struct config_spec *sp, const struct disk_parts *dp,
		     struct domain_disk *out)
{
	struct config_item v = dp->part[DISK_VDEV];
	char buf[80];

	if (!dp->given[DISK_VDEV] || !v.vlen)
		return config_spec_error(
			sp,
			"no vdev (the guest's name for the disk, e.g. xvda)");
	if (v.vlen > 6 && config_span_is(v.val + v.vlen - 6, 6, ":cdrom"))
		return config_spec_error(sp, "cdrom devices are not supported");
	if (v.vlen > 5 && config_span_is(v.val + v.vlen - 5, 5, ":disk"))
		v.vlen -= 5;
	if (!is_vdev(v.val, v.vlen))
		return config_spec_error(
			sp,
			"invalid vdev %s (a-z then a-z 0-9, at most %d bytes)",
			config_span_shown(buf, sizeof(buf), v.val, v.vlen),
			DOMAIN_VDEV_MAX);
	return config_span_copy(sp, "vdev", out->vdev, DOMAIN_VDEV_MAX, &v);
}

static int disk_format(const struct config_spec *sp,
		       const struct disk_parts *dp, struct domain_disk *out)
{
	const struct config_item *f = &dp->part[DISK_FORMAT];
	char buf[80];
	int i;

	out->format = DOMAIN_DISK_RAW;
	if (!dp->given[DISK_FORMAT] || !f->vlen ||
	    config_span_is(f->val, f->vlen, "raw"))
		return 0;
	config_span_shown(buf, sizeof(buf), f->val, f->vlen);
	if (config_span_is(f->val, f->vlen, "qcow2")) {
		out->format = DOMAIN_DISK_QCOW2;
		return 0;
	}
	i = config_span_lookup(f->val, f->vlen, disk_formats,
			       ARRAY_SIZE(disk_formats));
	if (i >= 0)
		return config_spec_error(
			sp, "format %s is not supported (raw or qcow2)", buf);
	return config_spec_error(
		sp, "unknown format %s (raw or qcow2 are supported)", buf);
}

static int disk_access(const struct config_spec *sp,
		       const struct disk_parts *dp, struct domain_disk *out)
{
	const struct config_item *a = &dp->part[DISK_ACCESS];
	char buf[80];

	out->readonly = false;
	if (!dp->given[DISK_ACCESS] || !a->vlen ||
	    config_span_is(a->val, a->vlen, "rw") ||
	    config_span_is(a->val, a->vlen, "w"))
		return 0;
	if (config_span_is(a->val, a->vlen, "ro") ||
	    config_span_is(a->val, a->vlen, "r")) {
		out->readonly = true;
		return 0;
	}
	return config_spec_error(sp, "access must be ro or rw, got %s",
				 config_span_shown(buf, sizeof(buf), a->val,
						   a->vlen));
}

static int disk_script(const struct config_spec *sp,
		       const struct disk_parts *dp, struct domain_disk *out)
{
	const struct config_item *s = &dp->script;
	char buf[80];
	size_t i;

	if (!dp->script_given)
		return 0;
	for (i = 0; i < s->vlen; i++) {
		if ((unsigned char)s->val[i] < 0x20 || s->val[i] == 0x7f)
			break;
	}
	if (!s->vlen || i < s->vlen)
		return config_spec_error(sp, "invalid script %s",
					 config_span_shown(buf, sizeof(buf),
							   s->val, s->vlen));
	return config_span_copy(sp, "script", out->script, DOMAIN_SCRIPT_MAX,
				s);
}

/* The target; a relative one after phy: is a device under /dev. */
static int disk_target(const struct config_spec *sp,
		       const struct disk_parts *dp, struct domain_disk *out)
{
	struct config_item t = dp->part[DISK_TARGET];
	char path[DOMAIN_PATH_MAX + 8];

	if (!dp->given[DISK_TARGET] || !t.vlen)
		return config_spec_error(sp, "no target (the disk image path)");
	if (dp->phy && t.val[0] != '/' && t.vlen <= DOMAIN_PATH_MAX) {
		snprintf(path, sizeof(path), "/dev/%.*s", (int)t.vlen, t.val);
		t.val = path;
		t.vlen = strlen(path);
	}
	return config_span_copy(sp, "target", out->target, DOMAIN_PATH_MAX, &t);
}

static int disk_build(const struct config_spec *sp, const struct disk_parts *dp,
		      struct domain_disk *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->no_discard = dp->opts.no_discard;
	out->direct_io = dp->opts.direct_io;
	out->size = dp->opts.size;
	rc = disk_target(sp, dp, out);
	if (!rc)
		rc = disk_format(sp, dp, out);
	if (!rc)
		rc = disk_vdev(sp, dp, out);
	if (!rc)
		rc = disk_access(sp, dp, out);
	if (!rc)
		rc = disk_script(sp, dp, out);
	return rc;
}

int config_parse_disk(const struct config_spec *sp, struct domain_disk *out)
{
	struct config_item_iter it = { sp->a->text, 0, false };
	struct config_item item;
	struct disk_parts dp;
	int rc;

	memset(&dp, 0, sizeof(dp));
	while (config_item_next(&it, &item)) {
		if (item.key && config_span_is(item.key, item.klen, "target"))
			config_item_take_rest(&it, &item);
		rc = disk_item(sp, &dp, &item);
		if (rc)
			return rc;
	}
	rc = disk_positional(sp, &dp);
	if (rc)
		return rc;
	return disk_build(sp, &dp, out);
}

int domain_config_add_disk(struct domain_config *cfg, const char *where,
			   const char *spec, struct config_diag *diag)
{
	char file[CONFIG_MSG_MAX / 2], shown[80];
	struct config_atom a = {
		CONFIG_STRING, { file, 0, 0 }, spec, strlen(spec)
	};
	struct config_spec sp = { diag, &a, NULL, 0 };
	struct domain_disk disk;
	unsigned int i;
	int rc;

	config_diag_reset(diag);
	config_excerpt(shown, sizeof(shown), spec);
	snprintf(file, sizeof(file), "%s %s", where, shown);
	if (cfg->nr_disks >= DOMAIN_DISKS_MAX)
		return config_spec_error(&sp, "too many disks (max %d)",
					 DOMAIN_DISKS_MAX);
	rc = config_parse_disk(&sp, &disk);
	if (rc)
		return rc;
	for (i = 0; i < cfg->nr_disks; i++) {
		if (!strcmp(cfg->disks[i].vdev, disk.vdev))
			return config_spec_error(
				&sp, "vdev %s is already used by disk %u",
				disk.vdev, i + 1);
	}
	cfg->disks[cfg->nr_disks++] = disk;
	return 0;
}
