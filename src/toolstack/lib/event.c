/*
 * Events as the application sees them (client.h): the message's name,
 * the domain godwitd says it is about, and the typed view of the events
 * the library knows, decoded with the protocol's own codec (rpc/msg*.h).
 */
#include "toolstack/lib/internal.h"

#include <stdio.h>
#include <string.h>

#include "rpc/msg_domain.h"
#include "rpc/proto.h"

static bool is_state_event(const char *name)
{
	static const char *const names[] = { "STOP", "RESUME", "SHUTDOWN",
					     "POWERDOWN", "RESET" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static void save_event(struct godwit_event *e)
{
	struct rpc_save_failed f;
	struct rpc_save_result r;
	char why[RPC_MSG_WHY_MAX];

	if (!strcmp(e->name, "SAVE_COMPLETED")) {
		if (rpc_msg_decode(&rpc_msg_save_result, e->data, &r, why,
				   sizeof(why)))
			return;
		r.status = RPC_SAVE_COMPLETED;
	} else {
		if (rpc_msg_decode(&rpc_msg_save_failed, e->data, &f, why,
				   sizeof(why)))
			return;
		rpc_msg_init(&rpc_msg_save_result, &r);
		r.status = RPC_SAVE_FAILED;
		snprintf(r.error, sizeof(r.error), "%s", f.error);
	}
	lib_save_from(&r, &e->as.save);
	e->kind = GODWIT_EVENT_SAVE;
}

static void ended_event(struct godwit_event *e)
{
	struct godwit_vmm_ended *o = &e->as.ended;
	char why[RPC_MSG_WHY_MAX];
	struct rpc_vmm_ended v;

	if (rpc_msg_decode(&rpc_msg_vmm_ended, e->data, &v, why, sizeof(why)))
		return;
	snprintf(o->end, sizeof(o->end), "%s", v.end);
	o->status = v.status;
	snprintf(o->reason, sizeof(o->reason), "%s", v.reason);
	snprintf(o->job, sizeof(o->job), "%s", v.job);
	e->kind = GODWIT_EVENT_VMM_ENDED;
}

/* The typed view; e->kind stays OTHER when the data does not decode. */
static void typed_view(struct godwit_event *e)
{
	char why[RPC_MSG_WHY_MAX];
	struct rpc_migration m;
	struct rpc_mig_round r;

	if (!strcmp(e->name, "MIGRATION_PASS")) {
		if (rpc_msg_decode(&rpc_msg_mig_round, e->data, &r, why,
				   sizeof(why)))
			return;
		lib_round_from(&r, &e->as.round);
		e->kind = GODWIT_EVENT_MIGRATION_ROUND;
	} else if (!strcmp(e->name, "MIGRATION")) {
		if (rpc_msg_decode(&rpc_msg_migration, e->data, &m, why,
				   sizeof(why)))
			return;
		lib_migration_from(&m, &e->as.migration);
		e->kind = GODWIT_EVENT_MIGRATION;
	} else if (!strncmp(e->name, "SAVE_", 5)) {
		save_event(e);
	} else if (!strcmp(e->name, "VMM_ENDED")) {
		ended_event(e);
	} else if (is_state_event(e->name)) {
		e->kind = GODWIT_EVENT_STATE;
	}
}

void lib_event_from_msg(struct json_object *msg, struct godwit_event *e,
			char *domain, size_t domain_len)
{
	struct rpc_event_origin org;

	memset(e, 0, sizeof(*e));
	e->kind = GODWIT_EVENT_OTHER;
	e->name = rpc_json_str(msg, "event", "");
	json_object_object_get_ex(msg, "data", &e->data);
	rpc_event_origin_get(e->data, &org);
	snprintf(domain, domain_len, "%s", org.domain);
	e->domain = domain;
	e->domid = org.domid;
	typed_view(e);
}

const char *godwit_migration_status_name(enum godwit_migration_status s)
{
	return rpc_mig_status_name((int)s);
}
