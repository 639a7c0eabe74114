/*
 * Reader of the xl.cfg syntax: turns config text into one statement at a
 * time (`KEY = VALUE`, VALUE a quoted string, a number or a list), with
 * strings decoded into the statement's fixed buffer. No allocation: every
 * size is bounded by the limits in domain_config.h, and nested lists are
 * walked with a depth counter, not recursion. Meaning is applied later,
 * in keys.c; this file knows nothing about particular keys.
 *
 * Grammar (newlines are insignificant inside lists):
 *   file   := { stmt | ';' | NEWLINE }
 *   stmt   := IDENT '=' value ( ';' | NEWLINE | EOF )
 *   value  := STRING | NUMBER | '[' [ value { ',' value } [ ',' ] ] ']'
 * Comments run from '#' to the end of the line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

enum tok_type {
	TOK_EOF,
	TOK_NEWLINE,
	TOK_SEMI,
	TOK_EQUALS,
	TOK_LBRACKET,
	TOK_RBRACKET,
	TOK_COMMA,
	TOK_IDENT,
	TOK_STRING,
	TOK_NUMBER,
};

/* STRING and NUMBER texts are in the statement buffer at off. */
struct token {
	enum tok_type type;
	struct config_loc loc;
	const char *start; /* in the input */
	size_t len; /* bytes in the input */
	size_t off;
};

static const char *key_of(const struct config_stmt *st)
{
	return st->key[0] ? st->key : NULL;
}

static const char *tok_name(enum tok_type type)
{
	static const char *const names[] = {
		[TOK_EOF] = "end of input", [TOK_NEWLINE] = "end of line",
		[TOK_SEMI] = "';'",	    [TOK_EQUALS] = "'='",
		[TOK_LBRACKET] = "'['",	    [TOK_RBRACKET] = "']'",
		[TOK_COMMA] = "','",	    [TOK_IDENT] = "a bare word",
		[TOK_STRING] = "a string",  [TOK_NUMBER] = "a number",
	};

	return names[type];
}

static int lx_peek(const struct config_lexer *lx)
{
	return lx->pos < lx->len ? (unsigned char)lx->text[lx->pos] : -1;
}

static void lx_advance(struct config_lexer *lx)
{
	if (lx->text[lx->pos++] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
}

static struct config_loc lx_loc(const struct config_lexer *lx)
{
	return (struct config_loc){ lx->file, lx->line, lx->col };
}

void config_lex_init(struct config_lexer *lx, const char *file,
		     const char *text, size_t len)
{
	lx->file = file;
	lx->text = text;
	lx->len = len;
	lx->pos = 0;
	lx->line = 1;
	lx->col = 1;
}

int config_lex_check(const struct config_lexer *lx, struct config_diag *d)
{
	struct config_loc loc = lx_loc(lx);
	size_t i;

	for (i = 0; i < lx->len; i++) {
		if (!lx->text[i])
			return config_error(d, &loc, NULL, "NUL byte in input");
		if (lx->text[i] == '\n') {
			loc.line++;
			loc.col = 1;
			continue;
		}
		if (loc.col > CONFIG_LINE_MAX)
			return config_error(d, &loc, NULL,
					    "line too long (max %d bytes)",
					    CONFIG_LINE_MAX);
		loc.col++;
	}
	return 0;
}

/* Blanks and comments; stops at a newline or a token. */
static void skip_blanks(struct config_lexer *lx)
{
	int c;

	while ((c = lx_peek(lx)) >= 0) {
		if (c == '#') {
			while ((c = lx_peek(lx)) >= 0 && c != '\n')
				lx_advance(lx);
			return;
		}
		if (c != ' ' && c != '\t' && c != '\r' && c != '\f' &&
		    c != '\v')
			return;
		lx_advance(lx);
	}
}

/* Append byte c to the statement buffer (always leaving room for a NUL). */
static int buf_put(struct config_stmt *st, const struct config_loc *loc,
		   struct config_diag *d, char c)
{
	if (st->used + 1 >= sizeof(st->buf))
		return config_error(d, loc, key_of(st),
				    "value too large (max %d bytes)",
				    CONFIG_STMT_BYTES);
	st->buf[st->used++] = c;
	st->buf[st->used] = 0;
	return 0;
}

/* Terminate the text being decoded and step past its NUL. */
static int buf_end(struct config_stmt *st, const struct config_loc *loc,
		   struct config_diag *d)
{
	if (st->used >= sizeof(st->buf))
		return config_error(d, loc, key_of(st),
				    "value too large (max %d bytes)",
				    CONFIG_STMT_BYTES);
	st->buf[st->used++] = 0;
	return 0;
}

/* Up to max digits of base (8 or 16) as one byte value; -1: none. */
static int escape_digits(struct config_lexer *lx, int base, int max)
{
	int v = 0, n, dig;

	for (n = 0; n < max; n++) {
		dig = config_hex_digit(lx_peek(lx));
		if (dig < 0 || dig >= base)
			break;
		v = v * base + dig;
		lx_advance(lx);
	}
	return n ? v : -1;
}

/* The byte a backslash escape stands for; lx is after the backslash. */
static int lex_escape(struct config_lexer *lx, struct config_stmt *st,
		      struct config_diag *d, int *byte_out)
{
	static const char from[] = "ntrabfv\\\"'";
	static const char to[] = "\n\t\r\a\b\f\v\\\"'";
	struct config_loc loc = lx_loc(lx);
	int c = lx_peek(lx);
	const char *p;

	loc.col--;
	if (c < 0 || c == '\n')
		return config_error(d, &loc, key_of(st), "unterminated string");
	if (c == 'x') {
		lx_advance(lx);
		*byte_out = escape_digits(lx, 16, 2);
		if (*byte_out < 0)
			return config_error(
				d, &loc, key_of(st),
				"\\x must be followed by hex digits");
		return 0;
	}
	if (c >= '0' && c <= '7') {
		*byte_out = escape_digits(lx, 8, 3);
		if (*byte_out > 0xff)
			return config_error(d, &loc, key_of(st),
					    "octal escape above \\377");
		return 0;
	}
	p = strchr(from, c);
	if (!p && isprint(c))
		return config_error(d, &loc, key_of(st), "unknown escape \\%c",
				    c);
	if (!p)
		return config_error(
			d, &loc, key_of(st),
			"unknown escape: backslash before byte 0x%02x", c);
	lx_advance(lx);
	*byte_out = to[p - from];
	return 0;
}

/* One character of a string body into *byte_out; 1 at the closing quote. */
static int lex_string_byte(struct config_lexer *lx, struct config_stmt *st,
			   struct config_diag *d, const struct token *t,
			   int *byte_out)
{
	char quote = *t->start;
	struct config_loc loc = lx_loc(lx);
	int c = lx_peek(lx);

	if (c < 0 || c == '\n')
		return config_error(d, &t->loc, key_of(st),
				    "unterminated string");
	lx_advance(lx);
	if (c == quote)
		return 1;
	if (c == '\\' && quote == '"')
		return lex_escape(lx, st, d, byte_out);
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return config_error(
			d, &loc, key_of(st),
			"control character in string (write it as an escape)");
	*byte_out = c;
	return 0;
}

/* A quoted string, decoded; lx is on the opening quote. */
static int lex_string(struct config_lexer *lx, struct config_stmt *st,
		      struct config_diag *d, struct token *t)
{
	struct config_loc loc;
	int rc, byte = 0;

	t->type = TOK_STRING;
	t->off = st->used;
	lx_advance(lx);
	for (;;) {
		loc = lx_loc(lx);
		rc = lex_string_byte(lx, st, d, t, &byte);
		if (rc < 0)
			return rc;
		if (rc == 1)
			break;
		if (!byte)
			return config_error(d, &loc, key_of(st),
					    "NUL character in string");
		if (st->used - t->off >= CONFIG_STRING_MAX)
			return config_error(d, &t->loc, key_of(st),
					    "string too long (max %d bytes)",
					    CONFIG_STRING_MAX);
		rc = buf_put(st, &t->loc, d, (char)byte);
		if (rc)
			return rc;
	}
	t->len = lx->pos - (size_t)(t->start - lx->text);
	return buf_end(st, &t->loc, d);
}

static bool is_word_char(int c)
{
	return c >= 0 && (isalnum(c) || c == '_');
}

/* A number's literal text (digits and letters), checked and copied. */
static int lex_number(struct config_lexer *lx, struct config_stmt *st,
		      struct config_diag *d, struct token *t)
{
	char lit[64], shown[64];
	uint64_t v;
	size_t i;

	while (is_word_char(lx_peek(lx)) || lx_peek(lx) == '.')
		lx_advance(lx);
	t->type = TOK_NUMBER;
	t->len = lx->pos - (size_t)(t->start - lx->text);
	snprintf(lit, sizeof(lit), "%.*s", (int)t->len, t->start);
	if (t->len >= sizeof(lit) || config_number(lit, &v) == -EINVAL) {
		config_excerpt(shown, sizeof(shown), lit);
		return config_error(
			d, &t->loc, key_of(st),
			"malformed number %s (decimal without leading zeros, or 0x hex)",
			shown);
	}
	t->off = st->used;
	for (i = 0; i < t->len; i++) {
		if (buf_put(st, &t->loc, d, lit[i]))
			return -EINVAL;
	}
	return buf_end(st, &t->loc, d);
}

static int lex_unexpected(struct config_stmt *st, struct config_diag *d,
			  const struct token *t, int c)
{
	if (isprint(c))
		return config_error(d, &t->loc, key_of(st),
				    "unexpected character '%c'", c);
	return config_error(d, &t->loc, key_of(st), "unexpected byte 0x%02x",
			    c);
}

static const enum tok_type punct_type[128] = {
	['\n'] = TOK_NEWLINE, [';'] = TOK_SEMI,	    ['='] = TOK_EQUALS,
	['['] = TOK_LBRACKET, [']'] = TOK_RBRACKET, [','] = TOK_COMMA,
};

static int next_token(struct config_lexer *lx, struct config_stmt *st,
		      struct config_diag *d, struct token *t)
{
	int c;

	skip_blanks(lx);
	memset(t, 0, sizeof(*t));
	t->loc = lx_loc(lx);
	t->start = lx->text + lx->pos;
	c = lx_peek(lx);
	if (c < 0) {
		t->type = TOK_EOF;
		return 0;
	}
	if (c == '"' || c == '\'')
		return lex_string(lx, st, d, t);
	if (isdigit(c))
		return lex_number(lx, st, d, t);
	if (isalpha(c) || c == '_') {
		while (is_word_char(lx_peek(lx)))
			lx_advance(lx);
		t->type = TOK_IDENT;
		t->len = lx->pos - (size_t)(t->start - lx->text);
		return 0;
	}
	if (c < 128 && punct_type[c]) {
		t->type = punct_type[c];
		t->len = 1;
		lx_advance(lx);
		return 0;
	}
	return lex_unexpected(st, d, t, c);
}

static void atom_set(struct config_atom *a, const struct config_stmt *st,
		     const struct token *t)
{
	a->kind = t->type == TOK_NUMBER ? CONFIG_INT : CONFIG_STRING;
	if (t->type == TOK_LBRACKET)
		a->kind = CONFIG_LIST;
	a->loc = t->loc;
	a->text = t->type == TOK_LBRACKET ? "" : st->buf + t->off;
	a->len = strlen(a->text);
}

static bool is_scalar(enum tok_type type)
{
	return type == TOK_STRING || type == TOK_NUMBER;
}

/* A list item at depth 1 is kept; deeper ones are checked and dropped. */
static int list_item(struct config_stmt *st, struct config_diag *d,
		     const struct token *t, unsigned int depth, size_t keep)
{
	if (depth > 1) {
		st->used = keep;
		return 0;
	}
	if (st->nr_items >= CONFIG_LIST_MAX)
		return config_error(d, &t->loc, key_of(st),
				    "list too long (max %d items)",
				    CONFIG_LIST_MAX);
	atom_set(&st->items[st->nr_items++], st, t);
	return 0;
}

/* Where a list walk is: nesting depth, and whether a value may come. */
struct list_walk {
	unsigned int depth;
	bool want_value;
};

/* A value or a nested '[' inside a list. */
static int list_value(struct config_stmt *st, struct config_diag *d,
		      struct list_walk *w, const struct token *t, size_t keep)
{
	int rc;

	if (!w->want_value)
		return config_error(d, &t->loc, key_of(st),
				    "expected ',' or ']' between list items");
	rc = list_item(st, d, t, w->depth, keep);
	if (rc)
		return rc;
	w->want_value = t->type == TOK_LBRACKET;
	if (t->type == TOK_LBRACKET && ++w->depth > CONFIG_DEPTH_MAX)
		return config_error(d, &t->loc, key_of(st),
				    "lists nested too deeply (max %d levels)",
				    CONFIG_DEPTH_MAX);
	return 0;
}

/*
 * One token inside a list. One walk serves every depth: after '[' or ','
 * a value or ']' may follow; after a value, ',' or ']'.
 */
static int list_token(struct config_stmt *st, struct config_diag *d,
		      struct list_walk *w, const struct token *t, size_t keep)
{
	switch (t->type) {
	case TOK_NEWLINE:
		return 0;
	case TOK_RBRACKET:
		w->depth--;
		w->want_value = false;
		return 0;
	case TOK_COMMA:
		if (w->want_value)
			return config_error(
				d, &t->loc, key_of(st),
				"expected a value or ']' before ','");
		w->want_value = true;
		return 0;
	case TOK_STRING:
	case TOK_NUMBER:
	case TOK_LBRACKET:
		return list_value(st, d, w, t, keep);
	default:
		return config_error(
			d, &t->loc, key_of(st),
			"expected a value, ',' or ']' in a list, got %s",
			tok_name(t->type));
	}
}

/* The rest of a list after its '['. */
static int lex_list(struct config_lexer *lx, struct config_stmt *st,
		    struct config_diag *d, const struct token *open)
{
	struct list_walk w = { 1, true };
	struct token t;
	size_t keep;
	int rc = 0;

	atom_set(&st->value, st, open);
	while (w.depth && !rc) {
		keep = st->used;
		rc = next_token(lx, st, d, &t);
		if (!rc && t.type == TOK_EOF)
			return config_error(
				d, &open->loc, key_of(st),
				"unterminated list (no closing ']')");
		if (!rc)
			rc = list_token(st, d, &w, &t, keep);
	}
	return rc;
}

static int lex_value(struct config_lexer *lx, struct config_stmt *st,
		     struct config_diag *d)
{
	struct token t;
	char word[64];
	int rc;

	rc = next_token(lx, st, d, &t);
	if (rc)
		return rc;
	if (is_scalar(t.type)) {
		atom_set(&st->value, st, &t);
		return 0;
	}
	if (t.type == TOK_LBRACKET)
		return lex_list(lx, st, d, &t);
	if (t.type == TOK_IDENT) {
		snprintf(word, sizeof(word), "%.*s", (int)MIN(t.len, 40),
			 t.start);
		return config_error(
			d, &t.loc, key_of(st),
			"expected a value (a quoted string, a number or a list), got %s%s",
			word, t.len > 40 ? "..." : "");
	}
	return config_error(
		d, &t.loc, key_of(st),
		"expected a value (a quoted string, a number or a list), got %s",
		tok_name(t.type));
}

static void stmt_reset(struct config_stmt *st)
{
	st->key[0] = 0;
	st->nr_items = 0;
	st->used = 0;
	st->buf[0] = 0;
	memset(&st->value, 0, sizeof(st->value));
}

static int stmt_key(struct config_stmt *st, struct config_diag *d,
		    const struct token *t)
{
	if (t->len > CONFIG_KEY_MAX)
		return config_error(d, &t->loc, NULL,
				    "key too long (max %d bytes)",
				    CONFIG_KEY_MAX);
	memcpy(st->key, t->start, t->len);
	st->key[t->len] = 0;
	st->loc = t->loc;
	return 0;
}

/* Skip empty statements; 1 with the key token in t, 0 at the end. */
static int lex_key(struct config_lexer *lx, struct config_stmt *st,
		   struct config_diag *d, struct token *t)
{
	int rc;

	for (;;) {
		rc = next_token(lx, st, d, t);
		if (rc)
			return rc;
		if (t->type == TOK_EOF)
			return 0;
		if (t->type == TOK_IDENT)
			break;
		if (t->type != TOK_NEWLINE && t->type != TOK_SEMI)
			return config_error(
				d, &t->loc, NULL,
				"expected a key at the start of a statement, got %s",
				tok_name(t->type));
	}
	rc = stmt_key(st, d, t);
	return rc ? rc : 1;
}

int config_lex_stmt(struct config_lexer *lx, struct config_stmt *st,
		    struct config_diag *d)
{
	struct token t;
	int rc;

	stmt_reset(st);
	rc = lex_key(lx, st, d, &t);
	if (rc <= 0)
		return rc;
	rc = next_token(lx, st, d, &t);
	if (rc)
		return rc;
	if (t.type != TOK_EQUALS)
		return config_error(d, &t.loc, st->key,
				    "expected '=' after the key, got %s",
				    tok_name(t.type));
	rc = lex_value(lx, st, d);
	if (rc)
		return rc;
	rc = next_token(lx, st, d, &t);
	if (rc)
		return rc;
	if (t.type != TOK_NEWLINE && t.type != TOK_SEMI && t.type != TOK_EOF)
		return config_error(
			d, &t.loc, st->key,
			"expected end of line or ';' after the value, got %s",
			tok_name(t.type));
	return 1;
}

static void skip_spaces(struct config_lexer *lx)
{
	while (lx_peek(lx) == ' ' || lx_peek(lx) == '\t')
		lx_advance(lx);
}

/* The key of "key=value": an identifier, blanks around it allowed. */
static int override_key(struct config_lexer *lx, struct config_stmt *st,
			struct config_diag *d, size_t eq)
{
	struct token t = { .type = TOK_IDENT };
	struct config_loc loc;

	skip_spaces(lx);
	t.loc = lx_loc(lx);
	t.start = lx->text + lx->pos;
	if (isalpha(lx_peek(lx)) || lx_peek(lx) == '_') {
		while (is_word_char(lx_peek(lx)))
			lx_advance(lx);
	}
	t.len = lx->pos - (size_t)(t.start - lx->text);
	skip_spaces(lx);
	loc = lx_loc(lx);
	if (!t.len || lx->pos != eq)
		return config_error(
			d, &loc, NULL,
			"expected key=value with key a name like memory");
	lx_advance(lx);
	return stmt_key(st, d, &t);
}

/* An unquoted value: a number, or else the rest of the text as a string. */
static int override_word(struct config_lexer *lx, struct config_stmt *st,
			 struct config_diag *d)
{
	struct config_loc loc = lx_loc(lx);
	size_t len = lx->len - lx->pos;
	uint64_t v;

	while (len && (lx->text[lx->pos + len - 1] == ' ' ||
		       lx->text[lx->pos + len - 1] == '\t'))
		len--;
	if (len > CONFIG_STRING_MAX)
		return config_error(d, &loc, st->key,
				    "string too long (max %d bytes)",
				    CONFIG_STRING_MAX);
	memcpy(st->buf, lx->text + lx->pos, len);
	st->buf[len] = 0;
	st->used = len + 1;
	st->value.kind = config_number(st->buf, &v) == -EINVAL ? CONFIG_STRING :
								 CONFIG_INT;
	st->value.loc = loc;
	st->value.text = st->buf;
	st->value.len = len;
	return 0;
}

/*
 * Values starting with a quote or '[' use the file syntax; anything else
 * is a number if it reads as one, else a string taken verbatim.
 */
int config_lex_override(const char *arg, unsigned int index,
			struct config_stmt *st, struct config_diag *d)
{
	const char *eq = strchr(arg, '=');
	struct config_lexer lx;
	struct token t;
	int rc, c;

	stmt_reset(st);
	st->loc = (struct config_loc){ CONFIG_OVERRIDE_FILE, index, 0 };
	config_lex_init(&lx, CONFIG_OVERRIDE_FILE, arg, strlen(arg));
	lx.line = index;
	if (strchr(arg, '\n'))
		return config_error(d, &st->loc, NULL,
				    "an override must be a single line");
	rc = config_lex_check(&lx, d);
	if (rc)
		return rc;
	rc = override_key(&lx, st, d, eq ? (size_t)(eq - arg) : lx.len + 1);
	if (rc)
		return rc;
	skip_spaces(&lx);
	c = lx_peek(&lx);
	if (c != '"' && c != '\'' && c != '[')
		return override_word(&lx, st, d);
	rc = lex_value(&lx, st, d);
	if (!rc)
		rc = next_token(&lx, st, d, &t);
	if (!rc && t.type != TOK_EOF)
		return config_error(d, &t.loc, st->key,
				    "expected nothing after the value, got %s",
				    tok_name(t.type));
	return rc;
}
