/*
 * The lease interface (lease.h): the set of a VM's leases and the calls
 * that hand each one to its engine. A set without an engine (lock
 * manager "none") takes nothing and refuses nothing.
 */
#include "lease/lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/why.h"

int lease_engine_find(const char *name, const struct lease_engine **out,
		      char *why, size_t whylen)
{
	*out = NULL;
	if (!strcmp(name, "none"))
		return 0;
	if (!strcmp(name, "file")) {
		*out = &lease_file_engine;
		return 0;
	}
	if (!strcmp(name, "sanlock"))
		return why_set(
			why, whylen, -ENOTSUP,
			"lock_manager \"sanlock\": sanlock engine not built yet");
	return why_set(why, whylen, -EINVAL,
		       "lock_manager \"%s\": expected \"file\" or \"none\"",
		       name);
}

void lease_set_init(struct lease_set *s, const struct lease_engine *engine,
		    const char *dir, const struct lease_owner *owner)
{
	memset(s, 0, sizeof(*s));
	s->engine = engine;
	snprintf(s->dir, sizeof(s->dir), "%s",
		 dir && dir[0] ? dir : LEASE_DIR_DEFAULT);
	s->owner = *owner;
}

void lease_owner_self(struct lease_owner *o, const uint8_t uuid[16])
{
	memset(o, 0, sizeof(*o));
	if (gethostname(o->host, sizeof(o->host) - 1))
		snprintf(o->host, sizeof(o->host), "?");
	memcpy(o->uuid, uuid, sizeof(o->uuid));
	o->pid = (uint32_t)getpid();
}

static bool printable(const char *r)
{
	for (; *r; r++)
		if ((unsigned char)*r < 0x20 || (unsigned char)*r > 0x7e)
			return false;
	return true;
}

int lease_add(struct lease_set *s, const char *label, const char *resource,
	      char *why, size_t whylen)
{
	struct lease *l, *dup = lease_find(s, resource);
	size_t n = strlen(resource);

	if (s->nr >= LEASE_SET_MAX)
		return why_set(why, whylen, -E2BIG, "%s: more than %u leases",
			       label, LEASE_SET_MAX);
	if (!n || n >= LEASE_RESOURCE_LEN)
		return why_set(
			why, whylen, -ENAMETOOLONG,
			"%s: lease resource is empty or longer than %u bytes",
			label, LEASE_RESOURCE_LEN - 1);
	if (!printable(resource))
		return why_set(why, whylen, -EINVAL,
			       "%s: lease resource is not printable ASCII",
			       label);
	if (dup)
		return why_set(why, whylen, -EEXIST,
			       "%s: %s is also the lease of %s", label,
			       resource, dup->label);
	l = &s->l[s->nr++];
	memset(l, 0, sizeof(*l));
	snprintf(l->label, sizeof(l->label), "%s", label);
	memcpy(l->resource, resource, n + 1);
	l->fd = -1;
	return 0;
}

int lease_resource_of_path(const char *path, char *out, size_t len)
{
	char *real = realpath(path, NULL);
	int rc = str_printf(out, len, "%s", real ? real : path);

	free(real);
	return rc;
}

struct lease *lease_find(struct lease_set *s, const char *resource)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->l[i].resource, resource))
			return &s->l[i];
	return NULL;
}

int lease_acquire(struct lease_set *s, struct lease *l, bool expect, char *why,
		  size_t whylen)
{
	int rc;

	if (l->held || !s->engine)
		return 0;
	rc = s->engine->acquire(s, l, expect, why, whylen);
	if (!rc && (rc = s->engine->sync(s, l, why, whylen)))
		s->engine->release(s, l);
	return rc;
}

void lease_release(struct lease_set *s, struct lease *l)
{
	if (l->held && s->engine)
		s->engine->release(s, l);
}

int lease_inquire(struct lease_set *s, const struct lease *l,
		  struct lease_holder *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (!s->engine)
		return 0;
	return s->engine->inquire(s, l, out, why, whylen);
}

/* One lease's sync, on a thread of its own. */
struct sync_job {
	struct lease_set *s;
	struct lease *l;
	pthread_t thread;
	bool started;
	int rc;
	char why[LEASE_WHY_MAX];
};

static void *sync_thread(void *opaque)
{
	struct sync_job *j = opaque;

	j->rc = j->s->engine->sync(j->s, j->l, j->why, sizeof(j->why));
	return NULL;
}

/*
 * Sync every lease taken[] at once: each flush waits for the storage
 * (a journal commit, an NFS round trip), and overlapping them costs
 * about one. A thread that cannot start syncs inline.
 */
static int sync_all(struct lease_set *s, const bool *taken, char *why,
		    size_t whylen)
{
	struct sync_job j[LEASE_SET_MAX];
	unsigned int i;
	int rc = 0;

	for (i = 0; i < s->nr; i++) {
		j[i] = (struct sync_job){ .s = s, .l = &s->l[i] };
		if (taken[i])
			j[i].started = !pthread_create(&j[i].thread, NULL,
						       sync_thread, &j[i]);
		if (taken[i] && !j[i].started)
			sync_thread(&j[i]);
	}
	for (i = 0; i < s->nr; i++) {
		if (j[i].started)
			pthread_join(j[i].thread, NULL);
		if (taken[i] && j[i].rc && !rc)
			rc = why_set(why, whylen, j[i].rc, "%s", j[i].why);
	}
	return rc;
}

int lease_acquire_all(struct lease_set *s, bool expect, char *why,
		      size_t whylen)
{
	bool took[LEASE_SET_MAX] = { false };
	unsigned int i;
	int rc = 0;

	if (!s->engine)
		return 0;
	for (i = 0; i < s->nr && !rc; i++) {
		if (s->l[i].held)
			continue;
		rc = s->engine->acquire(
			s, &s->l[i], expect && s->l[i].generation, why, whylen);
		took[i] = !rc;
	}
	if (!rc)
		rc = sync_all(s, took, why, whylen);
	for (i = 0; rc && i < s->nr; i++)
		if (took[i])
			lease_release(s, &s->l[i]);
	return rc;
}

void lease_release_all(struct lease_set *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		lease_release(s, &s->l[i]);
}

bool lease_any_held(const struct lease_set *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (s->l[i].held)
			return true;
	return false;
}

void lease_holder_text(const struct lease_holder *h, char *buf, size_t len)
{
	const uint8_t *u = h->owner.uuid;

	if (!h->known) {
		snprintf(buf, len, "another process");
		return;
	}
	snprintf(
		buf, len,
		"VM %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x (pid %u on host %s, generation %llu)",
		u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		u[10], u[11], u[12], u[13], u[14], u[15], h->owner.pid,
		h->owner.host, (unsigned long long)h->generation);
}

int lease_state(const struct lease_set *s, const struct lease *l, char *buf,
		size_t len)
{
	return str_printf(buf, len, "%s:%s:%llu",
			  s->engine ? s->engine->name : "none", l->resource,
			  (unsigned long long)l->generation);
}
