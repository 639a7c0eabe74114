/* Parsing and validation of VM options for godwit run. */
#include "toolstack/cli/vmopts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/monitor/monitor.h"

#define DEFAULT_MEM (256 * MIB)
#define MIN_MEM (4 * MIB)

enum {
	OPT_KERNEL = 0x100, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_VCPUS,
	OPT_CPU, OPT_SERIAL, OPT_NAME, OPT_QMP,
};

static const struct option long_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "paused", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void vmopts_usage(FILE *f)
{
	fprintf(f,
		"  --kernel FILE     PVH ELF kernel or bzImage (required)\n"
		"  --initrd FILE     initial ramdisk\n"
		"  --cmdline STR     kernel command line\n"
		"  --memory SIZE     guest RAM; MiB, or with k/m/g suffix (default 256)\n"
		"  --vcpus N         number of vCPUs, 1..255 (default 1)\n"
		"  --cpu MODEL       host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4 (default host)\n"
		"  --serial SPEC     stdio, file:PATH or none (default stdio)\n"
		"  --name NAME       VM name (default: from the config, else 'godwit')\n"
		"  --qmp PATH        control socket (default /run/godwit/vm/NAME.qmp)\n"
		"  -p, --paused      start with vCPUs paused\n"
		"CONFIG is an xl.cfg-style file (see godwit.cfg(5)); options override it.\n"
		"Exit status: the guest's debug-exit value, 0 on poweroff, 120 reset,\n"
		"121 triple fault, 122 KVM failure, 1 on errors, 2 on usage errors.\n");
}

static int bad(const char *fmt, const char *arg, const char *why)
{
	fprintf(stderr, "godwit: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "%s%s\n", why ? ": " : "", why ? why : "");
	return CLI_FAIL;
}

static int set_str(char *dst, size_t size, const char *src, const char *what)
{
	if (strlen(src) >= size)
		return bad("%s is too long", what, NULL);
	strcpy(dst, src);
	return 0;
}

int vmopts_set_memory(struct monitor_opts *o, const char *arg);
int vmopts_set_memory(struct monitor_opts *o, const char *arg)
{
	uint64_t bytes, host = (uint64_t)get_phys_pages() * getpagesize();
	char why[96];

	if (parse_size_bytes(arg, &bytes))
		return bad("--memory '%s'", arg,
			   "not a size (MiB, or a number with k/m/g suffix)");
	if (bytes < MIN_MEM || bytes % (2 * MIB)) {
		snprintf(why, sizeof(why),
			 "must be a multiple of 2 MiB and at least %llu MiB",
			 MIN_MEM / MIB);
		return bad("--memory '%s'", arg, why);
	}
	if (bytes > host) {
		snprintf(why, sizeof(why),
			 "more than this host's %llu MiB of RAM",
			 (unsigned long long)(host / MIB));
		return bad("--memory '%s'", arg, why);
	}
	o->vm.mem_bytes = bytes;
	return 0;
}

static int set_vcpus(struct monitor_opts *o, const char *arg)
{
	uint64_t n;

	if (parse_u64(arg, &n) || n < 1 || n > VM_MAX_VCPUS)
		return bad("--vcpus '%s'", arg, "must be a number from 1 to 255");
	o->vm.nr_vcpus = n;
	return 0;
}

static int set_serial(struct monitor_opts *o, const char *arg)
{
	if (!strcmp(arg, "stdio")) {
		o->serial = SERIAL_STDIO;
	} else if (!strcmp(arg, "none")) {
		o->serial = SERIAL_NONE;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		o->serial = SERIAL_FILE;
		return set_str(o->serial_path, sizeof(o->serial_path), arg + 5,
			       "--serial file path");
	} else {
		return bad("--serial '%s'", arg,
			   "expected stdio, file:PATH or none");
	}
	return 0;
}

static int set_option(struct monitor_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_KERNEL:
		return set_str(o->kernel, sizeof(o->kernel), arg, "--kernel");
	case OPT_INITRD:
		return set_str(o->initrd, sizeof(o->initrd), arg, "--initrd");
	case OPT_CMDLINE:
		return set_str(o->cmdline, sizeof(o->cmdline), arg,
			       "--cmdline");
	case OPT_MEMORY:
		return vmopts_set_memory(o, arg);
	case OPT_VCPUS:
		return set_vcpus(o, arg);
	case OPT_CPU:
		return set_str(o->vm.cpu_model, sizeof(o->vm.cpu_model), arg,
			       "--cpu");
	case OPT_SERIAL:
		return set_serial(o, arg);
	case OPT_NAME:
		return set_str(o->vm.name, sizeof(o->vm.name), arg, "--name");
	case OPT_QMP:
		return set_str(o->qmp_path, sizeof(o->qmp_path), arg, "--qmp");
	case 'p':
		o->paused = true;
		return 0;
	default:
		return CLI_USAGE;
	}
}

static void set_defaults(struct monitor_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vm.mem_bytes = DEFAULT_MEM;
	o->vm.nr_vcpus = 1;
	strcpy(o->vm.cpu_model, "host");
	strcpy(o->vm.name, "godwit");
	o->serial = SERIAL_STDIO;
}

int vmopts_parse(int argc, char **argv, struct monitor_opts *o,
		 void (*usage)(FILE *f))
{
	int opt, rc;

	set_defaults(o);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+ph", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return VMOPTS_HELP;
		}
		if (opt == '?') {
			usage(stderr);
			return CLI_USAGE;
		}
		rc = set_option(o, opt, optarg);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "godwit: config files are not supported yet\n");
		return CLI_USAGE;
	}
	if (!o->kernel[0]) {
		fprintf(stderr, "godwit: run: no kernel given (--kernel FILE or 'kernel' in a config)\n");
		return CLI_USAGE;
	}
	return 0;
}
