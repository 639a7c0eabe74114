/* godwit run: boot a VM in this process and run it until the guest ends. */
#include <stdio.h>
#include <stdlib.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/vmopts.h"
#include "monitor/monitor.h"

static void run_usage(FILE *f)
{
	fprintf(f, "usage: godwit run [OPTIONS] [CONFIG [key=value ...]]\n"
		   "Run a VM in the foreground until the guest ends.\n\n");
	vmopts_usage(f, VMOPTS_RUN);
}

int cmd_run(int argc, char **argv)
{
	struct monitor_opts *o = calloc(1, sizeof(*o));
	int rc, first;

	if (!o) {
		fprintf(stderr, "godwit: out of memory\n");
		return CLI_FAIL;
	}
	rc = vmopts_parse(argc, argv, VMOPTS_RUN, o, run_usage, &first);
	if (rc == 0)
		rc = monitor_run(o);
	else if (rc == VMOPTS_HELP)
		rc = CLI_OK;
	free(o);
	return rc;
}
