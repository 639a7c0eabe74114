/*
 * Meaning of each key: a table of the keys godwit implements with one
 * small handler each, the xl keys that are recognised but ignored (a
 * warning, not an error), and the checks that need the whole
 * configuration (required keys, defaults, cross-key rules), run once after
 * the file and the overrides. A key set twice keeps its last value; every
 * value is checked when it is read, even one that is later replaced.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "config/internal.h"

struct key_handler {
	const char *name;
	int (*set)(struct config_build *b, const struct config_stmt *st);
};

/* xl keys that godwit accepts and ignores, with a warning. Sorted. */
static const char *const ignored_keys[] = {
	"acpi",
	"apic",
	"boot",
	"builder",
	"cap",
	"cpu_weight",
	"cpus",
	"device_model_override",
	"device_model_version",
	"hap",
	"hpet",
	"keymap",
	"localtime",
	"nestedhvm",
	"on_soft_reset",
	"on_watchdog",
	"opengl",
	"pae",
	"pool",
	"sdl",
	"shadow_memory",
	"soundhw",
	"stdvga",
	"timer_mode",
	"type",
	"usb",
	"usbdevice",
	"vfb",
	"vga",
	"videoram",
	"viridian",
	"vnc",
	"vncdisplay",
	"vnclisten",
	"vncpasswd",
	"vncunused",
	"xen_platform_pci",
};

/* xl's words, indexed by enum domain_action. */
static const char *const action_names[] = {
	[DOMAIN_ACTION_DESTROY] = "destroy",
	[DOMAIN_ACTION_RESTART] = "restart",
	[DOMAIN_ACTION_PRESERVE] = "preserve",
	[DOMAIN_ACTION_RENAME_RESTART] = "rename-restart",
	[DOMAIN_ACTION_COREDUMP_DESTROY] = "coredump-destroy",
	[DOMAIN_ACTION_COREDUMP_RESTART] = "coredump-restart",
};

/* Indexed by enum domain_serial; "file" is spelt "file:PATH". */
static const char *const serial_names[] = {
	[DOMAIN_SERIAL_STDIO] = "stdio",
	[DOMAIN_SERIAL_FILE] = "file",
	[DOMAIN_SERIAL_NONE] = "none",
	[DOMAIN_SERIAL_PTY] = "pty",
};

static const char *const cpu_models[] = {
	"host", "x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4",
};

/* Messages about a value name its line, not its column. */
static struct config_loc at(const struct config_atom *a)
{
	return (struct config_loc){ a->loc.file, a->loc.line, 0 };
}

/* The value as "got ..." shows it. */
static const char *shown(const struct config_atom *a, char *buf, size_t len)
{
	if (a->kind == CONFIG_LIST)
		return "a list";
	if (a->kind == CONFIG_INT)
		snprintf(buf, len, "%.40s", a->text);
	else
		config_excerpt(buf, len, a->text);
	return buf;
}

static int value_error(struct config_build *b, const char *key,
		       const struct config_atom *a, const char *fmt, ...)
	__printf(4, 5);

/* An error about value a of key, at a's line. */
static int value_error(struct config_build *b, const char *key,
		       const struct config_atom *a, const char *fmt, ...)
{
	struct config_loc loc = at(a);
	char msg[CONFIG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return config_error(b->diag, &loc, key, "%s", msg);
}

static int type_error(struct config_build *b, const struct config_stmt *st,
		      const struct config_atom *a, const char *expected)
{
	char buf[64];

	return value_error(b, st->key, a, "expected %s, got %s", expected,
			   shown(a, buf, sizeof(buf)));
}

int config_number(const char *s, uint64_t *val_out)
{
	unsigned int base = 10;
	bool overflow = false;
	uint64_t v = 0;
	int dig;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		return -EINVAL;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		dig = config_hex_digit((unsigned char)*s);
		if (dig < 0 || dig >= (int)base)
			return -EINVAL;
		if (v > (UINT64_MAX - dig) / base)
			overflow = true;
		v = v * base + dig;
	}
	if (overflow)
		return -ERANGE;
	*val_out = v;
	return 0;
}

bool config_is_plain_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    *s))
			return false;
	}
	return true;
}

/* An integer in [min, max]; numbers in quotes are accepted, as xl does. */
static int get_uint(struct config_build *b, const struct config_stmt *st,
		    uint64_t min, uint64_t max, uint64_t *val_out)
{
	const struct config_atom *a = &st->value;
	char buf[64];
	int rc;

	if (a->kind == CONFIG_LIST)
		return type_error(b, st, a, "an integer");
	rc = config_number(a->text, val_out);
	if (rc == -EINVAL)
		return type_error(b, st, a, "an integer");
	if (rc || *val_out < min || *val_out > max)
		return value_error(b, st->key, a,
				   "%s is out of range (%llu..%llu)",
				   shown(a, buf, sizeof(buf)),
				   (unsigned long long)min,
				   (unsigned long long)max);
	return 0;
}

/*
 * A size string with a unit ("2G", "512MiB") as whole MiB; -EDOM if it is
 * not a whole number of MiB.
 */
static int size_string_mib(const struct config_atom *a, uint64_t *mib_out)
{
	uint64_t bytes;
	char last;
	int rc;

	if (a->kind != CONFIG_STRING || !a->len)
		return -EINVAL;
	last = a->text[a->len - 1];
	if (!((last >= 'a' && last <= 'z') || (last >= 'A' && last <= 'Z')))
		return -EINVAL;
	rc = parse_size_bytes(a->text, &bytes);
	if (rc)
		return rc == -ERANGE ? -ERANGE : -EINVAL;
	if (bytes % MIB)
		return -EDOM;
	*mib_out = bytes / MIB;
	return 0;
}

/* memory, maxmem: MiB as a number, or a string with a unit. */
static int get_mib(struct config_build *b, const struct config_stmt *st,
		   uint64_t *mib_out)
{
	const struct config_atom *a = &st->value;
	char buf[64];
	int rc = -EINVAL;

	if (a->kind != CONFIG_LIST)
		rc = config_number(a->text, mib_out);
	if (rc == -EINVAL && a->kind == CONFIG_STRING)
		rc = size_string_mib(a, mib_out);
	if (rc == -EINVAL)
		return type_error(b, st, a, "an integer (MiB)");
	if (rc == -EDOM)
		return value_error(b, st->key, a,
				   "%s is not a whole number of MiB",
				   shown(a, buf, sizeof(buf)));
	if (rc || !*mib_out || *mib_out > DOMAIN_MEMORY_MAX_MIB)
		return value_error(b, st->key, a,
				   "%s is out of range (1..%llu MiB)",
				   shown(a, buf, sizeof(buf)),
				   DOMAIN_MEMORY_MAX_MIB);
	return 0;
}

/* A string of at most max bytes; a number's spelling counts as one. */
static int get_string(struct config_build *b, const struct config_stmt *st,
		      const struct config_atom *a, char *out, size_t max)
{
	if (a->kind == CONFIG_LIST)
		return type_error(b, st, a, "a string");
	if (a->len > max)
		return value_error(b, st->key, a, "too long (max %zu bytes)",
				   max);
	memset(out, 0, max + 1);
	memcpy(out, a->text, a->len);
	return 0;
}

/* Index of word in names[n], or -EINVAL. */
static int lookup(const char *word, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(word, names[i]))
			return (int)i;
	}
	return -EINVAL;
}

static int set_name(struct config_build *b, const struct config_stmt *st)
{
	const struct config_atom *a = &st->value;
	char *name = b->cfg.name;
	char buf[64];
	int rc;

	rc = get_string(b, st, a, name, DOMAIN_NAME_MAX);
	if (rc)
		return rc;
	if (!name[0])
		return value_error(b, st->key, a, "must not be empty");
	if (!config_is_plain_word(name))
		return value_error(
			b, st->key, a,
			"invalid character in %s (allowed: A-Z a-z 0-9 _ . -)",
			shown(a, buf, sizeof(buf)));
	if (name[0] == '-' || name[0] == '.')
		return value_error(b, st->key, a,
				   "must not start with '-' or '.'");
	return 0;
}

static int set_uuid(struct config_build *b, const struct config_stmt *st)
{
	const struct config_atom *a = &st->value;
	static const uint8_t nil[16];

	if (a->kind != CONFIG_STRING ||
	    domain_config_uuid_parse(a->text, b->cfg.uuid))
		return type_error(
			b, st, a,
			"a UUID like 01234567-89ab-cdef-0123-456789abcdef");
	if (!memcmp(b->cfg.uuid, nil, sizeof(nil)))
		return value_error(b, st->key, a,
				   "the nil UUID is not allowed");
	b->cfg.uuid_given = true;
	return 0;
}

static int set_memory(struct config_build *b, const struct config_stmt *st)
{
	return get_mib(b, st, &b->cfg.memory_mib);
}

static int set_maxmem(struct config_build *b, const struct config_stmt *st)
{
	return get_mib(b, st, &b->cfg.maxmem_mib);
}

static int set_vcpus(struct config_build *b, const struct config_stmt *st)
{
	uint64_t v;
	int rc = get_uint(b, st, 1, DOMAIN_VCPUS_MAX, &v);

	if (!rc)
		b->cfg.vcpus = (unsigned int)v;
	return rc;
}

static int set_maxvcpus(struct config_build *b, const struct config_stmt *st)
{
	uint64_t v;
	int rc = get_uint(b, st, 1, DOMAIN_VCPUS_MAX, &v);

	if (!rc)
		b->cfg.maxvcpus = (unsigned int)v;
	return rc;
}

static int set_cpu(struct config_build *b, const struct config_stmt *st)
{
	const struct config_atom *a = &st->value;
	char buf[64];

	if (a->kind == CONFIG_LIST)
		return type_error(b, st, a, "a string");
	if (lookup(a->text, cpu_models, ARRAY_SIZE(cpu_models)) < 0)
		return value_error(
			b, st->key, a,
			"unknown model %s (host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4)",
			shown(a, buf, sizeof(buf)));
	return get_string(b, st, a, b->cfg.cpu, DOMAIN_CPU_MAX);
}

static int set_kernel(struct config_build *b, const struct config_stmt *st)
{
	return get_string(b, st, &st->value, b->cfg.kernel, DOMAIN_PATH_MAX);
}

static int set_ramdisk(struct config_build *b, const struct config_stmt *st)
{
	return get_string(b, st, &st->value, b->cfg.ramdisk, DOMAIN_PATH_MAX);
}

static int set_cmdline(struct config_build *b, const struct config_stmt *st)
{
	return get_string(b, st, &st->value, b->cfg.cmdline,
			  DOMAIN_CMDLINE_MAX);
}

static int set_root(struct config_build *b, const struct config_stmt *st)
{
	return get_string(b, st, &st->value, b->root, CONFIG_STRING_MAX);
}

static int set_extra(struct config_build *b, const struct config_stmt *st)
{
	return get_string(b, st, &st->value, b->extra, CONFIG_STRING_MAX);
}

/* "stdio", "pty", "none", "file:PATH"; also a list of one, as xl allows. */
static int set_serial(struct config_build *b, const struct config_stmt *st)
{
	const char *expected = "\"stdio\", \"pty\", \"none\" or \"file:PATH\"";
	const struct config_atom *a = &st->value;
	struct domain_config *cfg = &b->cfg;
	int i;

	if (a->kind == CONFIG_LIST && st->nr_items != 1)
		return value_error(b, st->key, a,
				   "expected one serial port, got a list of %u",
				   st->nr_items);
	if (a->kind == CONFIG_LIST)
		a = &st->items[0];
	if (a->kind != CONFIG_STRING)
		return type_error(b, st, a, expected);
	memset(cfg->serial_path, 0, sizeof(cfg->serial_path));
	if (!strncmp(a->text, "file:", 5) && a->len > 5) {
		cfg->serial = DOMAIN_SERIAL_FILE;
		return get_string(b, st,
				  &(struct config_atom){ a->kind, a->loc,
							 a->text + 5,
							 a->len - 5 },
				  cfg->serial_path, DOMAIN_PATH_MAX);
	}
	i = lookup(a->text, serial_names, ARRAY_SIZE(serial_names));
	if (i < 0 || i == DOMAIN_SERIAL_FILE)
		return type_error(b, st, a, expected);
	cfg->serial = (enum domain_serial)i;
	return 0;
}

static int get_action(struct config_build *b, const struct config_stmt *st,
		      enum domain_action *out)
{
	const struct config_atom *a = &st->value;
	int i = -EINVAL;

	if (a->kind == CONFIG_STRING)
		i = lookup(a->text, action_names, ARRAY_SIZE(action_names));
	if (i < 0)
		return type_error(
			b, st, a,
			"destroy, restart, preserve, rename-restart, coredump-destroy or coredump-restart");
	*out = (enum domain_action)i;
	return 0;
}

static const char *const backing_names[] = { "thp", "small", "hugepages" };

static int set_memory_backing(struct config_build *b,
			      const struct config_stmt *st)
{
	const struct config_atom *a = &st->value;
	int i = -EINVAL;

	if (a->kind == CONFIG_STRING)
		i = lookup(a->text, backing_names, ARRAY_SIZE(backing_names));
	if (i < 0)
		return type_error(b, st, a, "thp, small or hugepages");
	b->cfg.memory_backing = (enum domain_memory_backing)i;
	return 0;
}

static int set_on_poweroff(struct config_build *b, const struct config_stmt *st)
{
	return get_action(b, st, &b->cfg.on_poweroff);
}

static int set_on_reboot(struct config_build *b, const struct config_stmt *st)
{
	return get_action(b, st, &b->cfg.on_reboot);
}

static int set_on_crash(struct config_build *b, const struct config_stmt *st)
{
	return get_action(b, st, &b->cfg.on_crash);
}

/* A list of at most max strings; the entries are checked by the caller. */
static int get_spec_list(struct config_build *b, const struct config_stmt *st,
			 unsigned int max, const char *what)
{
	const struct config_atom *a = &st->value;
	unsigned int i;

	if (a->kind != CONFIG_LIST)
		return type_error(b, st, a, "a list of strings");
	if (st->nr_items > max)
		return value_error(b, st->key, a, "too many %s (max %u)", what,
				   max);
	for (i = 0; i < st->nr_items; i++) {
		if (st->items[i].kind != CONFIG_STRING)
			return type_error(b, st, &st->items[i], "a string");
	}
	return 0;
}

static int set_disk(struct config_build *b, const struct config_stmt *st)
{
	struct domain_config *cfg = &b->cfg;
	unsigned int i, j;
	int rc;

	rc = get_spec_list(b, st, DOMAIN_DISKS_MAX, "disks");
	if (rc)
		return rc;
	memset(cfg->disks, 0, sizeof(cfg->disks));
	cfg->nr_disks = 0;
	for (i = 0; i < st->nr_items; i++) {
		struct config_spec sp = { b->diag, &st->items[i], "disk",
					  i + 1 };

		rc = config_parse_disk(&sp, &cfg->disks[i]);
		if (rc)
			return rc;
		for (j = 0; j < i; j++) {
			if (!strcmp(cfg->disks[i].vdev, cfg->disks[j].vdev))
				return value_error(
					b, st->key, &st->items[i],
					"entry %u: vdev %s is already used by entry %u",
					i + 1, cfg->disks[i].vdev, j + 1);
		}
	}
	cfg->nr_disks = st->nr_items;
	return 0;
}

/* Entry i's MAC against the entries before it: 0, or its twin's index + 1. */
static unsigned int vif_clash(const struct domain_config *cfg, unsigned int i)
{
	unsigned int j;

	for (j = 0; j < i; j++)
		if (!memcmp(cfg->vifs[i].mac, cfg->vifs[j].mac, 6))
			return j + 1;
	return 0;
}

static int set_vif(struct config_build *b, const struct config_stmt *st)
{
	struct domain_config *cfg = &b->cfg;
	char mac[DOMAIN_MAC_STR_LEN + 1];
	unsigned int i, j, tries;
	bool generated;
	int rc;

	rc = get_spec_list(b, st, DOMAIN_VIFS_MAX, "network interfaces");
	if (rc)
		return rc;
	memset(cfg->vifs, 0, sizeof(cfg->vifs));
	cfg->nr_vifs = 0;
	for (i = 0; i < st->nr_items; i++) {
		struct config_spec sp = { b->diag, &st->items[i], "vif",
					  i + 1 };

		tries = 0;
		do { /* a drawn MAC that clashes is drawn again */
			rc = config_parse_vif(&sp, &cfg->vifs[i], &generated);
			if (rc)
				return rc;
			j = vif_clash(cfg, i);
		} while (j && generated && ++tries < 8);
		if (!j)
			continue;
		domain_config_mac_format(cfg->vifs[i].mac, mac);
		return value_error(
			b, st->key, &st->items[i],
			"entry %u: mac %s is already used by entry %u", i + 1,
			mac, j);
	}
	cfg->nr_vifs = st->nr_items;
	return 0;
}

/* Indexed by enum config_key. */
static const struct key_handler keys[CONFIG_NR_KEYS] = {
	[CONFIG_KEY_NAME] = { "name", set_name },
	[CONFIG_KEY_UUID] = { "uuid", set_uuid },
	[CONFIG_KEY_MEMORY] = { "memory", set_memory },
	[CONFIG_KEY_MAXMEM] = { "maxmem", set_maxmem },
	[CONFIG_KEY_VCPUS] = { "vcpus", set_vcpus },
	[CONFIG_KEY_MAXVCPUS] = { "maxvcpus", set_maxvcpus },
	[CONFIG_KEY_CPU] = { "cpu", set_cpu },
	[CONFIG_KEY_KERNEL] = { "kernel", set_kernel },
	[CONFIG_KEY_RAMDISK] = { "ramdisk", set_ramdisk },
	[CONFIG_KEY_CMDLINE] = { "cmdline", set_cmdline },
	[CONFIG_KEY_ROOT] = { "root", set_root },
	[CONFIG_KEY_EXTRA] = { "extra", set_extra },
	[CONFIG_KEY_SERIAL] = { "serial", set_serial },
	[CONFIG_KEY_ON_POWEROFF] = { "on_poweroff", set_on_poweroff },
	[CONFIG_KEY_ON_REBOOT] = { "on_reboot", set_on_reboot },
	[CONFIG_KEY_ON_CRASH] = { "on_crash", set_on_crash },
	[CONFIG_KEY_DISK] = { "disk", set_disk },
	[CONFIG_KEY_VIF] = { "vif", set_vif },
	[CONFIG_KEY_MEMORY_BACKING] = { "memory_backing", set_memory_backing },
};

static int find_key(const char *name)
{
	int i;

	for (i = 0; i < CONFIG_NR_KEYS; i++) {
		if (!strcmp(name, keys[i].name))
			return i;
	}
	return -ENOENT;
}

int config_apply(struct config_build *b, const struct config_stmt *st)
{
	struct config_loc line = { st->loc.file, st->loc.line, 0 };
	struct config_loc *prev;
	int k = find_key(st->key);
	int rc;

	if (k < 0 &&
	    lookup(st->key, ignored_keys, ARRAY_SIZE(ignored_keys)) >= 0) {
		config_warning(b->diag, &line, st->key,
			       "ignored (xl key not implemented by godwit)");
		return 0;
	}
	if (k < 0)
		return config_error(b->diag, &line, st->key, "unknown key");
	prev = &b->loc[k];
	if (prev->line && !strcmp(prev->file, line.file))
		config_warning(b->diag, &line, st->key,
			       "replaces the value set at %s:%u", prev->file,
			       prev->line);
	rc = keys[k].set(b, st);
	if (rc)
		return rc;
	*prev = line;
	return 0;
}

const char *domain_config_action_name(enum domain_action action)
{
	if ((unsigned int)action >= ARRAY_SIZE(action_names))
		return "?";
	return action_names[action];
}

const char *domain_config_backing_name(enum domain_memory_backing b)
{
	if ((unsigned int)b >= ARRAY_SIZE(backing_names))
		return "?";
	return backing_names[b];
}

const char *domain_config_serial_name(enum domain_serial serial)
{
	if ((unsigned int)serial >= ARRAY_SIZE(serial_names))
		return "?";
	return serial_names[serial];
}
