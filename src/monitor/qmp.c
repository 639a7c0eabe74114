/*
 * The VM's control socket: QMP-shaped commands to query, pause, resume,
 * quit, power down (the ACPI power button) and save the VM. Handlers run
 * on the loop thread and never block; a save runs on its own thread and
 * answers later (savejob.c).
 */
#include "monitor/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/util.h"

#include "common/log.h"
#include "rpc/msg_domain.h"

static struct monitor *req_monitor(struct rpc_request *req)
{
	return req->opaque;
}

void monitor_event(struct monitor *m, const char *name,
		   struct json_object *data)
{
	if (m->rpc)
		rpc_server_event(m->rpc, name, data);
	else
		json_object_put(data);
}

static bool vm_gone(struct monitor *m)
{
	return m->state == RUN_SHUTDOWN || m->state == RUN_POSTMIGRATE;
}

static enum rpc_reply_kind reply_not_running(struct monitor *m,
					     struct rpc_reply *reply)
{
	return rpc_reply_error(reply, RPC_ERR_GENERIC,
			       "the VM is not running (%s)",
			       run_state_name(m->state));
}

static enum rpc_reply_kind cmd_query_status(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);
	struct rpc_vm_status st = { .singlestep = false };

	snprintf(st.status, sizeof(st.status), "%s", monitor_status_name(m));
	st.running = !strcmp(st.status, "running");
	/* Why a VM is not running when it is not obvious: godwit's own. */
	if (m->state == RUN_UNCONFIRMED)
		snprintf(st.reason, sizeof(st.reason), "%s", m->mig_info.error);
	reply->ret = rpc_msg_encode(&rpc_msg_vm_status, &st);
	return RPC_REPLY_RETURN;
}

/* Guest CPU time of the whole process, for xl list's Time(s). */
static uint64_t cpu_time_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

static enum rpc_reply_kind cmd_query_domain(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);
	struct rpc_vm_domain d = {
		.memory_mib = m->cfg.memory_mib,
		.vcpus = m->cfg.vcpus,
		.cpu_time_ns = cpu_time_ns(),
		.pid = getpid(),
	};

	snprintf(d.name, sizeof(d.name), "%s", m->cfg.name);
	domain_config_uuid_format(m->cfg.uuid, d.uuid);
	snprintf(d.status, sizeof(d.status), "%s", monitor_status_name(m));
	reply->ret = rpc_msg_encode(&rpc_msg_vm_domain, &d);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind cmd_query_console(struct rpc_request *req,
					     struct json_object *args,
					     struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);
	struct rpc_console c = { .path = "" };

	snprintf(c.type, sizeof(c.type), "%s",
		 domain_config_serial_name(m->cfg.serial));
	if (m->console.pty_path[0])
		snprintf(c.path, sizeof(c.path), "%s", m->console.pty_path);
	else if (m->cfg.serial == DOMAIN_SERIAL_FILE)
		snprintf(c.path, sizeof(c.path), "%s", m->cfg.serial_path);
	reply->ret = rpc_msg_encode(&rpc_msg_console, &c);
	return RPC_REPLY_RETURN;
}

/* The VM's configuration as xl.cfg text, every default explicit. */
static enum rpc_reply_kind cmd_query_config(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);
	struct rpc_vm_config c;
	uint32_t len;
	char *text;

	if (monitor_config_text(m, &text, &len))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot format the configuration");
	c.config = text;
	reply->ret = rpc_msg_encode(&rpc_msg_vm_config, &c);
	free(text);
	return RPC_REPLY_RETURN;
}

/*
 * stop and cont: the user's pause, which nests with the pause of a save
 * in progress (vm_pause counts), so neither undoes the other. During a
 * save the state stays RUN_SAVING: the save's end sets it.
 */
static enum rpc_reply_kind user_pause(struct monitor *m, bool pause,
				      struct rpc_reply *reply)
{
	int rc;

	if (vm_gone(m))
		return reply_not_running(m, reply);
	if (m->user_paused == pause)
		return RPC_REPLY_RETURN; /* already so: like QEMU, fine */
	rc = pause ? vm_pause(&m->vm) : vm_resume(&m->vm);
	if (rc)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot %s the vCPUs",
				       pause ? "pause" : "resume");
	m->user_paused = pause;
	if (m->state == RUN_RUNNING || m->state == RUN_PAUSED)
		m->state = pause ? RUN_PAUSED : RUN_RUNNING;
	monitor_event(m, pause ? "STOP" : "RESUME", NULL);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind cmd_stop(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	return user_pause(req_monitor(req), true, reply);
}

/*
 * After YOURS the VM is the destination's until its word or the
 * operator's migrate-resolve says otherwise: resuming it here on a plain
 * cont could run it twice.
 */
static enum rpc_reply_kind cmd_cont(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);

	if (m->state == RUN_UNCONFIRMED)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"the VM was handed over to %s without confirmation and may run there: settle it with 'godwit migrate-resolve DOMAIN --resume-here' or '--discard'",
			m->mig_info.uri);
	if (monitor_migration_committed(m))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"the VM is being handed over to the destination");
	return user_pause(m, false, reply);
}

static enum rpc_reply_kind cmd_quit(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);

	if (m->state == RUN_UNCONFIRMED)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"the VM was handed over without confirmation; settle it with migrate-resolve first");
	if (m->save || m->mig)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"a save or migration is in progress; wait for it to end or cancel it");
	monitor_end(m, 0, "quit requested on the control socket");
	return RPC_REPLY_RETURN;
}

/*
 * Reset the VM (QEMU's system_reset, xl reboot): it ends as a guest
 * reset does, so godwitd's on_reboot decides (by default it builds the
 * domain again, as Xen restarts a rebooted PVH domain). Refused while a
 * save or migration runs.
 */
static enum rpc_reply_kind cmd_system_reset(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);

	if (m->state != RUN_RUNNING && m->state != RUN_PAUSED)
		return reply_not_running(m, reply);
	if (m->save || m->mig)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"a save or migration is in progress; reset the VM after it ends");
	log_info("vm %s: reset requested on the control socket", m->cfg.name);
	vm_request_stop(&m->vm, VM_STOP_RESET, VM_STATUS_RESET,
			"reset requested on the control socket (system_reset)");
	return RPC_REPLY_RETURN;
}

/*
 * Press the guest's power button (xl shutdown, virsh shutdown): the GED
 * raises its interrupt and the guest's ACPI code decides what to do, so
 * this returns at once and the VM ends later, or never if the guest
 * ignores the button. A paused VM keeps the press pending; it travels
 * with a save or migration started afterwards. Refused while a save or
 * migration runs, whose device snapshot might already be taken.
 */
static enum rpc_reply_kind cmd_system_powerdown(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply)
{
	struct monitor *m = req_monitor(req);

	if (m->state != RUN_RUNNING && m->state != RUN_PAUSED)
		return reply_not_running(m, reply);
	if (m->save || m->mig)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"a save or migration is in progress; press the power button after it ends");
	ged_power_button(m->ged);
	log_info("vm %s: power button pressed", m->cfg.name);
	monitor_event(m, "POWERDOWN", NULL);
	return RPC_REPLY_RETURN;
}

/* Fill m->qmp_cmds (the server borrows it); returns the entry count. */
static size_t qmp_table(struct monitor *m)
{
	const struct rpc_command cmds[] = {
		{ "query-status", cmd_query_status, m },
		{ "query-domain", cmd_query_domain, m },
		{ "query-console", cmd_query_console, m },
		{ "query-config", cmd_query_config, m },
		{ "stop", cmd_stop, m },
		{ "cont", cmd_cont, m },
		{ "quit", cmd_quit, m },
		{ "system_powerdown", cmd_system_powerdown, m },
		{ "system_reset", cmd_system_reset, m },
		{ "save", monitor_cmd_save, m },
		{ "query-save", monitor_cmd_query_save, m },
		{ "save-cancel", monitor_cmd_save_cancel, m },
		{ "migrate", monitor_cmd_migrate, m },
		{ "migrate_cancel", monitor_cmd_migrate_cancel, m },
		{ "query-migrate", monitor_cmd_query_migrate, m },
		{ "migrate-resolve", monitor_cmd_migrate_resolve, m },
		{ "migrate-recover", monitor_cmd_migrate_recover, m },
		{ "announce-self", monitor_cmd_announce_self, m },
		{ "migrate-set-parameters", monitor_cmd_migrate_set_parameters,
		  m },
		{ "query-migrate-parameters",
		  monitor_cmd_query_migrate_parameters, m },
		{ "migrate-set-capabilities",
		  monitor_cmd_migrate_set_capabilities, m },
		{ "query-migrate-capabilities",
		  monitor_cmd_query_migrate_capabilities, m },
	};

	_Static_assert(ARRAY_SIZE(cmds) <= ARRAY_SIZE(m->qmp_cmds),
		       "qmp table");
	memcpy(m->qmp_cmds, cmds, sizeof(cmds));
	return ARRAY_SIZE(cmds);
}

int monitor_qmp_start(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	int rc;

	if (o->no_qmp)
		return 0;
	if (o->qmp_path[0])
		rc = str_printf(m->qmp_path, sizeof(m->qmp_path), "%s",
				o->qmp_path);
	else
		rc = monitor_default_qmp_path(m->cfg.name, m->qmp_path,
					      sizeof(m->qmp_path));
	if (rc)
		return rc;
	rc = rpc_server_new(m->loop, m->qmp_cmds, qmp_table(m), &m->rpc);
	if (rc)
		return rc;
	rc = rpc_server_listen(m->rpc, m->qmp_path);
	if (rc)
		log_err("control socket %s: %s", m->qmp_path, strerror(-rc));
	return rc;
}
