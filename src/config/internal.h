/*
 * Internals of the config library, shared by its files only: the
 * statement reader's output (one `KEY = VALUE` at a time, decoded into a
 * bounded buffer), the build state that carries a parse across the file
 * and the command-line overrides, and message helpers.
 */
#ifndef GODWIT_CONFIG_INTERNAL_H
#define GODWIT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "config/domain_config.h"

/* Decoded bytes one statement may hold (strings and number texts). */
#define CONFIG_STMT_BYTES (64 * 1024)
/* File name used in messages about command-line overrides. */
#define CONFIG_OVERRIDE_FILE "<command line>"

/* Where something is; line 0 = no line, col 0 = no column. */
struct config_loc {
	const char *file;
	unsigned int line;
	unsigned int col;
};

enum config_kind {
	CONFIG_STRING, /* quoted string, or a bare word in an override */
	CONFIG_INT, /* number token; text is its literal spelling */
	CONFIG_LIST, /* list; a nested list's items are not kept */
};

struct config_atom {
	enum config_kind kind;
	struct config_loc loc;
	const char *text; /* NUL-terminated in the statement buffer */
	size_t len;
};

/* One `KEY = VALUE`; value.kind CONFIG_LIST has items[0..nr_items). */
struct config_stmt {
	char key[CONFIG_KEY_MAX + 1];
	struct config_loc loc; /* of the key */
	struct config_atom value;
	unsigned int nr_items;
	struct config_atom items[CONFIG_LIST_MAX];
	size_t used; /* bytes of buf in use */
	char buf[CONFIG_STMT_BYTES];
};

/* Reader over one config text. */
struct config_lexer {
	const char *file;
	const char *text;
	size_t len;
	size_t pos;
	unsigned int line;
	unsigned int col;
};

/* Keys godwit implements, in the order of the table in keys.c. */
enum config_key {
	CONFIG_KEY_NAME,
	CONFIG_KEY_UUID,
	CONFIG_KEY_MEMORY,
	CONFIG_KEY_MAXMEM,
	CONFIG_KEY_VCPUS,
	CONFIG_KEY_MAXVCPUS,
	CONFIG_KEY_CPU,
	CONFIG_KEY_KERNEL,
	CONFIG_KEY_RAMDISK,
	CONFIG_KEY_CMDLINE,
	CONFIG_KEY_ROOT,
	CONFIG_KEY_EXTRA,
	CONFIG_KEY_SERIAL,
	CONFIG_KEY_ON_POWEROFF,
	CONFIG_KEY_ON_REBOOT,
	CONFIG_KEY_ON_CRASH,
	CONFIG_KEY_DISK,
	CONFIG_KEY_VIF,
	CONFIG_KEY_MEMORY_BACKING,
	CONFIG_NR_KEYS
};

/*
 * A parse in progress. loc[k] is where key k was last set (line 0: not
 * set); root and extra are combined into cfg.cmdline at the end.
 */
struct config_build {
	struct domain_config cfg;
	struct config_diag *diag;
	struct config_loc loc[CONFIG_NR_KEYS];
	char root[CONFIG_STRING_MAX + 1];
	char extra[CONFIG_STRING_MAX + 1];
	struct config_stmt stmt;
};

/* lex.c */
void config_lex_init(struct config_lexer *lx, const char *file,
		     const char *text, size_t len);
/* Check the whole text for NUL bytes and overlong lines first. */
int config_lex_check(const struct config_lexer *lx,
		     struct config_diag *d) __must_check;
/* Next statement into st: 1 got one, 0 end of text, -EINVAL bad syntax. */
int config_lex_stmt(struct config_lexer *lx, struct config_stmt *st,
		    struct config_diag *d) __must_check;
/* One "key=value" override (argument number index, from 1) into st. */
int config_lex_override(const char *arg, unsigned int index,
			struct config_stmt *st,
			struct config_diag *d) __must_check;

/* keys.c */
/* Apply one statement to the build; -EINVAL with a message. */
int config_apply(struct config_build *b,
		 const struct config_stmt *st) __must_check;
/* Defaults, required keys, cross-key checks, uuid. */
int config_finish(struct config_build *b, const char *file) __must_check;
/* Strict unsigned number: decimal without leading zeros, or 0x hex. */
int config_number(const char *s, uint64_t *val_out) __must_check;
/* Does s consist of bytes of [A-Za-z0-9_.-] only, and is it non-empty? */
bool config_is_plain_word(const char *s);

/* spec.c: one device spec string being read, for messages */
struct config_spec {
	struct config_diag *diag;
	const struct config_atom *a;
	const char *key; /* "disk", "vif"; NULL for --disk */
	unsigned int index; /* entry number from 1; 0: not in a list */
};

/* One comma-separated item: key=val, or a bare val (key NULL). */
struct config_item {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

/* Walks the items of one spec string. */
struct config_item_iter {
	const char *s;
	size_t pos;
	bool done;
};

/* "LOC: KEY: entry N: MESSAGE"; returns -EINVAL. */
int config_spec_error(const struct config_spec *sp, const char *fmt, ...)
	__printf(2, 3);
void config_spec_warning(const struct config_spec *sp, const char *fmt, ...)
	__printf(2, 3);
/* Is name one of the parameters in ignored[n]? Warns if it is. */
bool config_spec_ignored(const struct config_spec *sp, const char *name,
			 size_t len, const char *const *ignored, size_t n);
/* Next item, trimmed; false after the last. */
bool config_item_next(struct config_item_iter *it, struct config_item *item);
/* Make item's value the rest of the string, commas included. */
void config_item_take_rest(struct config_item_iter *it,
			   struct config_item *item);
void config_span_trim(const char **s, size_t *len);
bool config_span_is(const char *s, size_t len, const char *word);
/* Index of the word equal to s, or -ENOENT. */
int config_span_lookup(const char *s, size_t len, const char *const *words,
		       size_t n);
/* A span as a quoted excerpt for messages, in buf. */
const char *config_span_shown(char *buf, size_t len, const char *s, size_t n);
/* Copy the item's value into out[max + 1], zero-filled; too long: error. */
int config_span_copy(const struct config_spec *sp, const char *what, char *out,
		     size_t max, const struct config_item *it) __must_check;

/* vif.c */
/*
 * One vif spec into out; a MAC that was not given is generated
 * (*generated_out set, so a caller may draw again on a clash).
 */
int config_parse_vif(const struct config_spec *sp, struct domain_vif *out,
		     bool *generated_out) __must_check;
/* "rate=1000000B/s@50000us" read back: xl's RATE/s[@INTERVAL]. */
int config_vif_rate_parse(const char *s, size_t len, uint64_t *bytes_per_s,
			  uint32_t *interval_us) __must_check;

/* disk.c */
int config_parse_disk(const struct config_spec *sp,
		      struct domain_disk *out) __must_check;

/* ident.c */
/* The value of hex digit c (either case), or -1. */
int config_hex_digit(int c);
int config_mac_parse(const char *s, uint8_t mac_out[6]) __must_check;
/* A random MAC in Xen's range, 00:16:3e:00:00:00-00:16:3e:7f:ff:ff. */
int config_mac_generate(uint8_t mac_out[6]) __must_check;

/* diag.c */
void config_diag_reset(struct config_diag *d);
/*
 * Set d->error to "FILE[:LINE[:COL]]: [KEY: ]MESSAGE" and return -EINVAL.
 * key may be NULL.
 */
int config_error(struct config_diag *d, const struct config_loc *loc,
		 const char *key, const char *fmt, ...) __printf(4, 5);
/* Same shape, appended to the warnings. */
void config_warning(struct config_diag *d, const struct config_loc *loc,
		    const char *key, const char *fmt, ...) __printf(4, 5);
/*
 * s as a one-line, double-quoted excerpt for messages: control and
 * non-ASCII bytes escaped, cut to about 40 bytes with "...".
 */
void config_excerpt(char *out, size_t len, const char *s);

#endif
