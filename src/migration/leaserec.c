/* LEASE records in and out of a stream (leaserec.h). */
#include "migration/leaserec.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "common/why.h"
#include "migration/recio.h"

int leaserec_write(struct stream *s, const struct leaserec_set *set)
{
	unsigned int i;

	for (i = 0; i < set->nr && !s->error; i++) {
		const struct leaserec *l = &set->l[i];
		struct rec_lease r = { .generation = l->generation };
		struct iovec iov[2];

		strncpy(r.engine, l->engine, sizeof(r.engine) - 1);
		r.resource_len = strnlen(l->resource, sizeof(l->resource));
		iov[0] = (struct iovec){ &r, sizeof(r) };
		iov[1] = (struct iovec){ (void *)l->resource, r.resource_len };
		rec_write(s, REC_LEASE, iov, 2);
	}
	return s->error;
}

const struct leaserec *leaserec_find(const struct leaserec_set *set,
				     const char *resource)
{
	unsigned int i;

	for (i = 0; i < set->nr; i++)
		if (!strcmp(set->l[i].resource, resource))
			return &set->l[i];
	return NULL;
}

int leaserec_add(struct leaserec_set *set, const void *body, uint32_t len,
		 char *why, size_t whylen)
{
	const struct rec_lease *r = body;
	struct leaserec *l;

	if (set->nr >= LEASEREC_MAX)
		return why_set(why, whylen, -EINVAL,
			       "more than %u LEASE records", LEASEREC_MAX);
	l = &set->l[set->nr];
	memset(l, 0, sizeof(*l));
	memcpy(l->engine, r->engine, sizeof(r->engine) - 1);
	memcpy(l->resource, r->resource, len - sizeof(*r));
	l->generation = r->generation;
	if (leaserec_find(set, l->resource))
		return why_set(why, whylen, -EINVAL,
			       "a second LEASE record for %s", l->resource);
	set->nr++;
	return 0;
}
