/* The first bytes on the relocation port: see preamble.h. */
#include "toolstack/daemon/preamble.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "format/record.h"
#include "format/stream_format.h"

#define TIB (1024ULL * 1024 * 1024 * 1024)

static const char handover_magic[4] = { 'G', 'D', 'W', 'H' };

static void __attribute__((format(printf, 2, 3)))
bad(struct preamble *p, const char *fmt, ...)
{
	va_list ap;

	p->kind = PREAMBLE_BAD;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

static void more(struct preamble *p, size_t need)
{
	p->kind = PREAMBLE_MORE;
	p->need = need;
}

/* Sizes any version must respect; false (and why) if not. */
static bool header_sane(const struct stream_header *h, struct preamble *p)
{
	if (!h->version)
		bad(p, "stream header version 0");
	else if (h->header_size < STREAM_HEADER_V1_SIZE ||
		 h->header_size > PREAMBLE_HEADER_MAX || h->header_size % 8)
		bad(p, "stream header size %u is not sane", h->header_size);
	else if (!h->config_len || h->config_len > STREAM_CONFIG_MAX)
		bad(p, "stream config length %u is not sane", h->config_len);
	else if (!h->mem_bytes || h->mem_bytes % STREAM_PAGE_SIZE ||
		 h->mem_bytes > 64 * TIB)
		bad(p, "stream guest memory size %llu is not sane",
		    (unsigned long long)h->mem_bytes);
	else
		return true;
	return false;
}

static void classify_stream(const unsigned char *buf, size_t len,
			    struct preamble *p)
{
	struct stream_header h;
	size_t config;
	char why[128];

	if (len < STREAM_HEADER_V1_SIZE)
		return more(p, STREAM_HEADER_V1_SIZE);
	/* Every revision's header starts with revision 1's 64 bytes. */
	memset(&h, 0, sizeof(h));
	memcpy(&h, buf, STREAM_HEADER_V1_SIZE);
	if (!header_sane(&h, p))
		return;
	config = h.config_len <= PREAMBLE_CONFIG_PEEK ? h.config_len : 0;
	if (len < h.header_size + config)
		return more(p, h.header_size + config);
	memcpy(&h, buf, h.header_size < sizeof(h) ? h.header_size : sizeof(h));
	p->version = h.version;
	p->mem_bytes = h.mem_bytes;
	/* A revision this godwit reads: check it whole (the CRC if it can). */
	if (stream_header_size(h.version) == h.header_size) {
		if (config ? stream_header_check(
				     &h, (const char *)buf + h.header_size, why,
				     sizeof(why)) :
			     stream_header_check_fixed(&h, why, sizeof(why)))
			return bad(p, "%s", why);
		p->crc_checked = config != 0;
	}
	p->kind = PREAMBLE_STREAM;
}

static void classify_handover(const unsigned char *buf, size_t len,
			      struct preamble *p)
{
	struct handover_msg m;
	char why[128];

	if (len < sizeof(m))
		return more(p, sizeof(m));
	memcpy(&m, buf, sizeof(m));
	if (handover_msg_check(&m, why, sizeof(why)))
		return bad(p, "%s", why);
	if (m.type != HANDOVER_QUERY)
		return bad(
			p,
			"handover message %u where a stream or a QUERY must start",
			m.type);
	p->kind = PREAMBLE_QUERY;
	p->arrival_id = m.value;
}

void preamble_classify(const void *buf, size_t len, struct preamble *out)
{
	const unsigned char *b = buf;
	size_t n = len < STREAM_MAGIC_LEN ? len : STREAM_MAGIC_LEN;

	memset(out, 0, sizeof(*out));
	if (!memcmp(b, STREAM_MAGIC, n)) {
		if (len < STREAM_MAGIC_LEN)
			return more(out, STREAM_MAGIC_LEN);
		out->stream = true;
		return classify_stream(b, len, out);
	}
	n = len < sizeof(handover_magic) ? len : sizeof(handover_magic);
	if (!memcmp(b, handover_magic, n)) {
		if (len < sizeof(handover_magic))
			return more(out, sizeof(handover_magic));
		return classify_handover(b, len, out);
	}
	bad(out, "not a godwit migration stream (bad magic)");
}
