/* Save and restore's messages: members, defaults, ranges (msg_save.h). */
#include "rpc/msg_save.h"

#include <errno.h>

#include "common/compiler.h"
#include "common/why.h"

static const struct rpc_field save_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_save_args, domain, RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("file", struct rpc_save_args, file, RPC_F_REQUIRED),
	RPC_FIELD_BOOL("continue", struct rpc_save_args, keep_running, 0,
		       false),
	RPC_FIELD_BOOL("paused", struct rpc_save_args, leave_paused, 0, false),
	RPC_FIELD_INT("stall-timeout-ms", struct rpc_save_args,
		      stall_timeout_ms, 0, 100, 3600000, RPC_STALL_MS_DEFAULT),
	RPC_FIELD_BOOL("compress", struct rpc_save_args, compress, 0, false),
};

static int save_check(void *msg, char *why, size_t whylen)
{
	struct rpc_save_args *a = msg;

	if (a->keep_running && a->leave_paused)
		return why_set(
			why, whylen, -EINVAL,
			"save: 'continue' and 'paused' exclude each other");
	return 0;
}

const struct rpc_msg_type rpc_msg_save = RPC_MSG_TYPE(
	"save", struct rpc_save_args, save_fields, true, save_check);

static const char *const save_status_names[] = { "none", "active", "completed",
						 "failed", NULL };

const char *rpc_save_status_name(int status)
{
	return rpc_msg_enum_name(save_status_names, status);
}

static const struct rpc_field result_fields[] = {
	RPC_FIELD_ENUM("status", struct rpc_save_result, status, 0,
		       save_status_names, RPC_SAVE_NONE),
	RPC_FIELD_STR("file", struct rpc_save_result, file, RPC_F_OMIT_EMPTY),
	RPC_FIELD_INT("bytes", struct rpc_save_result, bytes, 0, 0, INT64_MAX,
		      0),
	RPC_FIELD_INT("pages", struct rpc_save_result, pages, 0, 0, INT64_MAX,
		      0),
	RPC_FIELD_INT("total-time-ms", struct rpc_save_result, total_time_ms, 0,
		      0, INT64_MAX, 0),
	RPC_FIELD_STR("error", struct rpc_save_result, error, RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_save_result = RPC_MSG_TYPE(
	"save (result)", struct rpc_save_result, result_fields, false, NULL);

static const struct rpc_field failed_fields[] = {
	RPC_FIELD_STR("error", struct rpc_save_failed, error, 0),
};
const struct rpc_msg_type rpc_msg_save_failed = RPC_MSG_TYPE(
	"SAVE_FAILED", struct rpc_save_failed, failed_fields, false, NULL);

static const struct rpc_field restore_fields[] = {
	RPC_FIELD_STR("file", struct rpc_restore_args, file, RPC_F_REQUIRED),
	RPC_FIELD_BOOL("paused", struct rpc_restore_args, paused, 0, false),
};

/* godwitd and its VMMs run in "/": a relative name means nothing there. */
static int restore_check(void *msg, char *why, size_t whylen)
{
	struct rpc_restore_args *a = msg;

	if (a->file[0] != '/')
		return why_set(
			why, whylen, -EINVAL,
			"restore: 'file' (an absolute path) is required");
	return 0;
}

const struct rpc_msg_type rpc_msg_restore =
	RPC_MSG_TYPE("restore", struct rpc_restore_args, restore_fields, true,
		     restore_check);
