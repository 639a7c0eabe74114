/*
 * Messages of managed save (msg.h has the codec), libvirt's managedsave:
 * godwitd keeps one save file per domain name in its state directory.
 *
 *   managedsave          {domain}           answer: save's {file, ...}
 *   managedsave-remove   {domain}           answer: {file}
 *   start                {domain, paused}   answer: create's {domid, ...}
 *
 * domain for managedsave is a running domain (name, id or uuid); for
 * managedsave-remove and start it is the name the save is kept under.
 */
#ifndef GODWIT_RPC_MSG_MANAGED_H
#define GODWIT_RPC_MSG_MANAGED_H

#include <limits.h>
#include <stdbool.h>

#include "rpc/msg.h"
#include "rpc/msg_migrate.h"

struct rpc_start_args {
	char domain[RPC_DOMAIN_MAX];
	bool paused;
};
extern const struct rpc_msg_type rpc_msg_start;

struct rpc_managed_removed {
	char file[PATH_MAX]; /* the save file that was removed */
};
extern const struct rpc_msg_type rpc_msg_managed_removed;

#endif
