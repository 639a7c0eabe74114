/*
 * From a domain configuration to the devices it adds (machine.h).
 */
#include "machine/machine.h"

#include <string.h>

int machine_build(struct machine *mc, const struct domain_config *cfg,
		  const struct machine_backends *be, char *why, size_t whylen)
{
	memset(mc, 0, sizeof(*mc));
	mc->pc.mem_bytes = cfg->memory_mib * MIB;
	(void)be;
	(void)why;
	(void)whylen;
	return 0;
}
