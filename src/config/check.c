/*
 * Whole-configuration rules, applied once after the file and the
 * overrides: required keys, defaults that depend on other keys (maxmem,
 * maxvcpus), xl's kernel command line from root and extra, and the
 * generated uuid. Settings that godwit accepts but cannot honour yet
 * (ballooning, vCPU hotplug) are warnings.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/why.h"
#include "config/internal.h"

int domain_config_check_memory(uint64_t memory_mib, char *why, size_t whylen)
{
	/* Guest RAM is mapped and dirty-logged in 2 MiB steps (vmm/). */
	if (memory_mib % 2)
		return why_set(why, whylen, -EINVAL,
			       "%llu MiB is not a multiple of 2 MiB",
			       (unsigned long long)memory_mib);
	return 0;
}

static bool is_set(const struct config_build *b, enum config_key k)
{
	return b->loc[k].line != 0;
}

static int check_memory(struct config_build *b)
{
	struct domain_config *cfg = &b->cfg;
	const struct config_loc *loc = &b->loc[CONFIG_KEY_MAXMEM];
	char why[80];

	if (domain_config_check_memory(cfg->memory_mib, why, sizeof(why)))
		return config_error(b->diag, &b->loc[CONFIG_KEY_MEMORY],
				    "memory", "%s", why);
	if (!is_set(b, CONFIG_KEY_MAXMEM))
		cfg->maxmem_mib = cfg->memory_mib;
	if (cfg->maxmem_mib < cfg->memory_mib)
		return config_error(b->diag, loc, "maxmem",
				    "%llu MiB is below memory (%llu MiB)",
				    (unsigned long long)cfg->maxmem_mib,
				    (unsigned long long)cfg->memory_mib);
	if (cfg->maxmem_mib > cfg->memory_mib)
		config_warning(
			b->diag, loc, "maxmem",
			"above memory, but ballooning is not supported: the guest gets %llu MiB",
			(unsigned long long)cfg->memory_mib);
	return 0;
}

static int check_vcpus(struct config_build *b)
{
	struct domain_config *cfg = &b->cfg;
	const struct config_loc *loc = &b->loc[CONFIG_KEY_MAXVCPUS];

	if (!is_set(b, CONFIG_KEY_MAXVCPUS))
		cfg->maxvcpus = cfg->vcpus;
	if (cfg->maxvcpus < cfg->vcpus)
		return config_error(b->diag, loc, "maxvcpus",
				    "%u is below vcpus (%u)", cfg->maxvcpus,
				    cfg->vcpus);
	if (cfg->maxvcpus > cfg->vcpus)
		config_warning(
			b->diag, loc, "maxvcpus",
			"above vcpus, but vCPU hotplug is not supported: the guest gets %u",
			cfg->vcpus);
	return 0;
}

/* xl: cmdline wins; else "root=ROOT EXTRA", either part optional. */
static int check_cmdline(struct config_build *b)
{
	char *out = b->cfg.cmdline;
	enum config_key key;
	size_t rlen = strlen(b->root), elen = strlen(b->extra), n;

	if (is_set(b, CONFIG_KEY_CMDLINE)) {
		if (is_set(b, CONFIG_KEY_ROOT) || is_set(b, CONFIG_KEY_EXTRA))
			config_warning(b->diag, &b->loc[CONFIG_KEY_CMDLINE],
				       "cmdline",
				       "set, so root and extra are ignored");
		return 0;
	}
	n = (rlen ? 5 + rlen : 0) + (rlen && elen ? 1 : 0) + elen;
	key = is_set(b, CONFIG_KEY_EXTRA) ? CONFIG_KEY_EXTRA : CONFIG_KEY_ROOT;
	if (n > DOMAIN_CMDLINE_MAX)
		return config_error(
			b->diag, &b->loc[key],
			key == CONFIG_KEY_ROOT ? "root" : "extra",
			"kernel command line from root and extra too long (max %d bytes)",
			DOMAIN_CMDLINE_MAX);
	memset(out, 0, sizeof(b->cfg.cmdline));
	if (rlen)
		snprintf(out, DOMAIN_CMDLINE_MAX + 1, "root=%s%s", b->root,
			 elen ? " " : "");
	memcpy(out + strlen(out), b->extra, elen);
	return 0;
}

static int check_uuid(struct config_build *b, const char *file)
{
	struct config_loc where = { file, 0, 0 };
	int rc;

	if (b->cfg.uuid_given)
		return 0;
	rc = domain_config_uuid_generate(b->cfg.uuid);
	if (rc)
		config_error(b->diag, &where, "uuid", "cannot generate: %s",
			     strerror(-rc));
	return rc;
}

int config_finish(struct config_build *b, const char *file)
{
	struct config_loc where = { file, 0, 0 };
	int rc;

	if (!is_set(b, CONFIG_KEY_NAME))
		return config_error(b->diag, &where, "name",
				    "required key is missing");
	rc = check_memory(b);
	if (!rc)
		rc = check_vcpus(b);
	if (!rc)
		rc = check_cmdline(b);
	if (!rc)
		rc = check_uuid(b, file);
	return rc;
}
