/* Messages about domains and VMMs: members, defaults (msg_domain.h). */
#include "rpc/msg_domain.h"

#include "common/compiler.h"

static const struct rpc_field dom_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_dom_args, domain, RPC_F_REQUIRED),
};
const struct rpc_msg_type rpc_msg_dom =
	RPC_MSG_TYPE("domain", struct rpc_dom_args, dom_fields, true, NULL);

static const struct rpc_field shutdown_fields[] = {
	RPC_FIELD_STR("domain", struct rpc_shutdown_args, domain,
		      RPC_F_REQUIRED),
	RPC_FIELD_BOOL("wait", struct rpc_shutdown_args, wait, 0, false),
};
const struct rpc_msg_type rpc_msg_shutdown = RPC_MSG_TYPE(
	"shutdown", struct rpc_shutdown_args, shutdown_fields, true, NULL);

static const struct rpc_field create_fields[] = {
	RPC_FIELD_TEXT("config", struct rpc_create_args, config,
		       RPC_F_REQUIRED),
	RPC_FIELD_STR("file", struct rpc_create_args, file, RPC_F_OMIT_EMPTY),
	RPC_FIELD_TEXT_LIST("overrides", struct rpc_create_args, overrides,
			    nr_overrides, 0),
	RPC_FIELD_BOOL("paused", struct rpc_create_args, paused, 0, false),
	RPC_FIELD_STR("cwd", struct rpc_create_args, cwd, RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_create = RPC_MSG_TYPE(
	"create", struct rpc_create_args, create_fields, true, NULL);

static const struct rpc_field made_fields[] = {
	RPC_FIELD_INT("domid", struct rpc_dom_made, domid, 0, 0, INT64_MAX, 0),
	RPC_FIELD_STR("name", struct rpc_dom_made, name, 0),
	RPC_FIELD_STR("uuid", struct rpc_dom_made, uuid, 0),
	RPC_FIELD_TEXT_LIST("warnings", struct rpc_dom_made, warnings,
			    nr_warnings, 0),
};
const struct rpc_msg_type rpc_msg_dom_made = RPC_MSG_TYPE(
	"create (answer)", struct rpc_dom_made, made_fields, false, NULL);

static const struct rpc_field disk_fields[] = {
	RPC_FIELD_STR("vdev", struct rpc_disk_info, vdev, 0),
	RPC_FIELD_STR("target", struct rpc_disk_info, target, 0),
	RPC_FIELD_STR("access", struct rpc_disk_info, access, 0),
	RPC_FIELD_STR("script", struct rpc_disk_info, script, RPC_F_OMIT_EMPTY),
};
static const struct rpc_msg_type disk_type =
	RPC_MSG_TYPE("disk", struct rpc_disk_info, disk_fields, false, NULL);

static const struct rpc_field vif_fields[] = {
	RPC_FIELD_STR("mac", struct rpc_vif_info, mac, 0),
	RPC_FIELD_STR("bridge", struct rpc_vif_info, bridge, RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("vifname", struct rpc_vif_info, vifname,
		      RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("script", struct rpc_vif_info, script, RPC_F_OMIT_EMPTY),
};
static const struct rpc_msg_type vif_type =
	RPC_MSG_TYPE("vif", struct rpc_vif_info, vif_fields, false, NULL);

#define INT_FIELD(k, M) \
	RPC_FIELD_INT(k, struct rpc_dom_info, M, 0, INT64_MIN, INT64_MAX, 0)

static const struct rpc_field info_fields[] = {
	RPC_FIELD_STR("name", struct rpc_dom_info, name, 0),
	INT_FIELD("domid", domid),
	RPC_FIELD_STR("uuid", struct rpc_dom_info, uuid, 0),
	RPC_FIELD_STR("state", struct rpc_dom_info, state, 0),
	INT_FIELD("memory-mib", memory_mib),
	INT_FIELD("vcpus", vcpus),
	INT_FIELD("cpu-time-ns", cpu_time_ns),
	INT_FIELD("pid", pid),
	RPC_FIELD_STR("console", struct rpc_dom_info, console, 0),
	RPC_FIELD_STR("qmp", struct rpc_dom_info, qmp, 0),
	RPC_FIELD_STR("origin", struct rpc_dom_info, origin, 0),
	INT_FIELD("created", created),
	RPC_FIELD_STR("reason", struct rpc_dom_info, reason, 0),
	RPC_FIELD_LIST("disks", struct rpc_dom_info, disks, nr_disks, 0,
		       &disk_type),
	RPC_FIELD_LIST("vifs", struct rpc_dom_info, vifs, nr_vifs, 0,
		       &vif_type),
};
const struct rpc_msg_type rpc_msg_dom_info = RPC_MSG_TYPE(
	"list (answer)", struct rpc_dom_info, info_fields, false, NULL);

static const struct rpc_field console_fields[] = {
	RPC_FIELD_STR("type", struct rpc_console, type, 0),
	RPC_FIELD_STR("path", struct rpc_console, path, RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_console = RPC_MSG_TYPE(
	"console", struct rpc_console, console_fields, false, NULL);

static const struct rpc_field ended_fields[] = {
	RPC_FIELD_STR("end", struct rpc_vmm_ended, end, 0),
	RPC_FIELD_INT("status", struct rpc_vmm_ended, status, 0, INT64_MIN,
		      INT64_MAX, 0),
	RPC_FIELD_STR("reason", struct rpc_vmm_ended, reason, 0),
	RPC_FIELD_STR("job", struct rpc_vmm_ended, job, 0),
};
const struct rpc_msg_type rpc_msg_vmm_ended = RPC_MSG_TYPE(
	"VMM_ENDED", struct rpc_vmm_ended, ended_fields, false, NULL);

#define MS_FIELD(k, M, H)                                       \
	RPC_FIELD_OPT_INT(k, struct rpc_announce_args, M, H, 0, \
			  RPC_ANNOUNCE_MS_MAX)

static const struct rpc_field announce_fields[] = {
	MS_FIELD("initial", initial_ms, has_initial),
	MS_FIELD("max", max_ms, has_max),
	RPC_FIELD_OPT_INT("rounds", struct rpc_announce_args, rounds,
			  has_rounds, 0, RPC_ANNOUNCE_ROUNDS_MAX),
	MS_FIELD("step", step_ms, has_step),
};
const struct rpc_msg_type rpc_msg_announce = RPC_MSG_TYPE(
	"announce-self", struct rpc_announce_args, announce_fields, true, NULL);

#undef INT_FIELD
#define INT_FIELD(k, M) \
	RPC_FIELD_INT(k, struct rpc_vm_domain, M, 0, INT64_MIN, INT64_MAX, 0)

static const struct rpc_field vm_domain_fields[] = {
	RPC_FIELD_STR("name", struct rpc_vm_domain, name, 0),
	RPC_FIELD_STR("uuid", struct rpc_vm_domain, uuid, 0),
	INT_FIELD("memory-mib", memory_mib),
	INT_FIELD("vcpus", vcpus),
	RPC_FIELD_STR("status", struct rpc_vm_domain, status, 0),
	INT_FIELD("cpu-time-ns", cpu_time_ns),
	INT_FIELD("pid", pid),
};
const struct rpc_msg_type rpc_msg_vm_domain = RPC_MSG_TYPE(
	"query-domain", struct rpc_vm_domain, vm_domain_fields, false, NULL);

static const struct rpc_field vm_status_fields[] = {
	RPC_FIELD_BOOL("running", struct rpc_vm_status, running, 0, false),
	RPC_FIELD_BOOL("singlestep", struct rpc_vm_status, singlestep, 0,
		       false),
	RPC_FIELD_STR("status", struct rpc_vm_status, status, 0),
	RPC_FIELD_STR("reason", struct rpc_vm_status, reason, RPC_F_OMIT_EMPTY),
};
const struct rpc_msg_type rpc_msg_vm_status = RPC_MSG_TYPE(
	"query-status", struct rpc_vm_status, vm_status_fields, false, NULL);

static const struct rpc_field vm_config_fields[] = {
	RPC_FIELD_TEXT("config", struct rpc_vm_config, config, RPC_F_REQUIRED),
};
const struct rpc_msg_type rpc_msg_vm_config = RPC_MSG_TYPE(
	"query-config", struct rpc_vm_config, vm_config_fields, false, NULL);
