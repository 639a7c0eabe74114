/*
 * Managed save, as libvirt's managedsave and libvirt-guests: godwitd
 * keeps at most one save file per domain name, STATE/save/NAME.save.
 *
 *   managedsave DOMAIN    saves the domain there and ends it (save's
 *                         path: the VMM writes the file atomically);
 *   create CONFIG, start  restore NAME.save instead of booting, while it
 *                         exists; once the restored VM answers the file
 *                         is removed, so it can never be restored twice;
 *   managedsave-remove    removes it;
 *   list                  shows it as a domain in state "saved".
 *
 * A restore that fails keeps the file and writes why into NAME.why: list
 * shows it, and a create or start that asked for it is answered with it.
 * With on_host_stop = "save" (godwitd.conf) SIGTERM saves every running
 * domain at once (host_stop.c) and the next godwitd restores those.
 */
#include "toolstack/daemon/managed.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/why.h"
#include "rpc/msg_domain.h"
#include "rpc/msg_managed.h"
#include "rpc/msg_save.h"

#define SAVE_EXT ".save"

/* A name that is safe as a file name: what the config allows, no '/'. */
static bool name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > DOMAIN_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (name[i] == '/')
			return false;
	return true;
}

int managed_path(struct gwd *g, const char *name, const char *ext, char *buf,
		 size_t len)
{
	if (!name_ok(name))
		return -EINVAL;
	return str_printf(buf, len, "%s/%s/%s%s", g->paths.state_dir,
			  MANAGED_DIR, name, ext);
}

int managed_make_dir(struct gwd *g)
{
	char dir[PATH_MAX];
	int rc = str_printf(dir, sizeof(dir), "%s/%s", g->paths.state_dir,
			    MANAGED_DIR);

	return rc ? rc : mkdir_p(dir, 0700);
}

bool managed_exists(struct gwd *g, const char *name)
{
	char path[PATH_MAX];

	return !managed_path(g, name, SAVE_EXT, path, sizeof(path)) &&
	       !access(path, F_OK);
}

/* The domain name of a managed save path, or NULL if it is not one. */
static const char *managed_name_of(struct gwd *g, const char *path, char *name,
				   size_t len)
{
	char dir[PATH_MAX];
	size_t n, e = strlen(SAVE_EXT);

	if (str_printf(dir, sizeof(dir), "%s/%s/", g->paths.state_dir,
		       MANAGED_DIR) ||
	    strncmp(path, dir, strlen(dir)))
		return NULL;
	path += strlen(dir);
	n = strlen(path);
	if (n <= e || n - e >= len || strcmp(path + n - e, SAVE_EXT) ||
	    strchr(path, '/'))
		return NULL;
	memcpy(name, path, n - e);
	name[n - e] = 0;
	return name;
}

static void unlink_ext(struct gwd *g, const char *name, const char *ext)
{
	char path[PATH_MAX];

	if (!managed_path(g, name, ext, path, sizeof(path)) && unlink(path) &&
	    errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* A restore of NAME's save already under way (not yet registered)? */
static struct dom *restore_under_way(struct gwd *g, const char *path)
{
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (!d->registered && d->rec.origin == ORIGIN_RESTORE &&
		    !strcmp(d->rec.peer, path))
			return d;
	return NULL;
}

void managed_note_failure(struct gwd *g, const char *name, const char *why)
{
	char path[PATH_MAX];
	int rc;

	log_err("domain %s: its managed save is kept: %s", name, why);
	if (managed_path(g, name, ".why", path, sizeof(path)))
		return;
	rc = file_write_atomic(path, why, strlen(why), 0600);
	if (rc)
		log_warn("cannot write %s: %s", path, strerror(-rc));
}

/* ---- restoring ---- */

/* Spawn the VMM that restores path (the part that cannot be answered). */
static int spawn_restore(struct gwd *g, const char *path, bool paused,
			 const struct rpc_call *call, struct json_object *ret,
			 struct dom **dom_out)
{
	struct dom *d;
	int rc;

	rc = reg_new(g, &d);
	if (rc)
		return rc;
	*dom_out = d;
	d->rec.origin = ORIGIN_RESTORE;
	d->rec.mem_bytes = ctl_file_mem_bytes(path);
	snprintf(d->rec.peer, sizeof(d->rec.peer), "%s", path);
	d->cont_when_live = !paused;
	d->rec.resume = d->cont_when_live;
	rc = reg_make_incoming_dir(d);
	if (!rc)
		rc = spawn_vmm(d, SPAWN_RESTORE, path, -1, true);
	if (!rc)
		rc = attach_start(d);
	if (!rc && call)
		rc = dom_wait_add(d, WAIT_UP, *call, json_object_get(ret));
	reg_save(d);
	return rc;
}

int managed_restore(struct gwd *g, const char *name, bool paused,
		    const struct rpc_call *call, struct json_object *ret,
		    char *why, size_t whylen)
{
	char path[PATH_MAX], mem[400];
	struct dom *d = NULL;
	uint64_t bytes;
	int rc;

	rc = managed_path(g, name, SAVE_EXT, path, sizeof(path));
	if (rc || strlen(path) >= sizeof(d->rec.peer))
		return why_set(why, whylen, -ENAMETOOLONG,
			       "the managed save's path is too long");
	if (restore_under_way(g, path))
		return why_set(why, whylen, -EBUSY,
			       "its managed save is being restored already");
	bytes = ctl_file_mem_bytes(path);
	if (bytes && gwd_mem_check(g, bytes, mem, sizeof(mem)))
		return why_set(why, whylen, -ENOMEM, "%s", mem);
	rc = spawn_restore(g, path, paused, call, ret, &d);
	if (rc) {
		if (d)
			reg_discard(d);
		return why_set(why, whylen, rc, "cannot start a VMM: %s",
			       strerror(-rc));
	}
	log_info("domain %s: restoring its managed save %s, VMM %d", name, path,
		 (int)d->pid);
	return 0;
}

/* create's answer says that it restored rather than booted. */
static struct json_object *create_note(struct gwd *g, const char *name)
{
	char note[PATH_MAX + 128], path[PATH_MAX];
	struct rpc_dom_made m;

	rpc_msg_init(&rpc_msg_dom_made, &m);
	if (managed_path(g, name, SAVE_EXT, path, sizeof(path)))
		return NULL;
	snprintf(
		note, sizeof(note),
		"%s: restored from its managed save %s, not booted from this config",
		name, path);
	m.warnings[m.nr_warnings++] = note;
	return rpc_msg_encode(&rpc_msg_dom_made, &m);
}

enum rpc_reply_kind managed_restore_for(struct rpc_request *req,
					const char *name, bool paused,
					bool create, struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	struct json_object *ret = create ? create_note(g, name) : NULL;
	char why[512];
	int rc;

	rc = managed_restore(g, name, paused, &req->call, ret, why,
			     sizeof(why));
	json_object_put(ret);
	if (rc) {
		managed_note_failure(g, name, why);
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"domain %s: restoring its managed save: %s", name, why);
	}
	return RPC_REPLY_LATER;
}

void managed_restored(struct dom *d)
{
	char name[DOMAIN_NAME_MAX + 1];

	if (d->rec.origin != ORIGIN_RESTORE ||
	    !managed_name_of(d->gwd, d->rec.peer, name, sizeof(name)))
		return;
	if (!unlink(d->rec.peer))
		log_info("domain %s: restored from its managed save, removed",
			 d->rec.name);
	else if (errno != ENOENT)
		log_err("domain %s: cannot remove its managed save %s: %s",
			d->rec.name, d->rec.peer, strerror(errno));
	unlink_ext(d->gwd, name, ".why");
}

void managed_restore_failed(struct dom *d, const char *why)
{
	char name[DOMAIN_NAME_MAX + 1];

	if (d->registered || d->rec.origin != ORIGIN_RESTORE || !why ||
	    !managed_name_of(d->gwd, d->rec.peer, name, sizeof(name)))
		return;
	managed_note_failure(d->gwd, name, why);
}

/* ---- commands ---- */

enum rpc_reply_kind ctl_managedsave(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	enum rpc_reply_kind kind;
	struct json_object *fwd;
	struct rpc_save_args a;
	struct dom *d;
	int rc;

	d = ctl_arg_dom(g, args, reply);
	if (!d)
		return RPC_REPLY_ERROR;
	rpc_msg_init(&rpc_msg_save, &a);
	snprintf(a.domain, sizeof(a.domain), "%s", d->rec.name);
	rc = managed_path(g, d->rec.name, SAVE_EXT, a.file, sizeof(a.file));
	if (!rc)
		rc = managed_make_dir(g);
	if (rc)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "managedsave %s: %s", d->rec.name,
				       strerror(-rc));
	/* save's own path from here: its checks, its answer. */
	fwd = rpc_msg_encode(&rpc_msg_save, &a);
	kind = ctl_save(req, fwd, reply);
	json_object_put(fwd);
	return kind;
}

enum rpc_reply_kind ctl_managedsave_remove(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	struct rpc_managed_removed r;
	struct rpc_dom_args a;
	struct dom *d;

	if (!ctl_decode(&rpc_msg_dom, args, &a, reply))
		return RPC_REPLY_ERROR;
	rpc_msg_init(&rpc_msg_managed_removed, &r);
	if (managed_path(g, a.domain, SAVE_EXT, r.file, sizeof(r.file)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "'%s' is not a domain name", a.domain);
	if (restore_under_way(g, r.file))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"domain %s: its managed save is being restored",
			a.domain);
	if (unlink(r.file)) {
		d = reg_find(g, a.domain);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s has no managed save%s",
				       a.domain,
				       errno != ENOENT ?
					       " that can be removed" :
				       d ? " (it runs)" :
					   "");
	}
	unlink_ext(g, a.domain, ".why");
	unlink_ext(g, a.domain, ".boot");
	log_info("domain %s: managed save %s removed", a.domain, r.file);
	reply->ret = rpc_msg_encode(&rpc_msg_managed_removed, &r);
	return RPC_REPLY_RETURN;
}

enum rpc_reply_kind ctl_start_domain(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	struct rpc_start_args a;
	struct dom *d;

	if (!ctl_decode(&rpc_msg_start, args, &a, reply))
		return RPC_REPLY_ERROR;
	d = reg_find(g, a.domain);
	if (d)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "domain %s (id %u) exists already",
				       d->rec.name, d->rec.domid);
	if (!name_ok(a.domain))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "'%s' is not a domain name", a.domain);
	if (!managed_exists(g, a.domain))
		return rpc_reply_error(
			reply, RPC_ERR_DEVICE_NOT_FOUND,
			"domain %s has no managed save (godwit create CONFIG boots it)",
			a.domain);
	return managed_restore_for(req, a.domain, a.paused, false, reply);
}

/* ---- list ---- */

/* The row of one saved domain (new object), or NULL. */
static struct json_object *saved_json(struct gwd *g, const char *name)
{
	struct rpc_dom_info *o = calloc(1, sizeof(*o));
	char path[PATH_MAX], why[PATH_MAX];
	struct json_object *j;
	struct stat st;
	void *text = NULL;
	size_t len = 0;

	if (!o || managed_path(g, name, SAVE_EXT, path, sizeof(path)) ||
	    stat(path, &st)) {
		free(o);
		return NULL;
	}
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->domid = -1;
	snprintf(o->state, sizeof(o->state), "saved");
	o->memory_mib = (int64_t)(ctl_file_mem_bytes(path) >> 20);
	snprintf(o->origin, sizeof(o->origin), "managedsave");
	o->created = st.st_mtime;
	if (!managed_path(g, name, ".why", why, sizeof(why)) &&
	    !file_read_all(why, sizeof(o->reason) - 1, &text, &len))
		snprintf(o->reason, sizeof(o->reason), "restore failed: %.*s",
			 (int)len, (const char *)text);
	free(text);
	j = rpc_msg_encode(&rpc_msg_dom_info, o);
	free(o);
	return j;
}

void managed_each(struct gwd *g, const char *ext,
		  void (*fn)(struct gwd *g, const char *name, void *opaque),
		  void *opaque)
{
	char dir[PATH_MAX], name[DOMAIN_NAME_MAX + 1];
	size_t e = strlen(ext), n;
	struct dirent *de;
	DIR *dp;

	if (str_printf(dir, sizeof(dir), "%s/%s", g->paths.state_dir,
		       MANAGED_DIR) ||
	    !(dp = opendir(dir)))
		return;
	while ((de = readdir(dp))) {
		n = strlen(de->d_name);
		if (n <= e || n - e >= sizeof(name) ||
		    strcmp(de->d_name + n - e, ext))
			continue;
		memcpy(name, de->d_name, n - e);
		name[n - e] = 0;
		fn(g, name, opaque);
	}
	closedir(dp);
}

static void list_one(struct gwd *g, const char *name, void *opaque)
{
	struct json_object *j = name_ok(name) ? saved_json(g, name) : NULL;

	if (j)
		json_object_array_add(opaque, j);
}

void managed_list(struct gwd *g, struct json_object *arr)
{
	managed_each(g, SAVE_EXT, list_one, arr);
}
