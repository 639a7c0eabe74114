/*
 * Save and restore's messages (msg.h has the codec):
 *
 *   save            {domain?, file, continue, paused,
 *                    stall-timeout-ms}                        command
 *   save's answer,  {status, file, bytes, pages, total-time-ms,
 *   query-save,      error?}                                  answer
 *   SAVE_COMPLETED                                            event
 *   SAVE_FAILED     {error}                                   event
 *   restore         {file, paused}                   godwitd command
 *
 * "domain" names the domain for godwitd, which takes it off and passes
 * the rest to the VMM; the VMM ignores it.
 */
#ifndef GODWIT_RPC_MSG_SAVE_H
#define GODWIT_RPC_MSG_SAVE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/msg.h"
#include "rpc/msg_migrate.h"

struct rpc_save_args {
	char domain[RPC_DOMAIN_MAX]; /* godwitd only */
	char file[PATH_MAX]; /* godwitd wants it absolute */
	bool keep_running; /* "continue": -c */
	bool leave_paused; /* "paused": -p */
	int64_t stall_timeout_ms; /* a reader that takes nothing this long */
	bool compress; /* "compress": page batches as zstd frames */
};
extern const struct rpc_msg_type rpc_msg_save;

enum rpc_save_status {
	RPC_SAVE_NONE,
	RPC_SAVE_ACTIVE,
	RPC_SAVE_COMPLETED,
	RPC_SAVE_FAILED,
};

/* A save's state and figures: the answer, query-save, SAVE_COMPLETED. */
struct rpc_save_result {
	int status; /* enum rpc_save_status */
	char file[PATH_MAX]; /* "" when there was no save */
	int64_t bytes; /* written (so far) */
	int64_t pages; /* guest pages with data */
	int64_t total_time_ms;
	char error[RPC_ERROR_MAX]; /* failed: why */
};
extern const struct rpc_msg_type rpc_msg_save_result;

/* SAVE_FAILED: why (the VM goes on as it was). */
struct rpc_save_failed {
	char error[RPC_ERROR_MAX];
};
extern const struct rpc_msg_type rpc_msg_save_failed;

struct rpc_restore_args {
	char file[PATH_MAX]; /* absolute */
	bool paused;
};
extern const struct rpc_msg_type rpc_msg_restore;

const char *rpc_save_status_name(int status);

#endif
