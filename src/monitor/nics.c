/*
 * Network interfaces of the VM (nics.h): taps, their setup and scripts,
 * and announcements, including the control socket's announce-self
 * (QEMU's command and argument names).
 *
 * Taps are opened on the monitor's main thread before the VM exists;
 * their fds go to the devices through the machine description (device
 * arguments), and are closed only after the devices are destroyed.
 */
#include "monitor/nics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hotplug.h"
#include "common/log.h"
#include "common/util.h"
#include "devices/virtio/net.h"
#include "monitor/internal.h"
#include "net/tap.h"
#include "rpc/msg_domain.h"

#define NIC_RUNNING_WAIT_MS 3000

/* GODWIT_HOTPLUG_TIMEOUT_MS, else the default (as for disks). */
static unsigned int nic_timeout_ms(void)
{
	const char *s = getenv("GODWIT_HOTPLUG_TIMEOUT_MS");
	uint64_t v;

	if (s && !parse_u64(s, &v) && v > 0 && v <= 3600000)
		return (unsigned int)v;
	return HOTPLUG_TIMEOUT_MS_DEFAULT;
}

static struct hotplug_vif nic_hotplug(const struct monitor *m, unsigned int i,
				      const char *mac, const char *uuid)
{
	const struct domain_vif *v = &m->cfg.vifs[i];

	return (struct hotplug_vif){
		.script = v->script,
		.vif = m->nics.n[i].tap,
		.bridge = v->bridge,
		.mac = mac,
		.ip = v->ip,
		.devid = i,
		.domain = m->cfg.name,
		.uuid = uuid,
		.timeout_ms = nic_timeout_ms(),
	};
}

/* The vif's script online, or godwit's own setup. */
static int nic_setup(struct monitor *m, unsigned int i, char *why,
		     size_t whylen)
{
	const struct domain_vif *v = &m->cfg.vifs[i];
	struct monitor_nic *n = &m->nics.n[i];
	char mac[DOMAIN_MAC_STR_LEN + 1], uuid[DOMAIN_UUID_STR_LEN + 1];
	struct hotplug_vif h;
	int rc;

	if (!v->script[0])
		return tap_plug(n->tap, v->bridge, why, whylen);
	domain_config_mac_format(v->mac, mac);
	domain_config_uuid_format(m->cfg.uuid, uuid);
	h = nic_hotplug(m, i, mac, uuid);
	rc = hotplug_vif_online(&h, why, whylen);
	n->online = !rc;
	return rc;
}

/*
 * Until the tap's link runs, the bridge does not forward on it: wait for
 * that here, before the VM runs (or before a destination answers
 * RECEIVED, while the source still runs), not after it resumed.
 */
static void nic_wait_running(struct monitor *m, unsigned int i)
{
	uint64_t t0 = time_mono_ns();
	int rc = tap_wait_running(m->nics.n[i].tap, NIC_RUNNING_WAIT_MS);

	if (rc)
		log_warn(
			"vm %s: vif %u: tap %s: link not running after %u ms (%s): frames may be lost until it is",
			m->cfg.name, i, m->nics.n[i].tap, NIC_RUNNING_WAIT_MS,
			strerror(-rc));
	else
		log_debug("vm %s: vif %u: link running after %llu us",
			  m->cfg.name, i,
			  (unsigned long long)((time_mono_ns() - t0) /
					       NSEC_PER_USEC));
}

/* "gw<pid>.<i>" unless the vif names its tap (Xen: vif<domid>.<devid>). */
static int nic_open_one(struct monitor *m, unsigned int i, char *why,
			size_t whylen)
{
	const struct domain_vif *v = &m->cfg.vifs[i];
	struct monitor_nic *n = &m->nics.n[i];
	char name[IFNAMSIZ], tap_why[200];
	int rc;

	if (v->vifname[0])
		snprintf(name, sizeof(name), "%s", v->vifname);
	else
		snprintf(name, sizeof(name), "gw%d.%u", (int)getpid(), i);
	rc = tap_open(name, &n->tap_fd, n->tap, tap_why, sizeof(tap_why));
	if (rc) {
		snprintf(why, whylen, "vif %u: %s", i, tap_why);
		return rc;
	}
	rc = nic_setup(m, i, why, whylen);
	if (!rc)
		nic_wait_running(m, i);
	if (!rc)
		log_info("vm %s: vif %u: tap %s, %s %s", m->cfg.name, i, n->tap,
			 v->script[0] ? "set up by" : "bridge",
			 v->script[0] ? v->script :
			 v->bridge[0] ? v->bridge :
					"none");
	return rc;
}

int monitor_nics_open(struct monitor *m, char *why, size_t whylen)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; i < DOMAIN_VIFS_MAX; i++)
		m->nics.n[i].tap_fd = -1;
	for (i = 0; i < m->cfg.nr_vifs && !rc; i++) {
		m->nics.nr = i + 1;
		rc = nic_open_one(m, i, why, whylen);
	}
	if (rc)
		monitor_nics_close(m);
	return rc;
}

void monitor_nics_close(struct monitor *m)
{
	char mac[DOMAIN_MAC_STR_LEN + 1], uuid[DOMAIN_UUID_STR_LEN + 1];
	char why[512];
	struct hotplug_vif h;
	unsigned int i;

	evloop_timer_free(m->nics.timer);
	m->nics.timer = NULL;
	domain_config_uuid_format(m->cfg.uuid, uuid);
	for (i = m->nics.nr; i-- > 0;) {
		struct monitor_nic *n = &m->nics.n[i];

		/* Offline while the tap still exists: the script undoes. */
		if (n->online) {
			domain_config_mac_format(m->cfg.vifs[i].mac, mac);
			h = nic_hotplug(m, i, mac, uuid);
			if (hotplug_vif_offline(&h, why, sizeof(why)))
				log_err("%s", why);
			n->online = false;
		}
		if (n->tap_fd >= 0)
			close(n->tap_fd);
		n->tap_fd = -1;
	}
	m->nics.nr = 0;
}

/* ---- Announcements ------------------------------------------------------ */

static struct virtio_net *nic_dev(struct monitor *m, unsigned int i)
{
	char id[DEVICE_ID_LEN];

	snprintf(id, sizeof(id), "vif-%u", i);
	return devreg_dev(&m->devs, id);
}

/* RARP from every NIC, all at once. */
static void nic_rarp(struct monitor *m)
{
	struct virtio_net *n;
	unsigned int i;
	int rc;

	for (i = 0; i < m->cfg.nr_vifs; i++) {
		n = nic_dev(m, i);
		rc = n ? virtio_net_send_rarp(n) : 0;
		if (rc)
			log_warn(
				"vm %s: vif %u: cannot send the announcement: %s",
				m->cfg.name, i, strerror(-rc));
	}
}

/* Every guest that can announce itself is asked to; how many were. */
static unsigned int nic_ask(struct monitor *m)
{
	struct virtio_net *n;
	unsigned int i, asked = 0;

	for (i = 0; i < m->cfg.nr_vifs; i++) {
		n = nic_dev(m, i);
		asked += n && virtio_net_ask_guest(n);
	}
	return asked;
}

static void nic_next(struct monitor *m)
{
	uint32_t gap;

	if (m->nics.done >= m->nics.params.rounds || !m->nics.timer)
		return;
	gap = announce_gap_ms(&m->nics.params, m->nics.done);
	evloop_timer_arm(m->nics.timer, gap * NSEC_PER_MSEC, 0);
}

/*
 * Only the host that runs the VM announces it: not once a migration has
 * paused it for the final copy (its NICs are about to be elsewhere), nor
 * after it was handed over; a late round from here would undo the
 * destination's.
 */
static bool nic_may_announce(struct monitor *m)
{
	if (m->state != RUN_RUNNING && m->state != RUN_PAUSED)
		return false;
	return !(m->mig &&
		 __atomic_load_n(&m->mig->res.paused, __ATOMIC_RELAXED));
}

static void nic_timer(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct monitor *m = opaque;

	if (!nic_may_announce(m)) {
		log_debug(
			"vm %s: announcement rounds stopped: the VM is moving",
			m->cfg.name);
		return; /* no more rounds: a VM that runs again starts anew */
	}
	nic_rarp(m);
	nic_ask(m);
	m->nics.done++;
	nic_next(m);
}

/* The first round was sent: the rest on p's schedule from the loop. */
static void nic_schedule(struct monitor *m)
{
	m->nics.done = 1;
	if (!m->nics.timer &&
	    evloop_timer_new(m->loop, nic_timer, m, &m->nics.timer)) {
		log_warn("vm %s: no timer for the later announcement rounds",
			 m->cfg.name);
		return;
	}
	nic_next(m);
}

static void nic_params(struct monitor *m, const struct announce_params *p)
{
	if (p)
		m->nics.params = *p;
	else
		announce_params_default(&m->nics.params);
	m->nics.done = 0;
	if (m->nics.timer)
		evloop_timer_disarm(m->nics.timer);
}

void monitor_nics_announce(struct monitor *m, const struct announce_params *p)
{
	unsigned int asked;

	nic_params(m, p);
	if (!m->cfg.nr_vifs || !m->nics.params.rounds)
		return;
	nic_rarp(m);
	asked = nic_ask(m);
	log_info(
		"vm %s: announced %u NIC%s (RARP; %u guest%s asked); %u more round%s",
		m->cfg.name, m->cfg.nr_vifs, m->cfg.nr_vifs == 1 ? "" : "s",
		asked, asked == 1 ? "" : "s", m->nics.params.rounds - 1,
		m->nics.params.rounds == 2 ? "" : "s");
	nic_schedule(m);
}

int monitor_nics_resume(struct monitor *m, int (*start)(struct monitor *m))
{
	uint64_t t0, t1, t2;
	unsigned int asked;
	int rc;

	nic_params(m, NULL);
	if (!m->cfg.nr_vifs)
		return start(m);
	t0 = time_mono_ns();
	nic_rarp(m); /* the VM is ours: frames for it may come here now */
	t1 = time_mono_ns();
	rc = start(m);
	if (rc)
		return rc;
	t2 = time_mono_ns();
	asked = nic_ask(m);
	log_info(
		"vm %s: announced %u NIC%s (RARP; %u guest%s asked): RARP sent in %llu us, %llu us before the vCPUs started; %u more rounds",
		m->cfg.name, m->cfg.nr_vifs, m->cfg.nr_vifs == 1 ? "" : "s",
		asked, asked == 1 ? "" : "s",
		(unsigned long long)((t1 - t0) / NSEC_PER_USEC),
		(unsigned long long)((t2 - t1) / NSEC_PER_USEC),
		m->nics.params.rounds - 1);
	nic_schedule(m);
	return 0;
}

/* ---- announce-self (QMP) ------------------------------------------------ */

_Static_assert(RPC_ANNOUNCE_MS_MAX == ANNOUNCE_LIMIT_MS &&
		       RPC_ANNOUNCE_ROUNDS_MAX == ANNOUNCE_ROUNDS_MAX,
	       "announce-self's limits");

/* QEMU's announce-self arguments (rpc/msg_domain.h) over the defaults. */
static void nic_args(const struct rpc_announce_args *a,
		     struct announce_params *p)
{
	announce_params_default(p);
	if (a->has_initial)
		p->initial_ms = (uint32_t)a->initial_ms;
	if (a->has_max)
		p->max_ms = (uint32_t)a->max_ms;
	if (a->has_rounds)
		p->rounds = (uint32_t)a->rounds;
	if (a->has_step)
		p->step_ms = (uint32_t)a->step_ms;
}

enum rpc_reply_kind monitor_cmd_announce_self(struct rpc_request *req,
					      struct json_object *args,
					      struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct rpc_announce_args a;
	struct announce_params p;
	char why[RPC_MSG_WHY_MAX];

	if (rpc_msg_decode(&rpc_msg_announce, args, &a, why, sizeof(why)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	nic_args(&a, &p);
	if (!nic_may_announce(m))
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "the VM is not running here (%s)",
				       monitor_status_name(m));
	if (!m->cfg.nr_vifs)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "the VM has no network interface");
	monitor_nics_announce(m, &p);
	return RPC_REPLY_RETURN;
}
