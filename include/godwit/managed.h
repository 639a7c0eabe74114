/*
 * libgodwit-client: managed save, as libvirt's managedsave (client.h has
 * the conventions; godwitd only). godwitd keeps one save file per domain
 * name in its state directory: managedsave saves a running domain there
 * and ends it; start (or create of the same domain) restores it instead
 * of booting, and the file goes once the restored domain runs;
 * managedsave-remove throws it away. godwitd's list shows such a domain
 * in state "saved" (reason: why its last restore failed, if it did).
 */
#ifndef GODWIT_MANAGED_H
#define GODWIT_MANAGED_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include <godwit/api.h>
#include <godwit/client.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Save the running domain dom (name, id or uuid) to its managed save;
 * it then ends. Answered once saved: godwit_decode_save (domain.h).
 * -EOPNOTSUPP with err on a connection that is not godwitd's.
 */
int godwit_managedsave(struct godwit_conn *conn, const char *dom,
		       int timeout_ms, godwit_reply_fn fn, void *opaque,
		       char *err, size_t errlen) GODWIT_MUST_CHECK;
/* Remove the managed save of the domain named name. */
int godwit_managedsave_remove(struct godwit_conn *conn, const char *name,
			      int timeout_ms, godwit_reply_fn fn, void *opaque,
			      char *err, size_t errlen) GODWIT_MUST_CHECK;
/* managedsave-remove's answer: the file removed. */
int godwit_decode_managed_removed(struct json_object *ret, char *file,
				  size_t len, char *err,
				  size_t errlen) GODWIT_MUST_CHECK;
/*
 * Start the domain named name from its managed save (paused: leave it
 * paused). Answered once it runs: godwit_decode_made (domain.h).
 */
int godwit_start(struct godwit_conn *conn, const char *name, bool paused,
		 int timeout_ms, godwit_reply_fn fn, void *opaque, char *err,
		 size_t errlen) GODWIT_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
