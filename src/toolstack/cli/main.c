/* godwit: entry point and verb dispatch. */
#include <stdbool.h>
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

/* The VMM's options (vmopts.c) that restore and migrate-receive share. */
#define VMM_OPTS                                                             \
	"--serial=stdio|pty|none|file: --qmp=f --exit-file=f --hooks-dir=f " \
	"-p --paused --lock-manager=file|none --lease-dir=f"

static const struct cli_verb verbs[] = {
	{ "create", cmd_create, "[-p] [-c] [-F] CONFIG [key=value ...]",
	  "create a domain in godwitd", "-p -c -q -n -F -f=f", CLI_FILE },
	{ "list", cmd_list, "[-l] [-v] [--json] [DOMAIN ...]",
	  "list godwitd's domains", "-l --long -v --verbose --json",
	  CLI_DOMAIN },
	{ "domid", cmd_domid, "NAME", "print a domain's id", "", CLI_DOMAIN },
	{ "domname", cmd_domname, "ID", "print a domain's name", "", CLI_NONE },
	{ "uptime", cmd_uptime, "[DOMAIN ...]", "show how long domains run", "",
	  CLI_DOMAIN },
	{ "vcpu-list", cmd_vcpu_list, "[DOMAIN ...]",
	  "list domains' vCPUs with their host CPU and time", "", CLI_DOMAIN },
	{ "top", cmd_top, "[-b] [-d SECONDS] [-i N]",
	  "domains' CPU and memory use, as xentop", "-b -d= -i=", CLI_NONE },
	{ "info", cmd_info, "", "show the host: CPUs, memory, KVM, domains", "",
	  CLI_NONE },
	{ "console", cmd_console, "DOMAIN", "attach to a domain's console",
	  "-t=serial|pv -n=0 -e=", CLI_DOMAIN },
	{ "pause", cmd_pause, "DOMAIN", "pause a domain's vCPUs", "",
	  CLI_DOMAIN },
	{ "unpause", cmd_unpause, "DOMAIN", "resume a paused domain", "",
	  CLI_DOMAIN },
	{ "announce", cmd_announce, "DOMAIN",
	  "tell the network where a domain's NICs are (RARP)", "", CLI_DOMAIN },
	{ "shutdown", cmd_shutdown, "[-w] [-a] DOMAIN",
	  "press a domain's power button", "-w --wait -a -F", CLI_DOMAIN },
	{ "destroy", cmd_destroy, "DOMAIN", "end a domain at once", "",
	  CLI_DOMAIN },
	{ "reboot", cmd_reboot, "DOMAIN",
	  "reset a domain; on_reboot builds it again", "", CLI_DOMAIN },
	{ "save", cmd_save, "[-c] [-p] [-q] [--compress] DOMAIN FILE",
	  "save a domain to a file", "-c -p -q -D --compress",
	  CLI_DOMAIN_FILE },
	{ "restore", cmd_restore, "[-p] [-F] FILE [OPTIONS]",
	  "restore a saved domain", "-F -d -e --lazy --overcommit " VMM_OPTS,
	  CLI_FILE },
	{ "migrate", cmd_migrate, "[OPTIONS] DOMAIN HOST[:PORT]",
	  "live-migrate a domain to another host",
	  "--no-live --live --bandwidth= --downtime= --max-rounds= "
	  "--stall-timeout= --paused-margin= --verbose --debug -q --quiet "
	  "-e -s= -C=f -p --converge=throttle|postcopy|auto|none --postcopy "
	  "--receive-command= --tls --tls-dir=f --tls-name= "
	  "--compress=none|zstd|auto --connections=",
	  CLI_DOMAIN },
	{ "migrate-resolve", cmd_migrate_resolve,
	  "DOMAIN --resume-here|--discard",
	  "settle a migration left unconfirmed", "--resume-here --discard",
	  CLI_DOMAIN },
	{ "migrate-recover", cmd_migrate_recover, "DOMAIN [SOURCE[:PORT]]",
	  "reconnect a post-copy migration whose connection broke", "",
	  CLI_DOMAIN },
	{ "job-info", cmd_job_info, "[--json] DOMAIN",
	  "show a domain's save or migration", "--json", CLI_DOMAIN },
	{ "job-abort", cmd_job_abort, "DOMAIN",
	  "cancel a domain's save or migration", "", CLI_DOMAIN },
	{ "run", cmd_run, "[OPTIONS] [CONFIG]", "run a VM in the foreground",
	  "--kernel=f --initrd=f --cmdline= --memory= --vcpus= "
	  "--cpu=host|x86-64-v1|x86-64-v2|x86-64-v3|x86-64-v4 --name= "
	  "--disk= --vif= " VMM_OPTS,
	  CLI_FILE },
	{ "migrate-receive", cmd_migrate_receive, "[OPTIONS]",
	  "accept one migration and run the VM in the foreground",
	  "--listen= --incoming-fd= --reject-name= --stall-timeout= "
	  "--arrival-id= --outcome-file=f --linger= --stdio --tls --tls-dir=f "
	  "--tls-allow= --overcommit " VMM_OPTS,
	  CLI_NONE },
	{ "inspect", inspect_main, "FILE", "validate and describe a stream", "",
	  CLI_FILE },
	{ "disk-create", cmd_disk_create, "[OPTIONS] FILE [SIZE]",
	  "create a qcow2 image",
	  "-b=f --backing=f -F=raw|qcow2 --backing-format=raw|qcow2 -c= --cluster-size=",
	  CLI_FILE },
	{ "managedsave", cmd_managedsave, "DOMAIN",
	  "save a domain in godwitd's state directory", "", CLI_DOMAIN },
	{ "managedsave-remove", cmd_managedsave_remove, "DOMAIN",
	  "remove a domain's managed save", "", CLI_DOMAIN },
	{ "start", cmd_start, "[-p] [-c] DOMAIN",
	  "restore a domain from its managed save", "-p -c", CLI_DOMAIN },
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

static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
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
	/* godwit.bash: generated from this table at build time. */
	if (!strcmp(argv[1], "--bash-completion")) {
		cli_bash_completion(stdout, verbs, ARRAY_SIZE(verbs));
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("godwit %s\n", GODWIT_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strcmp(argv[1], verbs[i].name))
			continue;
		/* --help or -h anywhere after the verb: its usage, exit 0. */
		if (wants_help(argc - 1, argv + 1)) {
			char *help[] = { argv[1], "-h", NULL };

			return verbs[i].fn(2, help);
		}
		return verbs[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "godwit: unknown verb '%s' (try godwit --help)\n",
		argv[1]);
	return CLI_USAGE;
}
