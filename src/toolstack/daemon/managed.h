/*
 * Managed save (managed.c) and on_host_stop = "save" (host_stop.c):
 * one save file per domain name in STATE/save/, restored by create or
 * start instead of a boot, and by godwitd's start after a host stop.
 * Everything runs on the daemon's event loop.
 */
#ifndef GODWIT_DAEMON_MANAGED_H
#define GODWIT_DAEMON_MANAGED_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "toolstack/daemon/daemon.h"

#define MANAGED_DIR "save" /* under the state directory */
/* How long a host stop waits for the saves before it exits anyway. */
#define MANAGED_STOP_TIMEOUT_S 240

/* STATE/save/NAME + ext; -EINVAL for a name that is not a file name. */
int managed_path(struct gwd *g, const char *name, const char *ext, char *buf,
		 size_t len) __must_check;
/* Create STATE/save/ if it is missing. */
int managed_make_dir(struct gwd *g) __must_check;
/* Has name a managed save? */
bool managed_exists(struct gwd *g, const char *name);
/*
 * Restore name's managed save in a new VMM (paused: stay paused); call,
 * if not NULL, is answered once it runs (ret, borrowed, may carry
 * create's warnings) or with why it did not. 0, or -errno and why (the
 * file is kept).
 */
int managed_restore(struct gwd *g, const char *name, bool paused,
		    const struct rpc_call *call, struct json_object *ret,
		    char *why, size_t whylen) __must_check;
/* create (whose answer says so) or start of name, for req's client. */
enum rpc_reply_kind managed_restore_for(struct rpc_request *req,
					const char *name, bool paused,
					bool create, struct rpc_reply *reply);
/* A restore of name failed: log why and keep it in NAME.why. */
void managed_note_failure(struct gwd *g, const char *name, const char *why);
/* d runs: if it came from a managed save, the save is removed. */
void managed_restored(struct dom *d);
/* d goes before it ran: if it was a managed save's restore, say why. */
void managed_restore_failed(struct dom *d, const char *why);
/* fn(g, name, opaque) for each file NAME + ext in the managed directory. */
void managed_each(struct gwd *g, const char *ext,
		  void (*fn)(struct gwd *g, const char *name, void *opaque),
		  void *opaque);
/* Append a "saved" entry per managed save to list's array. */
void managed_list(struct gwd *g, struct json_object *arr);

/* SIGTERM: with on_host_stop = "save", start saving; false: exit now. */
bool managed_host_stop(struct gwd *g);
void managed_stop_free(struct gwd *g);
/* Start-up: restore what the last host stop saved. */
void managed_boot_restore(struct gwd *g);

enum rpc_reply_kind ctl_managedsave(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply);
enum rpc_reply_kind ctl_managedsave_remove(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply);
enum rpc_reply_kind ctl_start_domain(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply);

#endif
