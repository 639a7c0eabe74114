/*
 * The VM's leases (leases.h): which resources, and the monitor's calls
 * at start, pause, resume and restore. The engine and the lease
 * directory come from the domain config, else from the host (godwitd's
 * --lock-manager and --lease-dir, which it passes to every VMM).
 */
#include "monitor/leases.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/why.h"
#include "monitor/internal.h"

static const char *engine_name(const struct monitor *m)
{
	if (m->cfg.lock_manager == DOMAIN_LOCK_DEFAULT)
		return m->opts->lock_manager;
	return domain_config_lock_manager_name(m->cfg.lock_manager);
}

/* A writable disk's lease: its image, where it resolves. */
static int add_disk(struct lease_set *s, const struct domain_disk *d, char *why,
		    size_t whylen)
{
	char label[LEASE_LABEL_MAX], res[LEASE_RESOURCE_LEN];

	snprintf(label, sizeof(label), "disk %s", d->vdev);
	if (lease_resource_of_path(d->target, res, sizeof(res)))
		return why_set(why, whylen, -ENAMETOOLONG,
			       "%s: %s: path too long for a lease", label,
			       d->target);
	return lease_add(s, label, res, why, whylen);
}

static int add_all(struct monitor *m, char *why, size_t whylen)
{
	struct lease_set *s = &m->leases.set;
	char label[LEASE_LABEL_MAX];
	unsigned int i;
	int rc = 0;

	for (i = 0; i < m->cfg.nr_disks && !rc; i++)
		if (!m->cfg.disks[i].readonly)
			rc = add_disk(s, &m->cfg.disks[i], why, whylen);
	for (i = 0; i < m->cfg.nr_leases && !rc; i++) {
		snprintf(label, sizeof(label), "lease %s", m->cfg.leases[i]);
		rc = lease_add(s, label, m->cfg.leases[i], why, whylen);
	}
	return rc;
}

/* Refuse early, before any disk opens, what we could not acquire. */
static int check_free(struct monitor *m, char *why, size_t whylen)
{
	struct lease_set *s = &m->leases.set;
	struct lease_holder h;
	char who[200];
	unsigned int i;
	int rc;

	for (i = 0; i < s->nr; i++) {
		rc = lease_inquire(s, &s->l[i], &h, why, whylen);
		if (rc)
			return rc;
		if (!h.held)
			continue;
		lease_holder_text(&h, who, sizeof(who));
		return why_set(why, whylen, -EBUSY, "%s: %s is in use by %s",
			       s->l[i].label, s->l[i].resource, who);
	}
	return 0;
}

int monitor_leases_setup(struct monitor *m, char *why, size_t whylen)
{
	struct monitor_leases *ml = &m->leases;
	const struct lease_engine *e;
	struct lease_owner o;
	int rc;

	rc = lease_engine_find(engine_name(m), &e, why, whylen);
	if (rc)
		return rc;
	lease_owner_self(&o, m->cfg.uuid);
	lease_set_init(&ml->set, e,
		       m->cfg.lease_dir[0] ? m->cfg.lease_dir :
					     m->opts->lease_dir,
		       &o);
	ml->ready = true;
	if (!e)
		return 0; /* "none": nothing to hold */
	rc = add_all(m, why, whylen);
	/* A migration's source holds them until its final pause. */
	if (!rc && !m->incoming.migration)
		rc = check_free(m, why, whylen);
	return rc;
}

int monitor_leases_acquire(struct monitor *m, char *why, size_t whylen)
{
	struct lease_set *s = &m->leases.set;
	char state[LEASE_RESOURCE_LEN + 48];
	unsigned int i;
	int rc;

	if (!m->leases.ready || lease_any_held(s))
		return 0;
	rc = lease_acquire_all(s, true, why, whylen);
	for (i = 0; !rc && i < s->nr; i++)
		if (!lease_state(s, &s->l[i], state, sizeof(state)))
			log_info("vm %s: %s: lease %s", m->cfg.name,
				 s->l[i].label, state);
	return rc;
}

void monitor_leases_release(struct monitor *m)
{
	if (m->leases.ready)
		lease_release_all(&m->leases.set);
}

void monitor_leases_paused(struct monitor *m)
{
	if (!m->save && !m->mig)
		monitor_leases_release(m);
}

int monitor_leases_resume(struct monitor *m, struct rpc_reply *reply)
{
	char why[LEASE_WHY_MAX];
	int rc;

	if (m->save || m->mig)
		return 0;
	rc = monitor_leases_acquire(m, why, sizeof(why));
	if (rc) {
		log_err("vm %s: %s; the VM stays paused", m->cfg.name, why);
		rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	}
	return rc;
}

bool monitor_leases_back(struct monitor *m)
{
	char why[LEASE_WHY_MAX];

	if (m->user_paused) {
		monitor_leases_release(m);
		return true;
	}
	if (!monitor_leases_acquire(m, why, sizeof(why)))
		return true;
	log_err("vm %s: %s; the VM stays paused", m->cfg.name, why);
	m->user_paused = true;
	return false;
}

void monitor_leases_records(struct monitor *m, struct leaserec_set *out)
{
	struct lease_set *s = &m->leases.set;
	unsigned int i;

	memset(out, 0, sizeof(*out));
	if (!m->leases.ready || !s->engine)
		return;
	for (i = 0; i < s->nr && i < LEASEREC_MAX; i++) {
		struct leaserec *r = &out->l[out->nr];

		if (!s->l[i].generation)
			continue; /* never held: the VM never ran */
		out->nr++;
		snprintf(r->engine, sizeof(r->engine), "%s", s->engine->name);
		snprintf(r->resource, sizeof(r->resource), "%s",
			 s->l[i].resource);
		r->generation = s->l[i].generation;
	}
}

int monitor_leases_recorded(struct monitor *m, const struct leaserec_set *in,
			    char *why, size_t whylen)
{
	struct lease_set *s = &m->leases.set;
	const struct leaserec *r;
	unsigned int i;

	if (!m->leases.ready || !s->engine)
		return 0;
	if (!in->nr && s->nr) {
		log_warn(
			"vm %s: the stream carries no lease state (leases were off where it was written): taking them as new",
			m->cfg.name);
		return 0;
	}
	for (i = 0; i < s->nr; i++) {
		r = leaserec_find(in, s->l[i].resource);
		if (!r)
			return why_set(why, whylen, -EINVAL,
				       "%s: the stream carries no lease for %s",
				       s->l[i].label, s->l[i].resource);
		if (strcmp(r->engine, s->engine->name)) {
			log_warn(
				"vm %s: %s: the stream's lease is a %s lease; this host uses %s: taking it as new",
				m->cfg.name, s->l[i].label, r->engine,
				s->engine->name);
			continue;
		}
		s->l[i].generation = r->generation;
	}
	return 0;
}
