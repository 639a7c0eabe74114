/*
 * Running a network interface's vif hotplug script (hotplug.h): the
 * environment of Xen's vif scripts as libxl builds it, plus what those
 * scripts read from xenstore, through the runner disks use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/child.h"
#include "common/hotplug.h"
#include "common/util.h"

static const char *given(const char *s)
{
	return s && s[0] ? s : NULL;
}

static int vif_run(const struct hotplug_vif *h, const char *action, char *why,
		   size_t whylen)
{
	static const char *const keys[] = {
		"PATH",		 "script",	 "vif",		  "netdev",
		"GODWIT_ACTION", "GODWIT_VIF",	 "GODWIT_BRIDGE", "GODWIT_MAC",
		"GODWIT_IP",	 "GODWIT_DEVID", "GODWIT_DOMAIN", "GODWIT_UUID",
	};
	char label[32], devid[16], spath[4096], path[4096];
	struct hotplug_disk lookup = { .script = h->script,
				       .scripts_dir = h->scripts_dir };
	const char *vals[] = {
		HOTPLUG_PATH, spath,  h->vif,		"",
		action,	      h->vif, given(h->bridge), h->mac,
		given(h->ip), devid,  h->domain,	h->uuid,
	};
	struct hotplug_job j = {
		.label = label,
		.script = h->script,
		.scripts_dir = h->scripts_dir,
		.action = action,
		.args = { "type_if=vif", NULL },
		.env_keys = keys,
		.env_vals = vals,
		.nr_env = ARRAY_SIZE(keys),
		.timeout_ms = h->timeout_ms,
	};
	struct child_result *r = malloc(sizeof(*r));
	int rc;

	_Static_assert(ARRAY_SIZE(keys) == HOTPLUG_VIF_ENV_MAX, "env keys");
	_Static_assert(ARRAY_SIZE(vals) == HOTPLUG_VIF_ENV_MAX, "env values");
	if (!r)
		return -ENOMEM;
	snprintf(label, sizeof(label), "vif %s", h->vif);
	snprintf(devid, sizeof(devid), "%u", h->devid);
	if (hotplug_script_path(&lookup, spath, sizeof(spath)))
		spath[0] = 0; /* hotplug_run says the name is too long */
	rc = hotplug_run(&j, r, path, sizeof(path), why, whylen);
	free(r);
	return rc;
}

int hotplug_vif_online(const struct hotplug_vif *h, char *why, size_t whylen)
{
	return vif_run(h, "online", why, whylen);
}

int hotplug_vif_offline(const struct hotplug_vif *h, char *why, size_t whylen)
{
	return vif_run(h, "offline", why, whylen);
}
