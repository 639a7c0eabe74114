/*
 * Domain configuration: the xl.cfg-style text that describes one VM, parsed
 * into a fixed-size, pointer-free struct domain_config that can be copied,
 * compared and written back as canonical text (docs/godwit.cfg.5).
 *
 * Used by `godwit run CONFIG`, by godwitd for `godwit create CONFIG
 * [key=value ...]`, and by save/restore/migration: the canonical text
 * travels in the save stream and is parsed again on restore, so
 * domain_config_format() output parses back to an equal struct.
 *
 * Nothing here prints or exits: failures return -errno and leave one line
 * in struct config_diag for the caller to print, warnings likewise.
 */
#ifndef GODWIT_CONFIG_DOMAIN_CONFIG_H
#define GODWIT_CONFIG_DOMAIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

/* Input limits; anything beyond them is refused with a message. */
#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of one config file */
#define CONFIG_LINE_MAX 16384 /* bytes of one line, newline excluded */
#define CONFIG_STRING_MAX 4095 /* decoded bytes of one string value */
#define CONFIG_LIST_MAX 64 /* items of one list */
#define CONFIG_DEPTH_MAX 8 /* nesting of lists */
#define CONFIG_KEY_MAX 63 /* bytes of a key */
#define CONFIG_OVERRIDES_MAX 64 /* key=value overrides per parse */

/* Field limits, terminating NUL excluded. */
#define DOMAIN_NAME_MAX 63
#define DOMAIN_PATH_MAX 1023
#define DOMAIN_CMDLINE_MAX 2047
#define DOMAIN_CPU_MAX 15
#define DOMAIN_VDEV_MAX 15
#define DOMAIN_SCRIPT_MAX 255
#define DOMAIN_IFNAME_MAX 15
#define DOMAIN_DISKS_MAX 16
#define DOMAIN_VIFS_MAX 8
#define DOMAIN_VIF_IP_MAX 127 /* space-separated addresses of ip= */
#define DOMAIN_VIF_RATE_INTERVAL_US 50000 /* xl's default credit interval */
#define DOMAIN_VCPUS_MAX 255
#define DOMAIN_MEMORY_MAX_MIB (1024ULL * 1024) /* 1 TiB */
#define DOMAIN_MEMORY_DEFAULT_MIB 128

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and "xx:xx:xx:xx:xx:xx". */
#define DOMAIN_UUID_STR_LEN 36
#define DOMAIN_MAC_STR_LEN 17

/*
 * Upper bound of domain_config_format() output for any struct the parser
 * produces: every string fully escaped (4 bytes per byte), plus syntax.
 */
#define DOMAIN_CONFIG_TEXT_MAX                                              \
	(1024 +                                                             \
	 4 * (DOMAIN_NAME_MAX + DOMAIN_CPU_MAX + 3 * DOMAIN_PATH_MAX +      \
	      DOMAIN_CMDLINE_MAX) +                                         \
	 DOMAIN_DISKS_MAX * (192 + 4 * (DOMAIN_PATH_MAX + DOMAIN_VDEV_MAX + \
					DOMAIN_SCRIPT_MAX)) +               \
	 DOMAIN_VIFS_MAX *                                                  \
		 (192 + 4 * (2 * DOMAIN_IFNAME_MAX + DOMAIN_SCRIPT_MAX +    \
			     DOMAIN_VIF_IP_MAX)))

/* Longest message, NUL included; warnings kept per parse. */
#define CONFIG_MSG_MAX 512
#define CONFIG_WARN_MAX 16

/* What to do when the guest powers off, reboots or crashes (xl's words). */
enum domain_action {
	DOMAIN_ACTION_DESTROY,
	DOMAIN_ACTION_RESTART,
	DOMAIN_ACTION_PRESERVE,
	DOMAIN_ACTION_RENAME_RESTART,
	DOMAIN_ACTION_COREDUMP_DESTROY,
	DOMAIN_ACTION_COREDUMP_RESTART,
};

/* Where the guest's serial port goes. */
enum domain_serial {
	DOMAIN_SERIAL_STDIO, /* the VMM process's stdin/stdout */
	DOMAIN_SERIAL_FILE, /* appended to serial_path */
	DOMAIN_SERIAL_NONE, /* no serial port */
	DOMAIN_SERIAL_PTY, /* a pseudo-terminal, for `godwit console` */
};

/* What guest RAM is made of (memory_backing, godwit.cfg(5)). */
enum domain_memory_backing {
	DOMAIN_MEMORY_THP, /* "thp": 2 MiB pages where possible (default) */
	DOMAIN_MEMORY_SMALL, /* "small": 4 KiB pages */
	DOMAIN_MEMORY_HUGEPAGES, /* "hugepages": reserved hugetlbfs pages */
};

enum domain_disk_format {
	DOMAIN_DISK_RAW,
	DOMAIN_DISK_QCOW2,
};

enum domain_vif_model {
	DOMAIN_VIF_VIRTIO,
};

/*
 * One disk. Zero-filled, the optional parts have their defaults: no
 * size (the image's), discard offered, the host page cache, no script.
 */
struct domain_disk {
	/* Image file or block device; with a script, what it is given. */
	char target[DOMAIN_PATH_MAX + 1];
	char vdev[DOMAIN_VDEV_MAX + 1]; /* guest name, e.g. "xvda"; unique */
	enum domain_disk_format format;
	bool readonly; /* access=ro */
	bool no_discard; /* no-discard: the guest is not offered discard */
	bool direct_io; /* direct-io: O_DIRECT, no host page cache */
	uint64_t size; /* size=: bytes the guest sees; 0 = the image's */
	/* Block hotplug script (name in /etc/godwit/scripts, or a path);
	 * "" = none. */
	char script[DOMAIN_SCRIPT_MAX + 1];
};

/*
 * One network interface (xl-network-configuration). Zero-filled, the
 * optional parts have their defaults: no bridge, an automatic tap name,
 * the built-in setup (no script), no addresses, no rate limit.
 */
struct domain_vif {
	/* Unicast, unique; generated in Xen's 00:16:3e range when not given. */
	uint8_t mac[6];
	char bridge[DOMAIN_IFNAME_MAX + 1]; /* "" = not attached to a bridge */
	char vifname[DOMAIN_IFNAME_MAX + 1]; /* host tap name; "" = automatic */
	enum domain_vif_model model;
	/* vif hotplug script (name in /etc/godwit/scripts, or a path);
	 * "" = the built-in setup: into the bridge, link up. */
	char script[DOMAIN_SCRIPT_MAX + 1];
	/* ip=: addresses for the script, space-separated; "" = none. */
	char ip[DOMAIN_VIF_IP_MAX + 1];
	/* rate=: guest transmit limit; 0 = unlimited. */
	uint64_t rate_bytes_per_s;
	uint32_t rate_interval_us; /* credit interval; 0 when unlimited */
};

/*
 * One domain. Strings are NUL-terminated and zero-filled to their size,
 * so a parsed struct can also be compared with memcmp(). uuid_given
 * records where the uuid came from and is not part of the description:
 * domain_config_equal() ignores it.
 */
struct domain_config {
	char name[DOMAIN_NAME_MAX + 1]; /* required: [A-Za-z0-9_.-] */
	uint8_t uuid[16]; /* never all zero after a parse */
	bool uuid_given; /* false: generated randomly by the parser */
	uint64_t memory_mib; /* guest RAM */
	uint64_t maxmem_mib; /* >= memory_mib; no ballooning: informative */
	unsigned int vcpus; /* 1..DOMAIN_VCPUS_MAX, started at boot */
	unsigned int maxvcpus; /* vcpus..DOMAIN_VCPUS_MAX; no hotplug yet */
	enum domain_memory_backing memory_backing;
	char cpu[DOMAIN_CPU_MAX + 1]; /* "host" or "x86-64-v1".."x86-64-v4" */
	char kernel[DOMAIN_PATH_MAX + 1]; /* "" = none (e.g. restore only) */
	char ramdisk[DOMAIN_PATH_MAX + 1]; /* "" = none */
	char cmdline[DOMAIN_CMDLINE_MAX + 1]; /* effective kernel command line */
	enum domain_serial serial;
	char serial_path[DOMAIN_PATH_MAX + 1]; /* DOMAIN_SERIAL_FILE only */
	enum domain_action on_poweroff;
	enum domain_action on_reboot;
	enum domain_action on_crash;
	unsigned int nr_disks;
	struct domain_disk disks[DOMAIN_DISKS_MAX];
	unsigned int nr_vifs;
	struct domain_vif vifs[DOMAIN_VIFS_MAX];
};

/*
 * Messages of one parse. error holds one line when a function fails;
 * warnings (ignored keys, settings without effect) are kept in order,
 * those beyond CONFIG_WARN_MAX only counted in warnings_dropped.
 */
struct config_diag {
	char error[CONFIG_MSG_MAX];
	unsigned int nr_warnings;
	unsigned int warnings_dropped;
	char warnings[CONFIG_WARN_MAX][CONFIG_MSG_MAX];
};

/* Defaults for every key; name empty, uuid zero and not given. */
void domain_config_init(struct domain_config *cfg);

/*
 * Parse len bytes of text (any bytes; NULs are refused) named file in
 * messages, then apply overrides ("key=value", as `xl create CFG k=v`),
 * then defaults and cross-key checks; generate the uuid and missing MACs.
 * diag may be NULL. On success *cfg_out is complete; on failure it is
 * untouched. -EINVAL for bad input, -ENOMEM, or -errno from getrandom.
 */
int domain_config_parse(const char *file, const char *text, size_t len,
			const char *const *overrides, size_t nr_overrides,
			struct domain_config *cfg_out,
			struct config_diag *diag) __must_check;

/*
 * Append one disk spec, in any form the disk list takes (`godwit run
 * --disk SPEC`): checked as a list entry is, and its vdev against cfg's
 * disks. Messages start with where and the spec ("--disk \"...\": ").
 * -EINVAL with diag->error set; cfg is unchanged on failure.
 */
int domain_config_add_disk(struct domain_config *cfg, const char *where,
			   const char *spec,
			   struct config_diag *diag) __must_check;

/*
 * Append one network interface spec (`godwit run --vif SPEC`), checked
 * as a vif list entry is, and its MAC against cfg's interfaces. Messages
 * as for domain_config_add_disk(). -EINVAL with diag->error set; cfg is
 * unchanged on failure.
 */
int domain_config_add_vif(struct domain_config *cfg, const char *where,
			  const char *spec,
			  struct config_diag *diag) __must_check;

/* domain_config_parse() of the regular file at path (at most 1 MiB). */
int domain_config_load(const char *path, const char *const *overrides,
		       size_t nr_overrides, struct domain_config *cfg_out,
		       struct config_diag *diag) __must_check;

/*
 * Can the VM have memory_mib of RAM? A whole number of 2 MiB steps; the
 * config's checks and the command line's --memory both ask. 0 or
 * -EINVAL with why.
 */
int domain_config_check_memory(uint64_t memory_mib, char *why,
			       size_t whylen) __must_check;

/*
 * Canonical text of cfg, NUL-terminated: every key in a fixed order,
 * defaults included (maxmem, maxvcpus only when they differ from memory,
 * vcpus); parses back to a struct equal to cfg (uuid_given then true).
 * -ENOSPC if len is too small (DOMAIN_CONFIG_TEXT_MAX always suffices),
 * -EINVAL if an enum or a count is out of range (a struct built by hand).
 */
int domain_config_format(const struct domain_config *cfg, char *buf,
			 size_t len) __must_check;

/* Do a and b describe the same domain? Every field except uuid_given. */
bool domain_config_equal(const struct domain_config *a,
			 const struct domain_config *b);

/* Canonical lower-case 8-4-4-4-12 text of uuid, NUL-terminated. */
void domain_config_uuid_format(const uint8_t uuid[16],
			       char out[DOMAIN_UUID_STR_LEN + 1]);
/* A random version 4 UUID (getrandom, else /dev/urandom); -errno. */
int domain_config_uuid_generate(uint8_t uuid_out[16]) __must_check;
/* Parse 8-4-4-4-12 hex (either case); -EINVAL otherwise. */
int domain_config_uuid_parse(const char *s, uint8_t uuid_out[16]) __must_check;
/* "xx:xx:xx:xx:xx:xx", lower case, NUL-terminated. */
void domain_config_mac_format(const uint8_t mac[6],
			      char out[DOMAIN_MAC_STR_LEN + 1]);

/* xl's word for an action ("destroy", ...); "?" for an invalid value. */
const char *domain_config_action_name(enum domain_action action);
/* "stdio", "file", "none" or "pty"; "?" for an invalid value. */
const char *domain_config_serial_name(enum domain_serial serial);
/* "thp", "small" or "hugepages"; "?" for an invalid value. */
const char *domain_config_backing_name(enum domain_memory_backing b);

#endif
