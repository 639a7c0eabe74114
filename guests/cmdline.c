/*
 * The guest command line: space-separated key=value tokens from
 * hvm_start_info.cmdline_paddr, copied at boot so the original page may
 * be reused. Numbers are decimal or 0x-prefixed hex; a malformed number
 * ends the VM with EXIT_FAIL. Ring 0 only.
 */
#include "kernel.h"

#define CMDLINE_MAX 1024

static char cmdline[CMDLINE_MAX];

void cmdline_init(const char *src)
{
	size_t i;

	for (i = 0; src && i < CMDLINE_MAX - 1 && src[i]; i++)
		cmdline[i] = src[i];
	cmdline[i] = 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next token at or after *p, or NULL; *p moves past it. */
static const char *next_token(const char **p, size_t *len_out)
{
	const char *tok;

	while (is_space(**p))
		(*p)++;
	if (!**p)
		return NULL;
	tok = *p;
	while (**p && !is_space(**p))
		(*p)++;
	*len_out = (size_t)(*p - tok);
	return tok;
}

/* Is the token tok (len bytes) key=...? */
static bool token_has_key(const char *tok, size_t len, const char *key)
{
	size_t klen = strlen(key);

	return klen < len && !strncmp(tok, key, klen) && tok[klen] == '=';
}

/*
 * Start of the value of the nth (from 0) token key=..., or NULL; *len_out
 * is the value's length.
 */
static const char *find_nth(const char *key, unsigned int n, size_t *len_out)
{
	const char *p = cmdline, *tok;
	size_t len, skip = strlen(key) + 1;

	while ((tok = next_token(&p, &len))) {
		if (token_has_key(tok, len, key) && !n--) {
			*len_out = len - skip;
			return tok + skip;
		}
	}
	return NULL;
}

static const char *find_value(const char *key, size_t *len_out)
{
	return find_nth(key, 0, len_out);
}

static int digit_value(char c, unsigned int base)
{
	int d = -1;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	return d >= 0 && (unsigned int)d < base ? d : -1;
}

static bool parse_u64(const char *s, size_t len, uint64_t *v_out)
{
	unsigned int base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		int d = digit_value(s[i], base);

		if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
	}
	*v_out = v;
	return true;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
	size_t len;
	const char *s = find_value(key, &len);
	uint64_t v;

	if (!s)
		return def;
	if (!parse_u64(s, len, &v))
		con_fail("cmdline %s= is not a number\n", key);
	return v;
}

bool cmdline_str(const char *key, char *buf, size_t len)
{
	return cmdline_str_nth(key, 0, buf, len);
}

bool cmdline_str_nth(const char *key, unsigned int n, char *buf, size_t len)
{
	size_t vlen, i;
	const char *s = find_nth(key, n, &vlen);

	if (!s || !len)
		return false;
	for (i = 0; i < vlen && i < len - 1; i++)
		buf[i] = s[i];
	buf[i] = 0;
	return true;
}

static bool key_known(const char *tok, size_t len, const char *const *keys)
{
	for (; *keys; keys++) {
		if (token_has_key(tok, len, *keys))
			return true;
	}
	return false;
}

/*
 * Keys every guest accepts (debug=1: boot details as "guest:" lines;
 * avx=0: leave AVX disabled) and keys a VMM or boot loader may add for
 * Linux, which the guests ignore.
 */
static const char *const foreign_keys[] = {
	"debug",  "avx",   "console", "earlyprintk",
	"reboot", "panic", "pci",     NULL,
};

static bool token_ignored(const char *tok, size_t len)
{
	size_t i;

	for (i = 0; i < len && tok[i] != '='; i++) {
		if (tok[i] == '.')
			return true; /* module.parameter=... */
	}
	return i == len || key_known(tok, len, foreign_keys);
}

void cmdline_check_keys(const char *const *keys)
{
	const char *p = cmdline, *tok;
	size_t len, i;
	char name[32];

	while ((tok = next_token(&p, &len))) {
		if (token_ignored(tok, len) || key_known(tok, len, keys))
			continue;
		for (i = 0; i < len && i < sizeof(name) - 1 && tok[i] != '=';
		     i++)
			name[i] = tok[i];
		name[i] = 0;
		con_fail("cmdline key %s unknown\n", name);
	}
}

bool debug_enabled(void)
{
	return cmdline_u64("debug", 0) != 0;
}
