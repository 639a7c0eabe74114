/* Messages of managed save: members, defaults (msg_managed.h). */
#include "rpc/msg_managed.h"

#include "common/compiler.h"

static const struct rpc_field start_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_start_args, domain, RPC_F_REQUIRED),
	RPC_FIELD_BOOL("paused", struct rpc_start_args, paused, 0, false),
};
const struct rpc_msg_type rpc_msg_start =
	RPC_MSG_TYPE("start", struct rpc_start_args, start_fields, true, NULL);

static const struct rpc_field removed_fields[] = {
	RPC_FIELD_STR("file", struct rpc_managed_removed, file, 0),
};
const struct rpc_msg_type rpc_msg_managed_removed =
	RPC_MSG_TYPE("managedsave-remove (answer)", struct rpc_managed_removed,
		     removed_fields, false, NULL);
