/*
 * libFuzzer target for the control protocol's message decoders
 * (rpc/msg*.h): the input is one JSON text, decoded as every message
 * type there is (and, if it is a list, each item as a list entry).
 *
 * Checks besides the sanitizers: a message that decodes passes
 * rpc_msg_check, and encoding it and decoding the result gives the same
 * message and the same JSON again: what one party sends, the other
 * reads as it was meant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "rpc/msg_domain.h"
#include "rpc/msg_job.h"
#include "rpc/msg_managed.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct rpc_msg_type *const types[] = {
	&rpc_msg_migrate,     &rpc_msg_migrate_started,
	&rpc_msg_resolve,     &rpc_msg_migration,
	&rpc_msg_mig_round,   &rpc_msg_save,
	&rpc_msg_save_result, &rpc_msg_save_failed,
	&rpc_msg_restore,     &rpc_msg_job_info,
	&rpc_msg_dom,	      &rpc_msg_shutdown,
	&rpc_msg_create,      &rpc_msg_dom_made,
	&rpc_msg_dom_info,    &rpc_msg_console,
	&rpc_msg_vmm_ended,   &rpc_msg_vm_domain,
	&rpc_msg_vm_status,   &rpc_msg_vm_config,
	&rpc_msg_recover,     &rpc_msg_announce,
	&rpc_msg_start,	      &rpc_msg_managed_removed,
};

/* Big enough for any message struct (the list entry is the largest). */
union msg_buf {
	struct rpc_dom_info info;
	struct rpc_save_args save;
	struct rpc_create_args create;
	struct rpc_job_info job;
	struct rpc_migrate_args migrate;
};

static void round_trip(const struct rpc_msg_type *t, struct json_object *o)
{
	static union msg_buf a, b;
	char why[RPC_MSG_WHY_MAX];
	struct json_object *e1, *e2;

	if (t->size > sizeof(a))
		abort();
	if (rpc_msg_decode(t, o, &a, why, sizeof(why))) {
		if (!memchr(why, 0, sizeof(why)) || !why[0])
			abort(); /* every refusal says why */
		return;
	}
	if (rpc_msg_check(t, &a, why, sizeof(why)))
		abort();
	e1 = rpc_msg_encode(t, &a);
	if (!e1 || rpc_msg_decode(t, e1, &b, why, sizeof(why)) ||
	    !rpc_msg_equal(t, &a, &b))
		abort();
	e2 = rpc_msg_encode(t, &b);
	if (!e2 || strcmp(json_object_to_json_string(e1),
			  json_object_to_json_string(e2)))
		abort();
	json_object_put(e1);
	json_object_put(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t i;

	if (!tok || size > 65536) {
		json_tokener_free(tok);
		return 0;
	}
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o)
		return 0;
	for (i = 0; i < ARRAY_SIZE(types); i++)
		round_trip(types[i], o);
	if (json_object_is_type(o, json_type_array))
		for (i = 0; i < json_object_array_length(o) && i < 8; i++)
			round_trip(&rpc_msg_dom_info,
				   json_object_array_get_idx(o, i));
	json_object_put(o);
	return 0;
}
