/*
 * godwit restore and migrate-receive: rebuild a VM from a save file or an
 * incoming migration and run it here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/vmopts.h"
#include "toolstack/monitor/monitor.h"

static void restore_usage(FILE *f)
{
	fprintf(f, "usage: godwit restore [-p] FILE [OPTIONS]\n"
		   "Restore the VM saved in FILE and run it in the foreground.\n\n");
	vmopts_usage(f, VMOPTS_RESTORE);
}

int cmd_restore(int argc, char **argv)
{
	struct monitor_opts *o = calloc(1, sizeof(*o));
	int rc, first;

	if (!o)
		return CLI_FAIL;
	/* GNU getopt permutes: options may follow FILE. */
	rc = vmopts_parse(argc, argv, VMOPTS_RESTORE, o, restore_usage,
			  &first);
	if (rc) {
		free(o);
		return rc == VMOPTS_HELP ? CLI_OK : rc;
	}
	if (argc - first != 1) {
		restore_usage(stderr);
		free(o);
		return CLI_USAGE;
	}
	snprintf(o->restore_name, sizeof(o->restore_name), "%s", argv[first]);
	o->restore_fd = open(argv[first], O_RDONLY | O_CLOEXEC);
	if (o->restore_fd < 0) {
		fprintf(stderr, "godwit: restore %s: %s\n", argv[first],
			strerror(errno));
		free(o);
		return CLI_FAIL;
	}
	rc = monitor_run(o);
	free(o);
	return rc;
}

static void receive_usage(FILE *f)
{
	fprintf(f, "usage: godwit migrate-receive [OPTIONS]\n"
		   "Accept one live migration and run the VM in the foreground.\n\n");
	vmopts_usage(f, VMOPTS_RECEIVE);
}

int cmd_migrate_receive(int argc, char **argv)
{
	struct monitor_opts *o = calloc(1, sizeof(*o));
	int rc, first;

	if (!o)
		return CLI_FAIL;
	rc = vmopts_parse(argc, argv, VMOPTS_RECEIVE, o, receive_usage, &first);
	if (!rc && first != argc) {
		receive_usage(stderr);
		rc = CLI_USAGE;
	}
	if (!rc)
		rc = monitor_run(o);
	else if (rc == VMOPTS_HELP)
		rc = CLI_OK;
	free(o);
	return rc;
}
