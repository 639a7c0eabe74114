/*
 * godwit run: parse the VM's options (and an optional xl-style config
 * file, which command-line options override) and run it in this process.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/vmopts.h"
#include "toolstack/monitor/monitor.h"

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit run [OPTIONS] [CONFIG]\n"
		"Run a VM in the foreground until the guest ends.\n\n");
	vmopts_usage(f);
}

int cmd_run(int argc, char **argv)
{
	struct monitor_opts *o;
	int rc;

	o = calloc(1, sizeof(*o));
	if (!o) {
		fprintf(stderr, "godwit: out of memory\n");
		return CLI_FAIL;
	}
	rc = vmopts_parse(argc, argv, o, run_usage);
	if (rc == 0)
		rc = monitor_run(o);
	else
		rc = rc == VMOPTS_HELP ? CLI_OK : rc;
	free(o);
	return rc;
}
