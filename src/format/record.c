/*
 * Stream structure validation. Every check names the field and the value
 * that was wrong; callers add the record type and byte offset. Bodies are
 * validated structurally here (sizes, counts, reserved fields, ranges);
 * device models validate the meaning of their own state.
 */
#include "format/record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "format/postcopy.h"
#include "common/ram_layout.h"
#include "common/why.h"

const char *rec_type_name(uint32_t type)
{
	switch (type) {
	case REC_END:
		return "END";
	case REC_PAGE_DATA:
		return "PAGE_DATA";
	case REC_VCPU_REGS:
		return "VCPU_REGS";
	case REC_VCPU_SREGS:
		return "VCPU_SREGS";
	case REC_VCPU_XSAVE:
		return "VCPU_XSAVE";
	case REC_VCPU_XCRS:
		return "VCPU_XCRS";
	case REC_VCPU_MSRS:
		return "VCPU_MSRS";
	case REC_VCPU_LAPIC:
		return "VCPU_LAPIC";
	case REC_VCPU_EVENTS:
		return "VCPU_EVENTS";
	case REC_VCPU_MP_STATE:
		return "VCPU_MP_STATE";
	case REC_VCPU_DEBUGREGS:
		return "VCPU_DEBUGREGS";
	case REC_IRQCHIP:
		return "IRQCHIP";
	case REC_PIT:
		return "PIT";
	case REC_CLOCK:
		return "CLOCK";
	case REC_DEVICE:
		return "DEVICE";
	case REC_POSTCOPY:
		return "POSTCOPY";
	case REC_ROUND:
		return "ROUND";
	case REC_SAVE_INFO:
		return "SAVE_INFO";
	case REC_PADDING:
		return "PADDING";
	default:
		return (type & REC_OPTIONAL) ? "unknown optional" : "unknown";
	}
}

uint32_t stream_header_size(uint32_t version)
{
	switch (version) {
	case 1:
		return STREAM_HEADER_V1_SIZE;
	case 2:
		return sizeof(struct stream_header);
	default:
		return 0;
	}
}

/* Over the header's own size: a revision 1 header has no stream_id. */
static uint32_t header_crc(const struct stream_header *h, const char *config)
{
	struct stream_header tmp = *h;
	uint32_t crc;

	tmp.header_crc = 0;
	crc = crc32c(0, &tmp, stream_header_size(h->version));
	return crc32c(crc, config, h->config_len);
}

void stream_header_seal(struct stream_header *h, const char *config)
{
	h->header_crc = header_crc(h, config);
}

void stream_header_init(struct stream_header *h, uint32_t flags,
			uint64_t mem_bytes, uint32_t nr_vcpus,
			const char vendor[12], uint32_t cpuid_digest,
			const uint8_t stream_id[STREAM_ID_LEN],
			const char *config, uint32_t config_len)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, STREAM_MAGIC, STREAM_MAGIC_LEN);
	h->version = STREAM_VERSION;
	h->flags = flags;
	h->header_size = sizeof(*h);
	h->config_len = config_len;
	h->mem_bytes = mem_bytes;
	h->nr_vcpus = nr_vcpus;
	h->page_size = STREAM_PAGE_SIZE;
	memcpy(h->cpu_vendor, vendor, sizeof(h->cpu_vendor));
	h->cpuid_digest = cpuid_digest;
	memcpy(h->stream_id, stream_id, STREAM_ID_LEN);
	stream_header_seal(h, config);
}

int stream_header_check_fixed(const struct stream_header *h, char *why,
			      size_t whylen)
{
	if (memcmp(h->magic, STREAM_MAGIC, STREAM_MAGIC_LEN))
		return why_set(why, whylen, -EINVAL,
			       "bad magic: not a godwit stream");
	if (!stream_header_size(h->version))
		return why_set(
			why, whylen, -EINVAL,
			"stream version %u is not supported (this godwit reads versions %u to %u)",
			h->version, STREAM_VERSION_MIN, STREAM_VERSION);
	if (h->header_size != stream_header_size(h->version))
		return why_set(why, whylen, -EINVAL,
			       "header_size %u, expected %u for version %u",
			       h->header_size, stream_header_size(h->version),
			       h->version);
	if (h->flags & ~STREAM_F_KNOWN)
		return why_set(why, whylen, -EINVAL, "unknown flags 0x%x",
			       h->flags & ~STREAM_F_KNOWN);
	if (!h->config_len || h->config_len > STREAM_CONFIG_MAX)
		return why_set(why, whylen, -EINVAL,
			       "config_len %u is out of range (1..%u)",
			       h->config_len, STREAM_CONFIG_MAX);
	if (!h->mem_bytes || h->mem_bytes % (2ULL << 20) ||
	    h->mem_bytes > (1ULL << 46))
		return why_set(why, whylen, -EINVAL,
			       "mem_bytes %llu is not a valid RAM size",
			       (unsigned long long)h->mem_bytes);
	if (!h->nr_vcpus || h->nr_vcpus > STREAM_MAX_VCPUS)
		return why_set(why, whylen, -EINVAL,
			       "nr_vcpus %u is out of range (1..%u)",
			       h->nr_vcpus, STREAM_MAX_VCPUS);
	if (h->page_size != STREAM_PAGE_SIZE)
		return why_set(why, whylen, -EINVAL,
			       "page_size %u, expected %u", h->page_size,
			       STREAM_PAGE_SIZE);
	if (h->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	return 0;
}

int stream_header_check(const struct stream_header *h, const char *config,
			char *why, size_t whylen)
{
	int rc = stream_header_check_fixed(h, why, whylen);

	if (rc)
		return rc;
	if (header_crc(h, config) != h->header_crc)
		return why_set(why, whylen, -EINVAL,
			       "header CRC mismatch (stream corrupted)");
	if (memchr(config, 0, h->config_len))
		return why_set(why, whylen, -EINVAL,
			       "config text contains a NUL byte");
	return 0;
}

uint32_t rec_crc_begin(uint32_t version, uint32_t chain,
		       const struct rec_hdr *h)
{
	uint32_t tls[3] = { h->type, h->length, h->seq };

	if (version == 1)
		return crc32c(0, tls, 8);
	return crc32c(chain, tls, sizeof(tls));
}

void rec_hdr_init(struct rec_hdr *h, uint32_t type, uint32_t length,
		  uint32_t crc, uint32_t seq)
{
	*h = (struct rec_hdr){
		.type = type, .length = length, .crc = crc, .seq = seq
	};
}

bool rec_type_known(uint32_t type)
{
	return type <= REC_DEVICE || type == REC_POSTCOPY ||
	       type == REC_ROUND || type == REC_SAVE_INFO ||
	       type == REC_PADDING;
}

int rec_hdr_check(const struct rec_hdr *h, uint32_t version, uint32_t seq,
		  char *why, size_t whylen)
{
	if (h->length > REC_MAX_LENGTH)
		return why_set(why, whylen, -EINVAL,
			       "length %u exceeds the maximum %u", h->length,
			       REC_MAX_LENGTH);
	if (version == 1 && h->seq)
		return why_set(why, whylen, -EINVAL,
			       "reserved header field is 0x%x, not zero",
			       h->seq);
	if (h->seq != seq)
		return why_set(
			why, whylen, -EINVAL,
			"sequence number %u, expected %u: a record before it is missing, or this one is repeated, out of order or from another stream",
			h->seq, seq);
	if (!rec_type_known(h->type) && !(h->type & REC_OPTIONAL))
		return why_set(why, whylen, -EINVAL,
			       "unknown mandatory record type 0x%x", h->type);
	return 0;
}

int rec_page_data_check(const void *prefix, size_t prefix_len, uint32_t len,
			const struct rec_limits *lim, uint32_t *data_pages_out,
			char *why, size_t whylen)
{
	const struct rec_page_data *p = prefix;
	const uint8_t *entries = (const uint8_t *)prefix + sizeof(*p);
	uint32_t i, normal = 0;
	uint64_t want;

	if (prefix_len < sizeof(*p) || len < sizeof(*p))
		return why_set(why, whylen, -EINVAL,
			       "body of %u bytes is too short for a batch",
			       len);
	if (!p->count || p->count > PAGE_BATCH_MAX)
		return why_set(why, whylen, -EINVAL,
			       "count %u is out of range (1..%u)", p->count,
			       PAGE_BATCH_MAX);
	if (p->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	if (prefix_len < sizeof(*p) + 8ULL * p->count)
		return why_set(why, whylen, -EINVAL,
			       "pfn list of %u entries is truncated", p->count);
	for (i = 0; i < p->count; i++) {
		uint64_t e, pfn, type;

		memcpy(&e, entries + 8ULL * i, 8);
		pfn = e & PFN_MASK;
		type = (e & PFN_TYPE_MASK) >> PFN_TYPE_SHIFT;
		if (e & ~(PFN_MASK | PFN_TYPE_MASK))
			return why_set(why, whylen, -EINVAL,
				       "entry %u: reserved bits set in 0x%llx",
				       i, (unsigned long long)e);
		if (type != PFN_TYPE_NORMAL && type != PFN_TYPE_ZERO)
			return why_set(why, whylen, -EINVAL,
				       "entry %u: unknown page type %llu", i,
				       (unsigned long long)type);
		if (!ram_layout_pfn_is_ram(lim->mem_bytes, pfn))
			return why_set(
				why, whylen, -EINVAL,
				"entry %u: pfn 0x%llx is beyond guest memory (%llu MiB)",
				i, (unsigned long long)pfn,
				(unsigned long long)(lim->mem_bytes >> 20));
		normal += type == PFN_TYPE_NORMAL;
	}
	want = sizeof(*p) + 8ULL * p->count +
	       (uint64_t)STREAM_PAGE_SIZE * normal;
	if (want != len)
		return why_set(
			why, whylen, -EINVAL,
			"length %u does not match %u entries with %u data pages (%llu bytes)",
			len, p->count, normal, (unsigned long long)want);
	*data_pages_out = normal;
	return 0;
}

static int check_vcpu_hdr(const void *body, uint32_t len, size_t fixed,
			  const struct rec_limits *lim, char *why,
			  size_t whylen)
{
	const struct rec_vcpu_hdr *v = body;

	if (len < sizeof(*v))
		return why_set(why, whylen, -EINVAL,
			       "body of %u bytes is too short", len);
	if (v->vcpu >= lim->nr_vcpus)
		return why_set(why, whylen, -EINVAL,
			       "vcpu %u does not exist (the VM has %u)",
			       v->vcpu, lim->nr_vcpus);
	if (fixed && len != fixed)
		return why_set(why, whylen, -EINVAL, "length %u, expected %zu",
			       len, fixed);
	return 0;
}

static int check_fixed_vcpu(uint32_t type, const void *body, uint32_t len,
			    const struct rec_limits *lim, char *why,
			    size_t whylen)
{
	static const struct {
		uint32_t type;
		size_t size;
	} sizes[] = {
		{ REC_VCPU_REGS, sizeof(struct rec_vcpu_regs) },
		{ REC_VCPU_SREGS, sizeof(struct rec_vcpu_sregs) },
		{ REC_VCPU_XCRS, sizeof(struct rec_vcpu_xcrs) },
		{ REC_VCPU_LAPIC, sizeof(struct rec_vcpu_lapic) },
		{ REC_VCPU_EVENTS, sizeof(struct rec_vcpu_events) },
		{ REC_VCPU_MP_STATE, sizeof(struct rec_vcpu_mp_state) },
		{ REC_VCPU_DEBUGREGS, sizeof(struct rec_vcpu_debugregs) },
	};
	const struct rec_vcpu_hdr *v = body;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		if (sizes[i].type == type)
			break;
	rc = check_vcpu_hdr(body, len, sizes[i].size, lim, why, whylen);
	if (rc)
		return rc;
	if (type == REC_VCPU_MP_STATE && v->arg > MP_STATE_MAX_KNOWN)
		return why_set(why, whylen, -EINVAL, "mp_state %u is unknown",
			       v->arg);
	if (type != REC_VCPU_MP_STATE && v->arg)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	return 0;
}

static int check_xsave(const void *body, uint32_t len,
		       const struct rec_limits *lim, char *why, size_t whylen)
{
	const struct rec_vcpu_hdr *v = body;
	int rc = check_vcpu_hdr(body, len, 0, lim, why, whylen);

	if (rc)
		return rc;
	if (v->arg < XSAVE_MIN || v->arg > XSAVE_MAX || v->arg % 64)
		return why_set(
			why, whylen, -EINVAL,
			"XSAVE size %u is invalid (%u..%u, multiple of 64)",
			v->arg, XSAVE_MIN, XSAVE_MAX);
	if (len != sizeof(*v) + v->arg)
		return why_set(why, whylen, -EINVAL,
			       "length %u does not match XSAVE size %u", len,
			       v->arg);
	return 0;
}

static int check_msrs(const void *body, uint32_t len,
		      const struct rec_limits *lim, char *why, size_t whylen)
{
	const struct rec_vcpu_msrs *m = body;
	uint32_t i;
	int rc = check_vcpu_hdr(body, len, 0, lim, why, whylen);

	if (rc)
		return rc;
	if (!m->h.arg || m->h.arg > MSR_MAX)
		return why_set(why, whylen, -EINVAL,
			       "MSR count %u is out of range (1..%u)", m->h.arg,
			       MSR_MAX);
	if (len != sizeof(m->h) + (uint64_t)m->h.arg * sizeof(struct rec_msr))
		return why_set(why, whylen, -EINVAL,
			       "length %u does not match %u MSRs", len,
			       m->h.arg);
	for (i = 0; i < m->h.arg; i++)
		if (m->msr[i].reserved)
			return why_set(
				why, whylen, -EINVAL,
				"MSR entry %u: reserved field is not zero", i);
	return 0;
}

static int check_irqchip(const void *body, uint32_t len, char *why,
			 size_t whylen)
{
	const struct rec_irqchip *c = body;

	if (len != sizeof(*c))
		return why_set(why, whylen, -EINVAL, "length %u, expected %zu",
			       len, sizeof(*c));
	if (c->chip_id >= IRQCHIP_COUNT)
		return why_set(why, whylen, -EINVAL,
			       "chip %u is unknown (0..%u)", c->chip_id,
			       IRQCHIP_COUNT - 1);
	if (c->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	return 0;
}

static int check_device(const void *body, uint32_t len, char *why,
			size_t whylen)
{
	const struct rec_device *d = body;

	if (len < sizeof(*d))
		return why_set(why, whylen, -EINVAL,
			       "body of %u bytes is too short", len);
	if (!d->id[0] || memchr(d->id, 0, DEVICE_ID_LEN) == NULL)
		return why_set(why, whylen, -EINVAL,
			       "device id is empty or not NUL-terminated");
	if (d->length > DEVICE_STATE_MAX || len != sizeof(*d) + d->length)
		return why_set(
			why, whylen, -EINVAL,
			"state length %u does not match the body (%u bytes)",
			d->length, len);
	return 0;
}

static int check_exact(const void *body, uint32_t len, size_t size,
		       size_t reserved_off, char *why, size_t whylen)
{
	uint32_t r;

	if (len != size)
		return why_set(why, whylen, -EINVAL, "length %u, expected %zu",
			       len, size);
	if (reserved_off) {
		memcpy(&r, (const char *)body + reserved_off, 4);
		if (r)
			return why_set(why, whylen, -EINVAL,
				       "reserved field is not zero");
	}
	return 0;
}

static int check_padding(const void *body, uint32_t len, char *why,
			 size_t whylen)
{
	const uint8_t *p = body;
	uint32_t i;

	if (len > PADDING_MAX)
		return why_set(why, whylen, -EINVAL, "length %u exceeds %u",
			       len, PADDING_MAX);
	for (i = 0; i < len; i++)
		if (p[i])
			return why_set(why, whylen, -EINVAL,
				       "byte %u is not zero", i);
	return 0;
}

static int check_end(const void *body, uint32_t len,
		     const struct rec_limits *lim, char *why, size_t whylen)
{
	if (lim->version == 1)
		return len ? why_set(why, whylen, -EINVAL,
				     "END has a body of %u bytes", len) :
			     0;
	return check_exact(body, len, sizeof(struct rec_end),
			   offsetof(struct rec_end, reserved), why, whylen);
}

int rec_end_check(const struct rec_end *e, uint64_t records, uint64_t bytes,
		  uint32_t digest, char *why, size_t whylen)
{
	if (e->records != records)
		return why_set(why, whylen, -EINVAL,
			       "END counts %llu records, the stream had %llu",
			       (unsigned long long)e->records,
			       (unsigned long long)records);
	if (e->bytes != bytes)
		return why_set(why, whylen, -EINVAL,
			       "END counts %llu bytes, the stream had %llu",
			       (unsigned long long)e->bytes,
			       (unsigned long long)bytes);
	if (e->digest != digest)
		return why_set(
			why, whylen, -EINVAL,
			"stream digest 0x%08x, END says 0x%08x: END is from another stream",
			digest, e->digest);
	return 0;
}

int rec_body_check(uint32_t type, const void *body, uint32_t len,
		   const struct rec_limits *lim, char *why, size_t whylen)
{
	switch (type) {
	case REC_END:
		return check_end(body, len, lim, why, whylen);
	case REC_VCPU_REGS:
	case REC_VCPU_SREGS:
	case REC_VCPU_XCRS:
	case REC_VCPU_LAPIC:
	case REC_VCPU_EVENTS:
	case REC_VCPU_MP_STATE:
	case REC_VCPU_DEBUGREGS:
		return check_fixed_vcpu(type, body, len, lim, why, whylen);
	case REC_VCPU_XSAVE:
		return check_xsave(body, len, lim, why, whylen);
	case REC_VCPU_MSRS:
		return check_msrs(body, len, lim, why, whylen);
	case REC_IRQCHIP:
		return check_irqchip(body, len, why, whylen);
	case REC_PIT:
		return check_exact(body, len, sizeof(struct rec_pit), 0, why,
				   whylen);
	case REC_CLOCK:
		return check_exact(body, len, sizeof(struct rec_clock),
				   offsetof(struct rec_clock, reserved), why,
				   whylen);
	case REC_DEVICE:
		return check_device(body, len, why, whylen);
	case REC_POSTCOPY:
		return rec_postcopy_check(body, len, lim, why, whylen);
	case REC_ROUND:
		return check_exact(body, len, sizeof(struct rec_round),
				   offsetof(struct rec_round, reserved), why,
				   whylen);
	case REC_SAVE_INFO:
		return check_exact(body, len, sizeof(struct rec_save_info), 0,
				   why, whylen);
	case REC_PADDING:
		return check_padding(body, len, why, whylen);
	case REC_PAGE_DATA:
		return why_set(why, whylen, -EINVAL,
			       "PAGE_DATA is checked with rec_page_data_check");
	default:
		return 0; /* unknown optional record: skipped */
	}
}

void handover_msg_init(struct handover_msg *m, uint32_t type, uint64_t time_ns,
		       uint64_t value, int error, const char *text)
{
	memset(m, 0, sizeof(*m));
	m->magic = HANDOVER_MAGIC;
	m->type = type;
	m->time_ns = time_ns;
	m->value = value;
	m->error = error;
	if (text)
		snprintf(m->text, sizeof(m->text), "%s", text);
	m->crc = crc32c(0, m, sizeof(*m));
}

void handover_msg_outcome_init(struct handover_msg *m, uint64_t time_ns,
			       uint64_t arrival_id, uint32_t outcome)
{
	handover_msg_init(m, HANDOVER_OUTCOME, time_ns, arrival_id, 0, NULL);
	m->arg = outcome;
	m->crc = 0;
	m->crc = crc32c(0, m, sizeof(*m));
}

int handover_msg_check(const struct handover_msg *m, char *why, size_t whylen)
{
	struct handover_msg tmp = *m;

	tmp.crc = 0;
	if (m->magic != HANDOVER_MAGIC)
		return why_set(why, whylen, -EINVAL,
			       "handover message has bad magic 0x%x", m->magic);
	if (crc32c(0, &tmp, sizeof(tmp)) != m->crc)
		return why_set(why, whylen, -EINVAL,
			       "handover message CRC mismatch");
	if (m->type < HANDOVER_RECEIVED || m->type > HANDOVER_OUTCOME)
		return why_set(why, whylen, -EINVAL,
			       "handover message type %u is unknown", m->type);
	if (m->reserved2)
		return why_set(why, whylen, -EINVAL,
			       "handover message reserved field is not zero");
	if (m->type == HANDOVER_OUTCOME ?
		    m->arg < HANDOVER_OUTCOME_RUNNING ||
			    m->arg > HANDOVER_OUTCOME_UNKNOWN :
		    m->arg != 0)
		return why_set(why, whylen, -EINVAL,
			       "handover message %u has a bad outcome %u",
			       m->type, m->arg);
	if (m->type != HANDOVER_FAILED && m->error)
		return why_set(why, whylen, -EINVAL,
			       "handover message %u carries an error code",
			       m->type);
	if ((m->type == HANDOVER_CONFIRMED || m->type == HANDOVER_FAILED) &&
	    m->value)
		return why_set(why, whylen, -EINVAL,
			       "handover message %u carries a value", m->type);
	if (!memchr(m->text, 0, sizeof(m->text)))
		return why_set(why, whylen, -EINVAL,
			       "handover message text is not NUL-terminated");
	return 0;
}
