/* godwit: entry point and verb dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <godwit/client.h>

#include "common/compiler.h"
#include "common/log.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/cmd_disk.h"
#include "toolstack/cli/cmd_managed.h"
#include "tools/inspect.h"

static const struct cli_verb verbs[] = {
	{ "create", cmd_create, "[-p] [-c] CONFIG [key=value ...]",
	  "create a domain in godwitd" },
	{ "list", cmd_list, "[-l] [--json] [DOMAIN ...]",
	  "list godwitd's domains" },
	{ "console", cmd_console, "DOMAIN", "attach to a domain's console" },
	{ "pause", cmd_pause, "DOMAIN", "pause a domain's vCPUs" },
	{ "unpause", cmd_unpause, "DOMAIN", "resume a paused domain" },
	{ "announce", cmd_announce, "DOMAIN",
	  "tell the network where a domain's NICs are (RARP)" },
	{ "shutdown", cmd_shutdown, "[-w] DOMAIN",
	  "press a domain's power button" },
	{ "destroy", cmd_destroy, "DOMAIN", "end a domain at once" },
	{ "save", cmd_save, "[-c] [-p] DOMAIN FILE",
	  "save a domain to a file" },
	{ "restore", cmd_restore, "[-p] [-F] FILE [OPTIONS]",
	  "restore a saved domain" },
	{ "migrate", cmd_migrate, "[OPTIONS] DOMAIN HOST[:PORT]",
	  "live-migrate a domain to another host" },
	{ "migrate-resolve", cmd_migrate_resolve,
	  "DOMAIN --resume-here|--discard",
	  "settle a migration left unconfirmed" },
	{ "job-info", cmd_job_info, "[--json] DOMAIN",
	  "show a domain's save or migration" },
	{ "job-abort", cmd_job_abort, "DOMAIN",
	  "cancel a domain's save or migration" },
	{ "run", cmd_run, "[OPTIONS] [CONFIG]", "run a VM in the foreground" },
	{ "migrate-receive", cmd_migrate_receive, "[OPTIONS]",
	  "accept one migration and run the VM in the foreground" },
	{ "inspect", inspect_main, "FILE", "validate and describe a stream" },
	{ "disk-create", cmd_disk_create, "[OPTIONS] FILE [SIZE]",
	  "create a qcow2 image" },
	{ "managedsave", cmd_managedsave, "DOMAIN",
	  "save a domain in godwitd's state directory" },
	{ "managedsave-remove", cmd_managedsave_remove, "DOMAIN",
	  "remove a domain's managed save" },
	{ "start", cmd_start, "[-p] [-c] DOMAIN",
	  "restore a domain from its managed save" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: godwit VERB [ARGS]\n\nverbs:\n");
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-16s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f,
		"\nDomains: when godwitd answers on %s/godwitd.sock, verbs go\n"
		"through it and DOMAIN is a name, id or uuid. A DOMAIN containing '/' is\n"
		"a VM control socket, used directly. Without a daemon, DOMAIN NAME means\n"
		"the VM socket %s/vm/NAME.qmp (as `godwit run` makes it), restore runs\n"
		"in the foreground, and create and list fail. ($GODWIT_RUN_DIR moves\n"
		"/run/godwit.)\n"
		"\nExit status: 0 success, 1 failure, 2 usage error ('run', 'restore -F'\n"
		"and 'migrate-receive' return the guest's status).\n"
		"'godwit VERB --help' describes a verb.\n",
		godwit_run_dir(), godwit_run_dir());
}

int main(int argc, char **argv)
{
	const char *prefix = getenv("GODWIT_LOG_PREFIX");
	size_t i;

	/* godwitd names the domain in its VMMs' log lines. */
	if (prefix && *prefix)
		log_set_prefix(prefix);
	if (getenv("GODWIT_LOG_TIMESTAMPS"))
		log_set_timestamps(true);
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
		printf("godwit %s\n", GODWIT_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "godwit: unknown verb '%s' (try godwit --help)\n",
		argv[1]);
	return CLI_USAGE;
}
