/*
 * Parsing and validation of VM options. The config file is parsed first
 * (with its key=value overrides, as `xl create` takes them), then each
 * command-line option overrides the result; every value is checked with
 * one clear error line.
 */
#include "toolstack/cli/vmopts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/util.h"
#include "monitor/monitor.h"
#include "toolstack/cli/cli.h"

#define MIN_MEM_MIB 4

enum {
	OPT_KERNEL = 0x100,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_VCPUS,
	OPT_CPU,
	OPT_SERIAL,
	OPT_NAME,
	OPT_QMP,
	OPT_LISTEN,
	OPT_INCOMING_FD,
	OPT_EXIT_FILE,
	OPT_HOOKS_DIR,
	OPT_REJECT_NAME,
	OPT_STALL_TIMEOUT,
	OPT_ARRIVAL_ID,
	OPT_OUTCOME_FILE,
	OPT_LINGER,
	OPT_DISK,
	OPT_STDIO,
	OPT_TLS,
	OPT_TLS_DIR,
	OPT_TLS_ALLOW,
	OPT_LAZY,
	OPT_VIF,
	OPT_LOCK_MANAGER,
	OPT_LEASE_DIR,
	OPT_OVERCOMMIT,
};

/* Options every mode takes; mostly for godwitd, which spawns us. */
#define COMMON_OPTS                                                            \
	{ "serial", required_argument, NULL, OPT_SERIAL },                     \
		{ "qmp", required_argument, NULL, OPT_QMP },                   \
		{ "paused", no_argument, NULL, 'p' },                          \
		{ "exit-file", required_argument, NULL, OPT_EXIT_FILE },       \
		{ "hooks-dir", required_argument, NULL, OPT_HOOKS_DIR },       \
		{ "lock-manager", required_argument, NULL, OPT_LOCK_MANAGER }, \
		{ "lease-dir", required_argument, NULL, OPT_LEASE_DIR },       \
	{                                                                      \
		"help", no_argument, NULL, 'h'                                 \
	}

static const struct option run_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "vif", required_argument, NULL, OPT_VIF },
	COMMON_OPTS,
	{ NULL, 0, NULL, 0 },
};

/* migrate-receive: restore's options and where the stream comes from. */
static const struct option receive_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "incoming-fd", required_argument, NULL, OPT_INCOMING_FD },
	{ "reject-name", required_argument, NULL, OPT_REJECT_NAME },
	{ "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
	{ "arrival-id", required_argument, NULL, OPT_ARRIVAL_ID },
	{ "outcome-file", required_argument, NULL, OPT_OUTCOME_FILE },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "stdio", no_argument, NULL, OPT_STDIO },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tls-dir", required_argument, NULL, OPT_TLS_DIR },
	{ "tls-allow", required_argument, NULL, OPT_TLS_ALLOW },
	{ "overcommit", no_argument, NULL, OPT_OVERCOMMIT },
	COMMON_OPTS,
	{ NULL, 0, NULL, 0 },
};

/* Restore takes only the options that do not change the machine. */
static const struct option restore_opts[] = {
	{ "lazy", no_argument, NULL, OPT_LAZY },
	{ "overcommit", no_argument, NULL, OPT_OVERCOMMIT },
	COMMON_OPTS,
	{ NULL, 0, NULL, 0 },
};

void vmopts_usage(FILE *f, enum vmopts_mode mode)
{
	if (mode == VMOPTS_RECEIVE)
		fprintf(f,
			"  --listen ADDR[:PORT]  accept one migration there (default 0.0.0.0:8002)\n"
			"  --incoming-fd N       read the migration from connected socket fd N\n"
			"  --reject-name NAME    refuse a VM of that name (repeatable)\n"
			"  --stall-timeout S     give up when the source sends nothing for S seconds,\n"
			"                        also waiting for YOURS (default 8)\n"
			"  --arrival-id HEX      this migration's id in RECEIVED (default: random)\n"
			"  --outcome-file PATH   write RUNNING (after YOURS, before the VM runs) or\n"
			"                        DISCARDED (VM given up) there\n"
			"  --linger S            with --listen: after giving the VM up, answer\n"
			"                        QUERY with DISCARDED for S seconds (default 60)\n"
			"  --stdio               read the migration on stdin, answer on stdout (run\n"
			"                        by ssh for godwit migrate's ssh transport); once\n"
			"                        the VM runs here the command exits and the VM\n"
			"                        runs on in the background (serial none unless\n"
			"                        --serial file:)\n"
			"  --tls                 with --listen or --incoming-fd: TLS, x509 from\n"
			"                        --tls-dir, the source's certificate verified\n"
			"  --tls-dir DIR         the certificates (default /etc/godwit/tls)\n"
			"  --tls-allow NAME      only a source whose certificate's subject DN or CN\n"
			"                        is NAME (repeatable; default: any the CA signed)\n");
	if (mode == VMOPTS_RUN)
		fprintf(f,
			"  --kernel FILE     PVH ELF kernel or bzImage\n"
			"  --initrd FILE     initial ramdisk\n"
			"  --cmdline STR     kernel command line\n"
			"  --memory SIZE     guest RAM: MiB, or with a k/m/g suffix (default 128)\n"
			"  --vcpus N         number of vCPUs, 1..255 (default 1)\n"
			"  --cpu MODEL       host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4 (default host)\n"
			"  --name NAME       VM name (default: the config's, else 'godwit')\n"
			"  --disk SPEC       a disk, as an entry of the config's disk list\n"
			"                    (e.g. /srv/vm.img,raw,xvda,rw); repeatable\n"
			"  --vif SPEC        a network interface, as an entry of the config's vif\n"
			"                    list (e.g. bridge=br0); repeatable\n");
	if (mode == VMOPTS_RESTORE)
		fprintf(f,
			"  --lazy            run at once; memory comes from FILE as the guest\n"
			"                    touches it (FILE must stay as it is meanwhile)\n");
	if (mode != VMOPTS_RUN)
		fprintf(f,
			"  --overcommit      take the VM even if this host or cgroup may not\n"
			"                    have the memory for its RAM\n");
	fprintf(f,
		"  --serial SPEC     stdio, file:PATH or none (default stdio)\n"
		"  --qmp PATH        control socket, or none (default /run/godwit/vm/NAME.qmp)\n"
		"  -p, --paused      leave the vCPUs paused (cont or godwit unpause starts them)\n"
		"  --exit-file PATH  write \"STATUS REASON\" there when the VM ends\n"
		"  --hooks-dir DIR   migration hooks (default /etc/godwit/hooks/migrate.d)\n"
		"  --lock-manager E  file or none: the host's lease engine, unless the\n"
		"                    config names one ($GODWIT_LOCK_MANAGER; default file)\n"
		"  --lease-dir DIR   the file engine's leases ($GODWIT_LEASE_DIR;\n"
		"                    default /var/lib/godwit/leases)\n");
	if (mode == VMOPTS_RUN)
		fprintf(f,
			"CONFIG is an xl.cfg-style file (godwit.cfg(5)), optionally followed by\n"
			"key=value overrides; options override both.\n");
	fprintf(f,
		"Exit status: the guest's debug-exit value, 0 on poweroff, 120 reset,\n"
		"121 triple fault, 122 KVM failure, 1 on errors, 2 on usage errors.\n");
}

static int bad(const char *opt, const char *arg, const char *why)
{
	fprintf(stderr, "godwit: %s '%s': %s\n", opt, arg, why);
	return CLI_FAIL;
}

static int set_str(char *dst, size_t size, const char *src, const char *opt)
{
	if (strlen(src) >= size)
		return bad(opt, src, "too long");
	strcpy(dst, src);
	return 0;
}

static int set_memory(struct domain_config *c, const char *arg)
{
	uint64_t bytes, host = (uint64_t)get_phys_pages() * getpagesize();
	char why[96];

	if (parse_size_bytes(arg, &bytes))
		return bad("--memory", arg,
			   "not a size (MiB, or a number with a k/m/g suffix)");
	if (bytes < MIN_MEM_MIB * MIB || bytes % MIB ||
	    domain_config_check_memory(bytes / MIB, why, sizeof(why))) {
		snprintf(why, sizeof(why),
			 "must be a multiple of 2 MiB and at least %d MiB",
			 MIN_MEM_MIB);
		return bad("--memory", arg, why);
	}
	if (bytes > host) {
		snprintf(why, sizeof(why),
			 "more than this host's %llu MiB of RAM",
			 (unsigned long long)(host / MIB));
		return bad("--memory", arg, why);
	}
	c->memory_mib = bytes / MIB;
	c->maxmem_mib = MAX(c->maxmem_mib, c->memory_mib);
	return 0;
}

static int set_vcpus(struct domain_config *c, const char *arg)
{
	uint64_t n;

	if (parse_u64(arg, &n) || n < 1 || n > DOMAIN_VCPUS_MAX)
		return bad("--vcpus", arg, "must be a number from 1 to 255");
	c->vcpus = n;
	c->maxvcpus = MAX(c->maxvcpus, c->vcpus);
	return 0;
}

static int parse_serial(const char *arg, enum domain_serial *kind, char *path,
			size_t pathlen)
{
	if (!strcmp(arg, "stdio")) {
		*kind = DOMAIN_SERIAL_STDIO;
	} else if (!strcmp(arg, "none")) {
		*kind = DOMAIN_SERIAL_NONE;
	} else if (!strcmp(arg, "pty")) {
		*kind = DOMAIN_SERIAL_PTY;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		*kind = DOMAIN_SERIAL_FILE;
		if (strlen(arg + 5) >= pathlen)
			return bad("--serial", arg, "file path too long");
		strcpy(path, arg + 5);
	} else {
		return bad("--serial", arg,
			   "expected stdio, file:PATH, pty or none");
	}
	return 0;
}

static int set_name(struct domain_config *c, const char *arg)
{
	const char *p;

	if (!*arg || strlen(arg) > DOMAIN_NAME_MAX)
		return bad("--name", arg, "must be 1 to 63 characters");
	for (p = arg; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_.-",
			    *p))
			return bad(
				"--name", arg,
				"may only contain letters, digits, '_', '.' and '-'");
	strcpy(c->name, arg);
	return 0;
}

static int set_cpu(struct domain_config *c, const char *arg)
{
	static const char *const models[] = { "host", "x86-64-v1", "x86-64-v2",
					      "x86-64-v3", "x86-64-v4" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(models); i++)
		if (!strcmp(arg, models[i]))
			return set_str(c->cpu, sizeof(c->cpu), arg, "--cpu");
	return bad(
		"--cpu", arg,
		"unknown model (host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4)");
}

/* One more disk or vif after the config's, checked as an entry is. */
static int add_device(struct domain_config *c, bool vif, const char *arg)
{
	struct config_diag diag;
	unsigned int i;
	int rc;

	rc = vif ? domain_config_add_vif(c, "--vif", arg, &diag) :
		   domain_config_add_disk(c, "--disk", arg, &diag);
	for (i = 0; i < diag.nr_warnings; i++)
		fprintf(stderr, "godwit: warning: %s\n", diag.warnings[i]);
	if (rc) {
		fprintf(stderr, "godwit: %s\n", diag.error);
		return CLI_FAIL;
	}
	return 0;
}

static int set_fd(struct monitor_opts *o, const char *arg)
{
	uint64_t fd;

	if (parse_u64(arg, &fd) || fd < 3 || fd > 65535 ||
	    fcntl((int)fd, F_GETFD) < 0)
		return bad("--incoming-fd", arg, "not an open file descriptor");
	o->incoming_fd = fd;
	return 0;
}

/* Seconds from 1 (0 too if zero_ok) to a day. */
static int set_seconds(unsigned int *out, const char *arg, const char *opt,
		       bool zero_ok)
{
	uint64_t v;

	if (parse_u64(arg, &v) || v > 86400 || (!v && !zero_ok))
		return bad(opt, arg,
			   zero_ok ? "must be 0 to 86400 seconds" :
				     "must be 1 to 86400 seconds");
	*out = v;
	return 0;
}

/* An arrival id: 1 to 16 hex digits (0x allowed), not zero. */
static int set_arrival_id(struct monitor_opts *o, const char *arg)
{
	const char *p = strncasecmp(arg, "0x", 2) ? arg : arg + 2;
	char *end;

	if (!*p || strlen(p) > 16 ||
	    strspn(p, "0123456789abcdefABCDEF") != strlen(p))
		return bad("--arrival-id", arg,
			   "must be 1 to 16 hex digits, not all zero");
	o->arrival_id = strtoull(p, &end, 16);
	if (!o->arrival_id)
		return bad("--arrival-id", arg,
			   "must be 1 to 16 hex digits, not all zero");
	return 0;
}

/* migrate-receive's handover options (see migration/arrival.h). */
static int set_receive_option(struct monitor_opts *o, int opt, const char *arg)
{
	unsigned int s = 0;
	int rc;

	switch (opt) {
	case OPT_STALL_TIMEOUT:
		rc = set_seconds(&s, arg, "--stall-timeout", false);
		o->stall_ms = s * 1000;
		return rc;
	case OPT_ARRIVAL_ID:
		return set_arrival_id(o, arg);
	case OPT_OUTCOME_FILE:
		return set_str(o->outcome_file, sizeof(o->outcome_file), arg,
			       "--outcome-file");
	default:
		return set_seconds(&o->linger_s, arg, "--linger", true);
	}
}

/* migrate-receive's transports: ssh's stdio, TLS. */
static int set_transport_option(struct monitor_opts *o, int opt,
				const char *arg)
{
	switch (opt) {
	case OPT_STDIO:
		o->incoming_stdio = true;
		return 0;
	case OPT_TLS:
		o->tls = true;
		return 0;
	case OPT_TLS_DIR:
		return set_str(o->tls_dir, sizeof(o->tls_dir), arg,
			       "--tls-dir");
	default:
		if (o->nr_tls_allow == ARRAY_SIZE(o->tls_allow))
			return bad("--tls-allow", arg, "too many");
		o->tls_allow[o->nr_tls_allow++] = arg;
		return 0;
	}
}

static int set_option(struct monitor_opts *o, int opt, const char *arg)
{
	struct domain_config *c = &o->cfg;

	switch (opt) {
	case OPT_LAZY:
		o->lazy = true;
		return 0;
	case OPT_KERNEL:
		return set_str(c->kernel, sizeof(c->kernel), arg, "--kernel");
	case OPT_INITRD:
		return set_str(c->ramdisk, sizeof(c->ramdisk), arg, "--initrd");
	case OPT_CMDLINE:
		return set_str(c->cmdline, sizeof(c->cmdline), arg,
			       "--cmdline");
	case OPT_MEMORY:
		return set_memory(c, arg);
	case OPT_VCPUS:
		return set_vcpus(c, arg);
	case OPT_CPU:
		return set_cpu(c, arg);
	case OPT_SERIAL:
		o->serial_set = true;
		return parse_serial(arg, &o->serial, o->serial_path,
				    sizeof(o->serial_path));
	case OPT_NAME:
		return set_name(c, arg);
	case OPT_DISK:
	case OPT_VIF:
		return add_device(c, opt == OPT_VIF, arg);
	case OPT_QMP:
		o->no_qmp = !strcmp(arg, "none");
		return set_str(o->qmp_path, sizeof(o->qmp_path), arg, "--qmp");
	case 'p':
		o->paused = true;
		return 0;
	case OPT_OVERCOMMIT:
		o->overcommit = true;
		return 0;
	case OPT_LISTEN:
		return set_str(o->incoming_listen, sizeof(o->incoming_listen),
			       arg, "--listen");
	case OPT_INCOMING_FD:
		return set_fd(o, arg);
	case OPT_EXIT_FILE:
		return set_str(o->exit_file, sizeof(o->exit_file), arg,
			       "--exit-file");
	case OPT_HOOKS_DIR:
		return set_str(o->hooks_dir, sizeof(o->hooks_dir), arg,
			       "--hooks-dir");
	case OPT_LOCK_MANAGER:
		return set_str(o->lock_manager, sizeof(o->lock_manager), arg,
			       "--lock-manager");
	case OPT_LEASE_DIR:
		return set_str(o->lease_dir, sizeof(o->lease_dir), arg,
			       "--lease-dir");
	case OPT_REJECT_NAME:
		if (o->nr_reject_names == ARRAY_SIZE(o->reject_names))
			return bad("--reject-name", arg, "too many");
		o->reject_names[o->nr_reject_names++] = arg;
		return 0;
	case OPT_STALL_TIMEOUT:
	case OPT_ARRIVAL_ID:
	case OPT_OUTCOME_FILE:
	case OPT_LINGER:
		return set_receive_option(o, opt, arg);
	case OPT_STDIO:
	case OPT_TLS:
	case OPT_TLS_DIR:
	case OPT_TLS_ALLOW:
		return set_transport_option(o, opt, arg);
	default:
		return CLI_USAGE;
	}
}

/*
 * --stdio: stdin and stdout carry the stream, so no other source and no
 * console there (the VM's serial goes nowhere unless to a file).
 */
static int receive_stdio_check(struct monitor_opts *o)
{
	if (o->incoming_listen[0] || o->incoming_fd >= 0 || o->tls) {
		fprintf(stderr,
			"godwit: migrate-receive: --stdio takes no --listen, --incoming-fd or --tls (ssh protects the stream)\n");
		return CLI_USAGE;
	}
	if (o->serial_set && o->serial == DOMAIN_SERIAL_STDIO) {
		fprintf(stderr,
			"godwit: migrate-receive: --stdio: stdout carries the migration; give --serial file:PATH or none\n");
		return CLI_USAGE;
	}
	if (!o->serial_set) {
		o->serial_set = true;
		o->serial = DOMAIN_SERIAL_NONE;
	}
	return 0;
}

static int load_config(struct monitor_opts *o, int argc, char **argv, int first)
{
	struct config_diag diag;
	unsigned int i;
	int rc;

	rc = domain_config_load(argv[first],
				(const char *const *)argv + first + 1,
				argc - first - 1, &o->cfg, &diag);
	for (i = 0; i < diag.nr_warnings; i++)
		fprintf(stderr, "godwit: warning: %s\n", diag.warnings[i]);
	if (rc) {
		fprintf(stderr, "godwit: %s\n", diag.error);
		return CLI_FAIL;
	}
	return 0;
}

/* Options are parsed twice: first to find the config, then to apply. */
static int scan_options(int argc, char **argv, const struct option *lo,
			struct monitor_opts *o, void (*usage)(FILE *f),
			bool apply)
{
	/* run stops at CONFIG (key=value follow); restore permutes. */
	const char *shortopts = lo == run_opts ? "+ph" : "ph";
	int opt, rc;

	optind = 0; /* 0: fully reinitialise GNU getopt between scans */
	opterr = apply;
	while ((opt = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return VMOPTS_HELP;
		}
		if (opt == '?') {
			usage(stderr);
			return CLI_USAGE;
		}
		if (apply && (rc = set_option(o, opt, optarg)))
			return rc;
	}
	return 0;
}

int vmopts_parse(int argc, char **argv, enum vmopts_mode mode,
		 struct monitor_opts *o, void (*usage)(FILE *f),
		 int *first_arg_out)
{
	const struct option *lo = mode == VMOPTS_RUN	 ? run_opts :
				  mode == VMOPTS_RESTORE ? restore_opts :
							   receive_opts;
	int rc;

	monitor_opts_init(o);
	rc = scan_options(argc, argv, lo, o, usage, false);
	if (rc)
		return rc;
	*first_arg_out = optind;
	if (mode == VMOPTS_RUN && optind < argc) {
		rc = load_config(o, argc, argv, optind);
		if (rc)
			return rc;
	}
	rc = scan_options(argc, argv, lo, o, usage, true);
	if (rc)
		return rc;
	if (mode == VMOPTS_RUN && o->serial_set) {
		o->cfg.serial = o->serial;
		strcpy(o->cfg.serial_path, o->serial_path);
	}
	if (mode == VMOPTS_RECEIVE && o->incoming_stdio)
		return receive_stdio_check(o);
	if (mode == VMOPTS_RECEIVE && !o->incoming_listen[0] &&
	    o->incoming_fd < 0)
		strcpy(o->incoming_listen, "0.0.0.0:8002");
	if (mode == VMOPTS_RUN && !o->cfg.kernel[0]) {
		fprintf(stderr,
			"godwit: run: no kernel given (--kernel FILE or 'kernel' in a config)\n");
		return CLI_USAGE;
	}
	return 0;
}
