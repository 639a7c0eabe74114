/*
 * Post-copy's wire structures, encoded and checked (postcopy.h). Every
 * count and length is bounded by the VM's size before anything is
 * allocated or read after it.
 */
#include "format/postcopy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/why.h"

/* No bit at or past nr in the map of words words; the set bits counted. */
static int map_check(const uint64_t *map, uint64_t words, uint64_t nr,
		     uint64_t *count_out, char *why, size_t whylen)
{
	uint64_t i, n = 0, w;

	for (i = 0; i < words; i++) {
		memcpy(&w, &map[i], 8);
		if (i == words - 1 && nr % 64 && (w >> (nr % 64)))
			return why_set(
				why, whylen, -EINVAL,
				"region map names regions past the %llu of guest RAM",
				(unsigned long long)nr);
		n += __builtin_popcountll(w);
	}
	*count_out = n;
	return 0;
}

int rec_postcopy_check(const void *body, uint32_t len,
		       const struct rec_limits *lim, char *why, size_t whylen)
{
	const struct rec_postcopy *p = body;
	uint64_t nr = postcopy_nr_regions(lim->mem_bytes), count;
	uint64_t words = postcopy_map_words(nr);

	if (len < sizeof(*p))
		return why_set(why, whylen, -EINVAL,
			       "length %u is too short for POSTCOPY", len);
	if (p->region_pages != POSTCOPY_REGION_PAGES)
		return why_set(why, whylen, -EINVAL,
			       "region of %u pages, expected %u",
			       p->region_pages, POSTCOPY_REGION_PAGES);
	if (!p->port || p->reserved0)
		return why_set(why, whylen, -EINVAL,
			       "port 0, or reserved field not zero");
	if (p->nr_regions != nr)
		return why_set(why, whylen, -EINVAL,
			       "%llu regions, but guest RAM has %llu",
			       (unsigned long long)p->nr_regions,
			       (unsigned long long)nr);
	if (len != sizeof(*p) + 8 * words)
		return why_set(why, whylen, -EINVAL,
			       "length %u, expected %llu for %llu regions", len,
			       (unsigned long long)(sizeof(*p) + 8 * words),
			       (unsigned long long)nr);
	if (map_check((const uint64_t *)(p + 1), words, nr, &count, why,
		      whylen))
		return -EINVAL;
	if (count != p->pending)
		return why_set(why, whylen, -EINVAL,
			       "map has %llu regions set, the record says %llu",
			       (unsigned long long)count,
			       (unsigned long long)p->pending);
	return 0;
}

void postcopy_msg_init(struct postcopy_msg *m, uint32_t type, uint64_t region,
		       uint32_t arg, const void *data, uint32_t length)
{
	memset(m, 0, sizeof(*m));
	m->magic = POSTCOPY_MAGIC;
	m->type = type;
	m->region = region;
	m->arg = arg;
	m->length = length;
	m->data_crc = length ? crc32c(0, data, length) : 0;
	m->crc = crc32c(0, m, sizeof(*m));
}

const char *postcopy_type_name(uint32_t type)
{
	static const char *const names[] = { "unknown", "HELLO", "REQUEST",
					     "REGION",	"DONE",	 "COMPLETE",
					     "BYE" };

	return type < ARRAY_SIZE(names) ? names[type] : "unknown";
}

/* The length each type carries; -1 if it depends on the arg. */
static int hello_length_check(const struct postcopy_msg *m, uint64_t nr,
			      char *why, size_t whylen)
{
	uint64_t want = STREAM_ID_LEN;

	if (m->arg == POSTCOPY_ROLE_PAGES)
		want += 8 * postcopy_map_words(nr);
	else if (m->arg != POSTCOPY_ROLE_FAULTS)
		return why_set(why, whylen, -EINVAL,
			       "HELLO has an unknown role %u", m->arg);
	if (m->length != want)
		return why_set(why, whylen, -EINVAL,
			       "HELLO carries %u bytes, expected %llu",
			       m->length, (unsigned long long)want);
	return 0;
}

static int region_msg_check(const struct postcopy_msg *m, uint64_t nr,
			    char *why, size_t whylen)
{
	if (m->region >= nr)
		return why_set(why, whylen, -EINVAL,
			       "%s names region %llu of %llu",
			       postcopy_type_name(m->type),
			       (unsigned long long)m->region,
			       (unsigned long long)nr);
	if (m->type == POSTCOPY_REQUEST)
		return m->arg || m->length ? why_set(why, whylen, -EINVAL,
						     "REQUEST carries data") :
					     0;
	if (m->arg & ~POSTCOPY_F_ZERO)
		return why_set(why, whylen, -EINVAL,
			       "REGION has unknown flags 0x%x", m->arg);
	if (m->length !=
	    ((m->arg & POSTCOPY_F_ZERO) ? 0 : POSTCOPY_REGION_SIZE))
		return why_set(
			why, whylen, -EINVAL,
			"REGION carries %u bytes, expected %u", m->length,
			(m->arg & POSTCOPY_F_ZERO) ? 0 : POSTCOPY_REGION_SIZE);
	return 0;
}

int postcopy_msg_check(const struct postcopy_msg *m, uint64_t nr_regions,
		       char *why, size_t whylen)
{
	struct postcopy_msg tmp = *m;

	tmp.crc = 0;
	if (m->magic != POSTCOPY_MAGIC)
		return why_set(why, whylen, -EINVAL,
			       "post-copy message has bad magic 0x%x",
			       m->magic);
	if (crc32c(0, &tmp, sizeof(tmp)) != m->crc)
		return why_set(why, whylen, -EINVAL,
			       "post-copy message CRC mismatch");
	if (!m->length && m->data_crc)
		return why_set(why, whylen, -EINVAL,
			       "post-copy message has a data CRC but no data");
	switch (m->type) {
	case POSTCOPY_HELLO:
		return m->region ?
			       why_set(why, whylen, -EINVAL,
				       "HELLO names a region") :
			       hello_length_check(m, nr_regions, why, whylen);
	case POSTCOPY_REQUEST:
	case POSTCOPY_REGION:
		return region_msg_check(m, nr_regions, why, whylen);
	case POSTCOPY_DONE:
	case POSTCOPY_COMPLETE:
	case POSTCOPY_BYE:
		if (m->region || m->arg || m->length)
			return why_set(why, whylen, -EINVAL,
				       "%s carries a region, flags or data",
				       postcopy_type_name(m->type));
		return 0;
	default:
		return why_set(why, whylen, -EINVAL,
			       "post-copy message type %u is unknown", m->type);
	}
}

int postcopy_data_check(const struct postcopy_msg *m, const void *data,
			char *why, size_t whylen)
{
	if (crc32c(0, data, m->length) != m->data_crc)
		return why_set(why, whylen, -EINVAL,
			       "%s data CRC mismatch (region %llu)",
			       postcopy_type_name(m->type),
			       (unsigned long long)m->region);
	return 0;
}

int postcopy_hello_check(const struct postcopy_msg *m, const void *data,
			 const uint8_t stream_id[STREAM_ID_LEN],
			 uint64_t nr_regions, char *why, size_t whylen)
{
	uint64_t count;

	if (memcmp(data, stream_id, STREAM_ID_LEN))
		return why_set(why, whylen, -EINVAL,
			       "HELLO is for another migration (stream id)");
	if (m->arg != POSTCOPY_ROLE_PAGES)
		return 0;
	return map_check(
		(const uint64_t *)((const uint8_t *)data + STREAM_ID_LEN),
		postcopy_map_words(nr_regions), nr_regions, &count, why,
		whylen);
}
