/*
 * The typed commands (domain.h, migrate.h): each fills the protocol's
 * struct for its message (rpc/msg*.h), which checks and encodes it, and
 * picks godwitd's or the VM's command; the decoders read answers back
 * through the same codec.
 */
#include <godwit/domain.h>

#include "toolstack/lib/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/msg_domain.h"

/* ---- domain verbs ---- */

int godwit_domain_verb(struct godwit_conn *c, const char *dom,
		       enum godwit_verb verb, int timeout_ms,
		       godwit_reply_fn fn, void *opaque)
{
	static const char *const daemon_cmd[] = {
		[GODWIT_VERB_PAUSE] = "pause",
		[GODWIT_VERB_UNPAUSE] = "unpause",
		[GODWIT_VERB_SHUTDOWN] = "shutdown",
		[GODWIT_VERB_SHUTDOWN_WAIT] = "shutdown",
		[GODWIT_VERB_DESTROY] = "destroy",
		[GODWIT_VERB_ANNOUNCE] = "announce",
		[GODWIT_VERB_REBOOT] = "reboot",
	};
	static const char *const vm_cmd[] = {
		[GODWIT_VERB_PAUSE] = "stop",
		[GODWIT_VERB_UNPAUSE] = "cont",
		[GODWIT_VERB_SHUTDOWN] = "system_powerdown",
		[GODWIT_VERB_SHUTDOWN_WAIT] = "system_powerdown",
		[GODWIT_VERB_DESTROY] = "quit",
		[GODWIT_VERB_ANNOUNCE] = "announce-self",
		[GODWIT_VERB_REBOOT] = "system_reset",
	};
	struct rpc_shutdown_args a = { .wait = verb ==
					       GODWIT_VERB_SHUTDOWN_WAIT };
	char err[GODWIT_ERROR_MAX];
	struct rpc_dom_args d;

	if ((unsigned int)verb >= ARRAY_SIZE(vm_cmd))
		return -EINVAL;
	if (!godwit_conn_is_daemon(c))
		return godwit_call(c, vm_cmd[verb], NULL, timeout_ms, fn,
				   opaque);
	snprintf(a.domain, sizeof(a.domain), "%s", dom);
	snprintf(d.domain, sizeof(d.domain), "%s", dom);
	if (verb == GODWIT_VERB_SHUTDOWN || verb == GODWIT_VERB_SHUTDOWN_WAIT)
		return lib_send(c, daemon_cmd[verb], &rpc_msg_shutdown, &a,
				timeout_ms, fn, opaque, err, sizeof(err));
	return lib_send(c, daemon_cmd[verb], &rpc_msg_dom, &d, timeout_ms, fn,
			opaque, err, sizeof(err));
}

int godwit_console(struct godwit_conn *c, const char *dom, int timeout_ms,
		   godwit_reply_fn fn, void *opaque)
{
	struct rpc_dom_args a;
	char err[GODWIT_ERROR_MAX];

	if (!godwit_conn_is_daemon(c))
		return godwit_call(c, "query-console", NULL, timeout_ms, fn,
				   opaque);
	snprintf(a.domain, sizeof(a.domain), "%s", dom);
	return lib_send(c, "console", &rpc_msg_dom, &a, timeout_ms, fn, opaque,
			err, sizeof(err));
}

int godwit_decode_console(struct json_object *ret, char *type, size_t tlen,
			  char *path, size_t plen, char *err, size_t errlen)
{
	struct rpc_console k;
	int rc = lib_decode(&rpc_msg_console, ret, &k, err, errlen);

	if (rc)
		return rc;
	snprintf(type, tlen, "%s", k.type);
	snprintf(path, plen, "%s", k.path);
	return 0;
}

int godwit_vm_config(struct godwit_conn *c, int timeout_ms, godwit_reply_fn fn,
		     void *opaque)
{
	if (godwit_conn_is_daemon(c))
		return -EOPNOTSUPP;
	return godwit_call(c, "query-config", NULL, timeout_ms, fn, opaque);
}

int godwit_decode_config(struct json_object *ret, const char **text, char *err,
			 size_t errlen)
{
	struct rpc_vm_config k;
	int rc = lib_decode(&rpc_msg_vm_config, ret, &k, err, errlen);

	*text = rc ? NULL : k.config;
	return rc;
}

/* ---- save ---- */

int godwit_save(struct godwit_conn *c, const char *dom, const char *file,
		unsigned int flags, int timeout_ms, godwit_reply_fn fn,
		void *opaque, char *err, size_t errlen)
{
	struct rpc_save_args a;

	rpc_msg_init(&rpc_msg_save, &a);
	if (godwit_conn_is_daemon(c))
		snprintf(a.domain, sizeof(a.domain), "%s", dom);
	if (snprintf(a.file, sizeof(a.file), "%s", file) >=
	    (int)sizeof(a.file)) {
		snprintf(err, errlen, "save: file name too long");
		return -ENAMETOOLONG;
	}
	a.keep_running = flags & GODWIT_SAVE_KEEP_RUNNING;
	a.leave_paused = flags & GODWIT_SAVE_LEAVE_PAUSED;
	a.compress = flags & GODWIT_SAVE_COMPRESS;
	return lib_send(c, "save", &rpc_msg_save, &a, timeout_ms, fn, opaque,
			err, errlen);
}

int godwit_save_to_fd(struct godwit_conn *c, const char *dom, int fd,
		      unsigned int flags, int timeout_ms, godwit_reply_fn fn,
		      void *opaque, char *err, size_t errlen)
{
	int rc = lib_pass_fd(c, fd);

	if (rc) {
		snprintf(err, errlen, "save: cannot pass the descriptor: %s",
			 strerror(-rc));
		return rc;
	}
	rc = godwit_save(c, dom, GODWIT_SAVE_FD_FILE, flags, timeout_ms, fn,
			 opaque, err, errlen);
	if (rc)
		lib_pass_fd_drop(c);
	return rc;
}

int godwit_decode_save(struct json_object *ret, struct godwit_save_result *out,
		       char *err, size_t errlen)
{
	struct rpc_save_result r;
	int rc = lib_decode(&rpc_msg_save_result, ret, &r, err, errlen);

	if (!rc)
		lib_save_from(&r, out);
	return rc;
}

/* ---- create, restore, list: godwitd's ---- */

int godwit_create(struct godwit_conn *c, const char *config, const char *file,
		  const char *const *overrides, size_t n, bool paused,
		  const char *cwd, int timeout_ms, godwit_reply_fn fn,
		  void *opaque, char *err, size_t errlen)
{
	struct rpc_create_args a;
	size_t i;

	rpc_msg_init(&rpc_msg_create, &a);
	if (n > ARRAY_SIZE(a.overrides)) {
		snprintf(err, errlen, "create: at most %zu overrides",
			 ARRAY_SIZE(a.overrides));
		return -EINVAL;
	}
	a.config = config;
	snprintf(a.file, sizeof(a.file), "%s", file ? file : "");
	for (i = 0; i < n; i++)
		a.overrides[i] = overrides[i];
	a.nr_overrides = n;
	a.paused = paused;
	snprintf(a.cwd, sizeof(a.cwd), "%s", cwd ? cwd : "");
	return lib_send(c, "create", &rpc_msg_create, &a, timeout_ms, fn,
			opaque, err, errlen);
}

int godwit_restore(struct godwit_conn *c, const char *file, bool paused,
		   int timeout_ms, godwit_reply_fn fn, void *opaque, char *err,
		   size_t errlen)
{
	struct rpc_restore_args a = { .paused = paused };

	if (snprintf(a.file, sizeof(a.file), "%s", file) >=
	    (int)sizeof(a.file)) {
		snprintf(err, errlen, "restore: file name too long");
		return -ENAMETOOLONG;
	}
	return lib_send(c, "restore", &rpc_msg_restore, &a, timeout_ms, fn,
			opaque, err, errlen);
}

int godwit_decode_made(struct json_object *ret, struct godwit_domain_made *out,
		       char *err, size_t errlen)
{
	struct rpc_dom_made m;
	size_t i;
	int rc = lib_decode(&rpc_msg_dom_made, ret, &m, err, errlen);

	if (rc)
		return rc;
	out->domid = m.domid;
	snprintf(out->name, sizeof(out->name), "%s", m.name);
	snprintf(out->uuid, sizeof(out->uuid), "%s", m.uuid);
	out->nr_warnings = m.nr_warnings;
	for (i = 0; i < m.nr_warnings && i < ARRAY_SIZE(out->warnings); i++)
		out->warnings[i] = m.warnings[i];
	return 0;
}

int godwit_list(struct godwit_conn *c, int timeout_ms, godwit_reply_fn fn,
		void *opaque)
{
	return godwit_call(c, "list", NULL, timeout_ms, fn, opaque);
}

static void info_from(const struct rpc_dom_info *in,
		      struct godwit_domain_info *o)
{
	size_t i;

	snprintf(o->name, sizeof(o->name), "%s", in->name);
	o->domid = in->domid;
	snprintf(o->uuid, sizeof(o->uuid), "%s", in->uuid);
	snprintf(o->state, sizeof(o->state), "%s", in->state);
	o->memory_mib = in->memory_mib;
	o->vcpus = in->vcpus;
	o->cpu_time_ns = in->cpu_time_ns;
	o->pid = in->pid;
	snprintf(o->console, sizeof(o->console), "%s", in->console);
	snprintf(o->qmp, sizeof(o->qmp), "%s", in->qmp);
	snprintf(o->origin, sizeof(o->origin), "%s", in->origin);
	o->created = in->created;
	snprintf(o->reason, sizeof(o->reason), "%s", in->reason);
	o->nr_disks = in->nr_disks;
	for (i = 0; i < in->nr_disks && i < ARRAY_SIZE(o->disks); i++) {
		snprintf(o->disks[i].vdev, sizeof(o->disks[i].vdev), "%s",
			 in->disks[i].vdev);
		snprintf(o->disks[i].target, sizeof(o->disks[i].target), "%s",
			 in->disks[i].target);
		snprintf(o->disks[i].access, sizeof(o->disks[i].access), "%s",
			 in->disks[i].access);
		snprintf(o->disks[i].script, sizeof(o->disks[i].script), "%s",
			 in->disks[i].script);
	}
	o->nr_vifs = in->nr_vifs;
	for (i = 0; i < in->nr_vifs && i < ARRAY_SIZE(o->vifs); i++) {
		snprintf(o->vifs[i].mac, sizeof(o->vifs[i].mac), "%s",
			 in->vifs[i].mac);
		snprintf(o->vifs[i].bridge, sizeof(o->vifs[i].bridge), "%s",
			 in->vifs[i].bridge);
		snprintf(o->vifs[i].vifname, sizeof(o->vifs[i].vifname), "%s",
			 in->vifs[i].vifname);
		snprintf(o->vifs[i].script, sizeof(o->vifs[i].script), "%s",
			 in->vifs[i].script);
	}
}

int godwit_decode_list(struct json_object *ret,
		       struct godwit_domain_info **list_out, size_t *n_out,
		       char *err, size_t errlen)
{
	struct godwit_domain_info *list = NULL;
	struct rpc_dom_info *one = NULL;
	size_t n, i;
	int rc = 0;

	*list_out = NULL;
	*n_out = 0;
	if (!json_object_is_type(ret, json_type_array)) {
		snprintf(err, errlen, "unexpected answer: list: not a list");
		return -EPROTO;
	}
	n = json_object_array_length(ret);
	list = calloc(n ? n : 1, sizeof(*list));
	one = malloc(sizeof(*one));
	if (!list || !one)
		rc = -ENOMEM;
	for (i = 0; !rc && i < n; i++) {
		rc = lib_decode(&rpc_msg_dom_info,
				json_object_array_get_idx(ret, i), one, err,
				errlen);
		if (!rc)
			info_from(one, &list[i]);
	}
	free(one);
	if (rc) {
		free(list);
		return rc;
	}
	*list_out = list;
	*n_out = n;
	return 0;
}

void godwit_domain_list_free(struct godwit_domain_info *list)
{
	free(list);
}
