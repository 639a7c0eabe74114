/* godwit: entry point and verb dispatch. */
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "toolstack/cli/cli.h"
#include "tools/inspect.h"

static const struct cli_verb verbs[] = {
	{ "run", cmd_run, "[OPTIONS] [CONFIG]",
	  "run a VM in the foreground" },
	{ "pause", cmd_pause, "VM", "pause a VM's vCPUs" },
	{ "unpause", cmd_unpause, "VM", "resume a paused VM" },
	{ "save", cmd_save, "[-c] [-p] VM FILE", "save a VM to a file" },
	{ "restore", cmd_restore, "[-p] FILE [OPTIONS]",
	  "restore a saved VM and run it in the foreground" },
	{ "migrate", cmd_migrate, "[OPTIONS] VM HOST[:PORT]",
	  "live-migrate a VM to another host" },
	{ "migrate-receive", cmd_migrate_receive, "[OPTIONS]",
	  "accept one migration and run the VM in the foreground" },
	{ "inspect", inspect_main, "FILE", "validate and describe a stream" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: godwit VERB [ARGS]\n\nverbs:\n");
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-16s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'godwit VERB --help' describes a verb.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("godwit 0.1.0\n");
		return CLI_OK;
	}
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "godwit: unknown verb '%s' (try godwit --help)\n",
		argv[1]);
	return CLI_USAGE;
}
