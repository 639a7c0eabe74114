/*
 * Device registry: the devices of a VM by stable id, created and driven
 * only through their type descriptors.
 */
#include "devices/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"

/* Every member is required: a type missing one is a programmer error. */
static bool devreg_type_complete(const struct dev_type *t)
{
	return t->name && t->size && t->state_size &&
	       t->state_size <= DEVICE_STATE_MAX && t->realize && t->reset &&
	       t->quiesce && t->save && t->check && t->load && t->resume &&
	       t->destroy;
}

static int devreg_add(struct dev_registry *r, const struct dev_slot *s)
{
	struct dev_entry *e;

	if (r->nr == DEVREG_MAX)
		return -ENOSPC;
	if (!s->id || !s->id[0] || strlen(s->id) >= DEVICE_ID_LEN ||
	    !devreg_type_complete(s->type))
		return -EINVAL;
	if (devreg_find(r, s->id))
		return -EEXIST;
	e = &r->devs[r->nr++];
	memset(e, 0, sizeof(*e));
	strcpy(e->id, s->id);
	e->type = s->type;
	e->res = s->res;
	e->arg = s->arg;
	e->may_be_absent = s->may_be_absent;
	return 0;
}

int devreg_add_list(struct dev_registry *r, const struct dev_slot *list,
		    unsigned int n)
{
	unsigned int i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = devreg_add(r, &list[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int devreg_realize(struct dev_registry *r, const struct dev_host *host)
{
	struct dev_host h = *host;
	unsigned int i;
	int rc;

	for (i = 0; i < r->nr; i++) {
		struct dev_entry *e = &r->devs[i];

		if (e->dev)
			continue;
		e->dev = calloc(1, e->type->size);
		if (!e->dev) {
			log_err("device %s: out of memory", e->id);
			return -ENOMEM;
		}
		h.res = e->res;
		h.arg = e->arg;
		h.id = e->id;
		rc = e->type->realize(e->dev, &h);
		if (rc) {
			log_err("device %s (%s): cannot create it: %s", e->id,
				e->type->name, strerror(-rc));
			return rc;
		}
		e->realized = true;
		e->type->reset(e->dev);
	}
	return 0;
}

int devreg_attach(struct dev_registry *r, const char *id, void *dev)
{
	struct dev_entry *e = devreg_find(r, id);

	if (!e)
		return -ENOENT;
	if (e->dev)
		return -EEXIST;
	e->dev = dev;
	e->realized = e->borrowed = true;
	return 0;
}

struct dev_entry *devreg_find(struct dev_registry *r, const char *id)
{
	unsigned int i;

	for (i = 0; i < r->nr; i++)
		if (!strncmp(r->devs[i].id, id, DEVICE_ID_LEN))
			return &r->devs[i];
	return NULL;
}

void *devreg_dev(struct dev_registry *r, const char *id)
{
	struct dev_entry *e = devreg_find(r, id);

	return e ? e->dev : NULL;
}

struct dev_env devreg_env(const struct dev_registry *r,
			  const struct dev_entry *e)
{
	return (struct dev_env){ .mem_bytes = r->mem_bytes,
				 .res = e->res,
				 .arg = e->arg };
}

void devreg_quiesce_all(struct dev_registry *r)
{
	uint64_t start = time_mono_ns();
	unsigned int i;

	for (i = 0; i < r->nr; i++)
		if (r->devs[i].realized)
			r->devs[i].type->quiesce(r->devs[i].dev);
	r->quiesced++;
	/* Part of every pause: a migration's downtime, for instance. */
	log_debug("devices quiesced in %llu us",
		  (unsigned long long)((time_mono_ns() - start) / 1000));
}

void devreg_resume_all(struct dev_registry *r)
{
	unsigned int i;

	if (!r->quiesced)
		return; /* every quiesce has its resume, never more */
	r->quiesced--;
	for (i = r->nr; i-- > 0;)
		if (r->devs[i].realized)
			r->devs[i].type->resume(r->devs[i].dev);
}

static void devreg_paused(void *opaque)
{
	devreg_quiesce_all(opaque);
}

static void devreg_resuming(void *opaque)
{
	devreg_resume_all(opaque);
}

void devreg_hook_pause(struct dev_registry *r, struct vm *vm)
{
	const struct vm_pause_hooks hooks = { .paused = devreg_paused,
					      .resuming = devreg_resuming,
					      .opaque = r };

	devreg_quiesce_all(r); /* until the VM first runs */
	vm_set_pause_hooks(vm, &hooks);
}

void devreg_destroy(struct dev_registry *r)
{
	unsigned int i;

	for (i = r->nr; i-- > 0;) {
		struct dev_entry *e = &r->devs[i];

		if (!e->dev || e->borrowed)
			continue;
		e->type->destroy(e->dev);
		free(e->dev);
		e->dev = NULL;
		e->realized = false;
	}
}
