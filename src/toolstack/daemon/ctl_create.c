/*
 * The create command: parse the client's xl.cfg text with its key=value
 * overrides (config.h), refuse a name or uuid that is taken, record the
 * domain in the registry (its canonical config text, which carries the
 * uuid, so restarts keep it), spawn its VMM, and answer once the VMM's
 * control socket answers, or with why it did not start.
 *
 *   create {config: TEXT, file: NAME, overrides: [K=V...], paused: BOOL,
 *           cwd: DIR}
 *
 * Relative paths in the config (kernel, ramdisk, disks, scripts, serial
 * file) are the client's: they are resolved against cwd, the client's
 * directory.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "rpc/msg_domain.h"
#include "rpc/sock.h"
#include "toolstack/daemon/managed.h"

/* The arguments (rpc/msg_domain.h), with godwitd's own limit. */
static bool parse_args(struct json_object *args, struct rpc_create_args *a,
		       struct rpc_reply *reply)
{
	if (!ctl_decode(&rpc_msg_create, args, a, reply))
		return false;
	if (a->nr_overrides > CONFIG_OVERRIDES_MAX) {
		rpc_reply_error(reply, RPC_ERR_GENERIC,
				"create: at most %d overrides",
				CONFIG_OVERRIDES_MAX);
		return false;
	}
	return true;
}

/* Make path absolute against cwd; -EINVAL if it cannot be. */
static int absolutize(char *path, size_t size, const char *cwd,
		      const char *what, struct rpc_reply *reply)
{
	char buf[DOMAIN_PATH_MAX + 1];

	if (!path[0] || path[0] == '/')
		return 0;
	if (!cwd || cwd[0] != '/') {
		rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"create: %s '%s' is relative and no absolute 'cwd' was given",
			what, path);
		return -EINVAL;
	}
	if (str_printf(buf, sizeof(buf), "%s/%s", cwd, path) ||
	    strlen(buf) >= size) {
		rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"create: %s '%s' is too long once made absolute", what,
			path);
		return -ENAMETOOLONG;
	}
	strcpy(path, buf);
	return 0;
}

static int absolute_paths(struct domain_config *c, const char *cwd,
			  struct rpc_reply *reply)
{
	unsigned int i;
	int rc;

	rc = absolutize(c->kernel, sizeof(c->kernel), cwd, "kernel", reply);
	if (!rc)
		rc = absolutize(c->ramdisk, sizeof(c->ramdisk), cwd, "ramdisk",
				reply);
	if (!rc && c->serial == DOMAIN_SERIAL_FILE)
		rc = absolutize(c->serial_path, sizeof(c->serial_path), cwd,
				"serial file", reply);
	/* A script's target is its own business; a script path is ours. */
	for (i = 0; !rc && i < c->nr_disks; i++) {
		if (!c->disks[i].script[0])
			rc = absolutize(c->disks[i].target,
					sizeof(c->disks[i].target), cwd, "disk",
					reply);
		else if (strchr(c->disks[i].script, '/'))
			rc = absolutize(c->disks[i].script,
					sizeof(c->disks[i].script), cwd,
					"disk script", reply);
	}
	for (i = 0; !rc && i < c->nr_vifs; i++)
		if (strchr(c->vifs[i].script, '/'))
			rc = absolutize(c->vifs[i].script,
					sizeof(c->vifs[i].script), cwd,
					"vif script", reply);
	return rc;
}

/* Is a VM (outside this daemon) answering on path? */
static bool socket_answers(const char *path)
{
	int fd = rpc_sock_connect(path, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int check_free(struct gwd *g, const struct domain_config *c,
		      const char *qmp, struct rpc_reply *reply)
{
	char uuid[DOMAIN_UUID_STR_LEN + 1];
	struct dom *o;

	domain_config_uuid_format(c->uuid, uuid);
	if ((o = reg_by_name(g, c->name))) {
		rpc_reply_error(reply, RPC_ERR_GENERIC,
				"a domain named '%s' already exists (id %u)",
				c->name, o->rec.domid);
		return -EEXIST;
	}
	if ((o = reg_by_uuid(g, uuid))) {
		rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"uuid %s is already used by domain '%s' (id %u)", uuid,
			o->rec.name, o->rec.domid);
		return -EEXIST;
	}
	if (socket_answers(qmp)) {
		rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"a VM named '%s' already runs outside godwitd (%s answers)",
			c->name, qmp);
		return -EEXIST;
	}
	return 0;
}

/* Refuse what the host or the cgroup cannot hold (memcheck.h). */
static int check_memory(struct gwd *g, const struct domain_config *c,
			struct rpc_reply *reply)
{
	char why[512];

	if (!gwd_mem_check(g, (uint64_t)c->memory_mib << 20, why, sizeof(why)))
		return 0;
	log_err("create %s: refused: %s", c->name, why);
	rpc_reply_error(reply, RPC_ERR_GENERIC, "create %s: %s", c->name, why);
	return -ENOMEM;
}

/* The answer's warnings; attach.c adds who the domain is once it runs. */
static struct json_object *warnings_json(const struct config_diag *diag)
{
	struct rpc_dom_made m;
	unsigned int i;

	rpc_msg_init(&rpc_msg_dom_made, &m);
	for (i = 0; i < diag->nr_warnings && i < RPC_WARNINGS_MAX; i++)
		m.warnings[m.nr_warnings++] = diag->warnings[i];
	return rpc_msg_encode(&rpc_msg_dom_made, &m);
}

/* Registry entry, config file, VMM: the domain exists from here on. */
static int start_domain(struct gwd *g, struct domain_config *cfg,
			const char *qmp, bool paused, struct dom **dom_out)
{
	char *text = malloc(DOMAIN_CONFIG_TEXT_MAX);
	struct dom *d = NULL;
	int rc;

	rc = text ? domain_config_format(cfg, text, DOMAIN_CONFIG_TEXT_MAX) :
		    -ENOMEM;
	if (!rc)
		rc = reg_new(g, &d);
	if (rc) {
		free(text);
		free(cfg);
		return rc;
	}
	d->registered = true;
	d->cfg = cfg;
	d->config_text = text;
	d->rec.origin = ORIGIN_CREATE;
	d->rec.domid = reg_next_domid(g);
	snprintf(d->rec.name, sizeof(d->rec.name), "%s", cfg->name);
	domain_config_uuid_format(cfg->uuid, d->rec.uuid);
	strcpy(d->rec.qmp, qmp);
	rc = reg_make_dir(d);
	if (!rc)
		rc = str_printf(d->rec.exit_file, sizeof(d->rec.exit_file),
				"%s/exit", d->rec.dir);
	if (!rc)
		rc = reg_write_config(d);
	if (!rc)
		rc = spawn_vmm(d, SPAWN_RUN, NULL, -1, paused);
	if (!rc)
		rc = attach_start(d);
	reg_save(d);
	*dom_out = d;
	return rc;
}

enum rpc_reply_kind ctl_create(struct rpc_request *req,
			       struct json_object *args,
			       struct rpc_reply *reply)
{
	struct gwd *g = req->opaque;
	struct domain_config *cfg = malloc(sizeof(*cfg));
	struct config_diag *diag = malloc(sizeof(*diag));
	enum rpc_reply_kind kind = RPC_REPLY_ERROR;
	char qmp[PATH_MAX], uuid[DOMAIN_UUID_STR_LEN + 1];
	struct rpc_create_args a;
	struct dom *d = NULL;
	unsigned int i;
	int rc;

	if (!cfg || !diag) {
		kind = rpc_reply_error(reply, RPC_ERR_GENERIC, "out of memory");
		goto out;
	}
	if (!parse_args(args, &a, reply))
		goto out;
	rc = domain_config_parse(a.file[0] ? a.file : "config", a.config,
				 strlen(a.config), a.overrides, a.nr_overrides,
				 cfg, diag);
	if (rc) {
		rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", diag->error);
		goto out;
	}
	domain_config_uuid_format(cfg->uuid, uuid);
	log_ctx_set(cfg->name, uuid, "create");
	for (i = 0; i < diag->nr_warnings; i++)
		log_warn("create %s: %s", cfg->name, diag->warnings[i]);
	if (absolute_paths(cfg, a.cwd[0] ? a.cwd : NULL, reply) ||
	    reg_qmp_path(g, cfg->name, qmp, sizeof(qmp)) ||
	    check_free(g, cfg, qmp, reply))
		goto out;
	/* A managed save of this domain is restored, not booted over. */
	if (managed_exists(g, cfg->name)) {
		log_info("create %s: it has a managed save: restoring it",
			 cfg->name);
		kind = managed_restore_for(req, cfg->name, a.paused, true,
					   reply);
		goto out;
	}
	if (check_memory(g, cfg, reply))
		goto out;
	rc = start_domain(g, cfg, qmp, a.paused, &d);
	cfg = NULL; /* d has it, or it was freed */
	if (rc) {
		rpc_reply_error(reply, RPC_ERR_GENERIC,
				"create %s: cannot start its VMM: %s",
				d ? d->rec.name : "", strerror(-rc));
		if (d) {
			i = d->rec.domid;
			reg_discard(d);
			reg_return_domid(g, i);
		}
		goto out;
	}
	log_info("domain %s (id %u): created, VMM %d", d->rec.name,
		 d->rec.domid, (int)d->pid);
	if (dom_wait_add(d, WAIT_UP, req->call, warnings_json(diag)))
		log_warn("domain %s: cannot wait for it", d->rec.name);
	kind = RPC_REPLY_LATER;
out:
	free(cfg);
	free(diag);
	return kind;
}
