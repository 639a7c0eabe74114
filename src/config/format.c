/*
 * Canonical text of a domain configuration: every key in a fixed order,
 * strings double-quoted with escapes (the output is pure ASCII), device
 * specs in keyword form with target last. It parses back to an equal
 * struct, which is what lets the config travel in a save stream and be
 * stored in the daemon's registry as plain text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* Output buffer; full is sticky, so callers check once at the end. */
struct out {
	char *buf;
	size_t len;
	size_t n;
	bool full;
};

static void out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->full || o->n + n >= o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->n, s, n);
	o->n += n;
	o->buf[o->n] = 0;
}

static void out_str(struct out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __printf(2, 3);

static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		o->full = true;
		return;
	}
	out_bytes(o, tmp, (size_t)n);
}

/* s (at most max bytes) as a double-quoted string with escapes. */
static void out_quoted(struct out *o, const char *s, size_t max)
{
	size_t i, len = strnlen(s, max);
	unsigned char c;

	out_str(o, "\"");
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			out_printf(o, "\\%c", c);
		else if (c == '\n')
			out_str(o, "\\n");
		else if (c == '\t')
			out_str(o, "\\t");
		else if (c == '\r')
			out_str(o, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			out_printf(o, "\\x%02x", c);
		else
			out_bytes(o, (const char *)&s[i], 1);
	}
	out_str(o, "\"");
}

#define FIELD(o, key, field) out_field(o, key, field, sizeof(field))

/* key = "value", or nothing when value is empty. */
static void out_field(struct out *o, const char *key, const char *value,
		      size_t size)
{
	if (!value[0])
		return;
	out_printf(o, "%s = ", key);
	out_quoted(o, value, size);
	out_str(o, "\n");
}

/* Keyword form, target last (it takes the rest of the string). */
static void out_disk(struct out *o, const struct domain_disk *disk)
{
	char spec[DOMAIN_PATH_MAX + DOMAIN_VDEV_MAX + DOMAIN_SCRIPT_MAX + 128];
	size_t n;

	n = snprintf(spec, sizeof(spec), "format=%s, vdev=%.*s, access=%s",
		     disk->format == DOMAIN_DISK_QCOW2 ? "qcow2" : "raw",
		     (int)strnlen(disk->vdev, sizeof(disk->vdev)), disk->vdev,
		     disk->readonly ? "ro" : "rw");
	if (disk->size)
		n += snprintf(spec + n, sizeof(spec) - n, ", size=%llu",
			      (unsigned long long)disk->size);
	if (disk->no_discard)
		n += snprintf(spec + n, sizeof(spec) - n, ", no-discard");
	if (disk->direct_io)
		n += snprintf(spec + n, sizeof(spec) - n, ", direct-io");
	if (disk->script[0])
		n += snprintf(spec + n, sizeof(spec) - n, ", script=%.*s",
			      (int)strnlen(disk->script, sizeof(disk->script)),
			      disk->script);
	snprintf(spec + n, sizeof(spec) - n, ", target=%.*s",
		 (int)strnlen(disk->target, sizeof(disk->target)),
		 disk->target);
	out_str(o, "    ");
	out_quoted(o, spec, sizeof(spec));
	out_str(o, ",\n");
}

/* The parts of a vif after its MAC, bridge and vifname (canonical order). */
static size_t out_vif_tail(char *spec, size_t len, size_t n,
			   const struct domain_vif *vif)
{
	if (vif->script[0])
		n += snprintf(spec + n, len - n, ", script=%.*s",
			      (int)strnlen(vif->script, sizeof(vif->script)),
			      vif->script);
	if (vif->ip[0])
		n += snprintf(spec + n, len - n, ", ip=%.*s",
			      (int)strnlen(vif->ip, sizeof(vif->ip)), vif->ip);
	if (vif->rate_bytes_per_s)
		n += snprintf(spec + n, len - n, ", rate=%lluB/s@%uus",
			      (unsigned long long)vif->rate_bytes_per_s,
			      vif->rate_interval_us);
	return n;
}

static void out_vif(struct out *o, const struct domain_vif *vif)
{
	char spec[DOMAIN_SCRIPT_MAX + DOMAIN_VIF_IP_MAX + 192];
	char mac[DOMAIN_MAC_STR_LEN + 1];
	size_t n;

	domain_config_mac_format(vif->mac, mac);
	n = (size_t)snprintf(spec, sizeof(spec), "mac=%s", mac);
	if (vif->bridge[0])
		n += snprintf(spec + n, sizeof(spec) - n, ", bridge=%.*s",
			      (int)strnlen(vif->bridge, sizeof(vif->bridge)),
			      vif->bridge);
	if (vif->vifname[0])
		n += snprintf(spec + n, sizeof(spec) - n, ", vifname=%.*s",
			      (int)strnlen(vif->vifname, sizeof(vif->vifname)),
			      vif->vifname);
	n = out_vif_tail(spec, sizeof(spec), n, vif);
	snprintf(spec + n, sizeof(spec) - n, ", model=virtio");
	out_str(o, "    ");
	out_quoted(o, spec, sizeof(spec));
	out_str(o, ",\n");
}

static void out_devices(struct out *o, const struct domain_config *cfg)
{
	unsigned int i;

	if (cfg->nr_disks)
		out_str(o, "disk = [\n");
	for (i = 0; i < cfg->nr_disks; i++)
		out_disk(o, &cfg->disks[i]);
	if (cfg->nr_disks)
		out_str(o, "]\n");
	if (cfg->nr_vifs)
		out_str(o, "vif = [\n");
	for (i = 0; i < cfg->nr_vifs; i++)
		out_vif(o, &cfg->vifs[i]);
	if (cfg->nr_vifs)
		out_str(o, "]\n");
}

static void out_serial(struct out *o, const struct domain_config *cfg)
{
	char spec[DOMAIN_PATH_MAX + 8];

	if (cfg->serial != DOMAIN_SERIAL_FILE) {
		out_printf(o, "serial = \"%s\"\n",
			   domain_config_serial_name(cfg->serial));
		return;
	}
	snprintf(spec, sizeof(spec), "file:%.*s",
		 (int)strnlen(cfg->serial_path, sizeof(cfg->serial_path)),
		 cfg->serial_path);
	FIELD(o, "serial", spec);
}

/*
 * maxmem and maxvcpus only when they differ from their defaults, so that
 * overriding memory or vcpus in a stored config keeps them consistent.
 */
static void out_sizes(struct out *o, const struct domain_config *cfg)
{
	out_printf(o, "memory = %llu\n", (unsigned long long)cfg->memory_mib);
	if (cfg->maxmem_mib != cfg->memory_mib)
		out_printf(o, "maxmem = %llu\n",
			   (unsigned long long)cfg->maxmem_mib);
	out_printf(o, "vcpus = %u\n", cfg->vcpus);
	if (cfg->maxvcpus != cfg->vcpus)
		out_printf(o, "maxvcpus = %u\n", cfg->maxvcpus);
}

/* A spec value (script, ip) that would not read back as the same item. */
static bool is_formattable_value(const char *v, size_t size)
{
	size_t n = strnlen(v, size), i;

	if (n == size)
		return false;
	if (n && (v[0] == ' ' || v[n - 1] == ' '))
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] == ',' || v[i] == '\t' || (unsigned char)v[i] < 0x20 ||
		    v[i] == 0x7f)
			return false;
	}
	return true;
}

static bool is_formattable_disk(const struct domain_disk *d)
{
	return (unsigned int)d->format <= DOMAIN_DISK_QCOW2 &&
	       !(d->size % 512) &&
	       is_formattable_value(d->script, sizeof(d->script));
}

/* A rate is both set or both unset (the parser never makes one alone). */
static bool is_formattable_vif(const struct domain_vif *v)
{
	return v->model == DOMAIN_VIF_VIRTIO &&
	       !v->rate_bytes_per_s == !v->rate_interval_us &&
	       is_formattable_value(v->script, sizeof(v->script)) &&
	       is_formattable_value(v->ip, sizeof(v->ip));
}

/* Enums and counts a caller may have filled in by hand. */
static bool is_formattable(const struct domain_config *cfg)
{
	unsigned int i;

	if (cfg->nr_disks > DOMAIN_DISKS_MAX || cfg->nr_vifs > DOMAIN_VIFS_MAX)
		return false;
	if ((unsigned int)cfg->serial > DOMAIN_SERIAL_PTY ||
	    (unsigned int)cfg->memory_backing > DOMAIN_MEMORY_HUGEPAGES ||
	    (unsigned int)cfg->on_poweroff > DOMAIN_ACTION_COREDUMP_RESTART ||
	    (unsigned int)cfg->on_reboot > DOMAIN_ACTION_COREDUMP_RESTART ||
	    (unsigned int)cfg->on_crash > DOMAIN_ACTION_COREDUMP_RESTART)
		return false;
	for (i = 0; i < cfg->nr_disks; i++) {
		if (!is_formattable_disk(&cfg->disks[i]))
			return false;
	}
	for (i = 0; i < cfg->nr_vifs; i++) {
		if (!is_formattable_vif(&cfg->vifs[i]))
			return false;
	}
	return true;
}

int domain_config_format(const struct domain_config *cfg, char *buf, size_t len)
{
	struct out o = { buf, len, 0, false };
	char uuid[DOMAIN_UUID_STR_LEN + 1];

	if (!len)
		return -ENOSPC;
	buf[0] = 0;
	if (!is_formattable(cfg))
		return -EINVAL;
	domain_config_uuid_format(cfg->uuid, uuid);
	FIELD(&o, "name", cfg->name);
	FIELD(&o, "uuid", uuid);
	out_sizes(&o, cfg);
	FIELD(&o, "cpu", cfg->cpu);
	/* The default is left out: older readers do not know the key. */
	if (cfg->memory_backing != DOMAIN_MEMORY_THP)
		out_printf(&o, "memory_backing = \"%s\"\n",
			   domain_config_backing_name(cfg->memory_backing));
	FIELD(&o, "kernel", cfg->kernel);
	FIELD(&o, "ramdisk", cfg->ramdisk);
	FIELD(&o, "cmdline", cfg->cmdline);
	out_serial(&o, cfg);
	out_printf(&o, "on_poweroff = \"%s\"\non_reboot = \"%s\"\n",
		   domain_config_action_name(cfg->on_poweroff),
		   domain_config_action_name(cfg->on_reboot));
	out_printf(&o, "on_crash = \"%s\"\n",
		   domain_config_action_name(cfg->on_crash));
	out_devices(&o, cfg);
	if (o.full) {
		buf[0] = 0;
		return -ENOSPC;
	}
	return 0;
}

#define SAME_STR(a, b, f) (strncmp((a)->f, (b)->f, sizeof((a)->f)) == 0)

static bool disk_equal(const struct domain_disk *a, const struct domain_disk *b)
{
	return SAME_STR(a, b, target) && SAME_STR(a, b, vdev) &&
	       a->format == b->format && a->readonly == b->readonly &&
	       a->no_discard == b->no_discard && a->direct_io == b->direct_io &&
	       a->size == b->size && SAME_STR(a, b, script);
}

static bool vif_equal(const struct domain_vif *a, const struct domain_vif *b)
{
	return !memcmp(a->mac, b->mac, sizeof(a->mac)) &&
	       SAME_STR(a, b, bridge) && SAME_STR(a, b, vifname) &&
	       a->model == b->model && SAME_STR(a, b, script) &&
	       SAME_STR(a, b, ip) &&
	       a->rate_bytes_per_s == b->rate_bytes_per_s &&
	       a->rate_interval_us == b->rate_interval_us;
}

static bool devices_equal(const struct domain_config *a,
			  const struct domain_config *b)
{
	unsigned int i;

	if (a->nr_disks != b->nr_disks || a->nr_vifs != b->nr_vifs ||
	    a->nr_disks > DOMAIN_DISKS_MAX || a->nr_vifs > DOMAIN_VIFS_MAX)
		return false;
	for (i = 0; i < a->nr_disks; i++) {
		if (!disk_equal(&a->disks[i], &b->disks[i]))
			return false;
	}
	for (i = 0; i < a->nr_vifs; i++) {
		if (!vif_equal(&a->vifs[i], &b->vifs[i]))
			return false;
	}
	return true;
}

bool domain_config_equal(const struct domain_config *a,
			 const struct domain_config *b)
{
	if (!SAME_STR(a, b, name) || memcmp(a->uuid, b->uuid, sizeof(a->uuid)))
		return false;
	if (a->memory_mib != b->memory_mib || a->maxmem_mib != b->maxmem_mib ||
	    a->vcpus != b->vcpus || a->maxvcpus != b->maxvcpus ||
	    a->memory_backing != b->memory_backing)
		return false;
	if (!SAME_STR(a, b, cpu) || !SAME_STR(a, b, kernel) ||
	    !SAME_STR(a, b, ramdisk) || !SAME_STR(a, b, cmdline))
		return false;
	if (a->serial != b->serial || !SAME_STR(a, b, serial_path))
		return false;
	if (a->on_poweroff != b->on_poweroff || a->on_reboot != b->on_reboot ||
	    a->on_crash != b->on_crash)
		return false;
	return devices_equal(a, b);
}
