/*
 * godwitd: the per-host daemon. Options and environment give the paths
 * (every one can point into a temporary directory for tests); start-up
 * is a straight line (log, registry lock, signals, control socket,
 * adoption of running VMs, relocation server, readiness), then one event
 * loop runs until SIGTERM. On exit the VMs keep running: they are in
 * sessions of their own, and the next godwitd adopts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "toolstack/daemon/allow.h"
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/managed.h"
#include "toolstack/daemon/notify.h"

#define EXIT_USAGE 2

enum {
	OPT_RUN_DIR = 0x100,
	OPT_STATE_DIR,
	OPT_LOG_FILE,
	OPT_HOOKS_DIR,
	OPT_GODWIT,
	OPT_RELOC_ADDR,
	OPT_RELOC_PORT,
	OPT_RELOC_ALLOW,
	OPT_NO_RELOC,
	OPT_RESTART_LIMIT,
	OPT_OVERCOMMIT,
	OPT_CTL_REQUEST_TIMEOUT,
	OPT_CTL_IDLE_TIMEOUT,
	OPT_RELOC_HEADER_TIMEOUT,
	OPT_RELOC_TLS,
	OPT_RELOC_TLS_DIR,
	OPT_RELOC_TLS_ALLOW,
	OPT_DEBUG,
	OPT_DETACH,
	OPT_VERSION,
	OPT_LOCK_MANAGER,
	OPT_LEASE_DIR,
	OPT_CONFIG,
};

/* Options main() acts on itself. */
static bool opt_detach;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: godwitd [OPTIONS]\n"
		"The godwit host daemon: runs domains, serves `godwit` on its control\n"
		"socket and receives migrations on its relocation port.\n"
		"  --run-dir DIR        control socket, VM sockets in DIR/vm ($GODWIT_RUN_DIR;\n"
		"                       default /run/godwit)\n"
		"  --state-dir DIR      domain registry ($GODWIT_STATE_DIR; default /var/lib/godwit)\n"
		"  --log-file FILE      daemon and VMM log ($GODWIT_LOG_FILE;\n"
		"                       default /var/log/godwit/godwitd.log)\n"
		"  --hooks-dir DIR      migration hooks ($GODWIT_HOOKS_DIR;\n"
		"                       default /etc/godwit/hooks/migrate.d)\n"
		"  --godwit PATH        the godwit binary ($GODWIT_BINARY; default: next to\n"
		"                       godwitd, else the one installed with it)\n"
		"  --lock-manager E     the host's lease engine, file or none\n"
		"                       ($GODWIT_LOCK_MANAGER; default file)\n"
		"  --lease-dir DIR      the file engine's leases ($GODWIT_LEASE_DIR;\n"
		"                       default /var/lib/godwit/leases)\n"
		"  --relocation-address ADDR   listen there for migrations (default 0.0.0.0)\n"
		"  --relocation-port PORT      (default 8002)\n"
		"  --relocation-hosts-allow 'RE ...'  peers allowed to migrate here\n"
		"                       (default '^127\\.0\\.0\\.1$ ^::1$'; '' allows all)\n"
		"  --no-relocation      do not accept migrations\n"
		"  --restart-limit N    restarts per domain within 60 s before it is\n"
		"                       kept stopped instead (default 5)\n"
		"  --overcommit         start domains the host or cgroup may not have\n"
		"                       the memory for (default: refuse them)\n"
		"  --control-request-timeout S  close control clients that do not\n"
		"                       negotiate, or finish a command, within S s (10)\n"
		"  --control-idle-timeout S     close idle control clients after S s\n"
		"                       (default 0: never)\n"
		"  --relocation-header-timeout S  close migration connections without\n"
		"                       a stream header after S s (default 10)\n"
		"  --config FILE        host policy, e.g. on_host_stop ($GODWIT_DAEMON_CONFIG;\n"
		"                       default /etc/godwit/godwitd.conf, if it exists)\n"
		"  --detach             go to the background once ready (the command\n"
		"                       returns then, or fails with why it could not start)\n"
		"  --relocation-tls     TLS on the relocation port: x509 credentials from\n"
		"                       --relocation-tls-dir, sources' certificates verified\n"
		"  --relocation-tls-dir DIR  ca-cert.pem, server-cert.pem, server-key.pem\n"
		"                       (default /etc/godwit/tls)\n"
		"  --relocation-tls-allow NAME  only sources whose certificate's subject DN\n"
		"                       or CN is NAME (repeatable; default: any the CA signed)\n"
		"  --debug              log more\n"
		"See godwitd(8).\n");
}

static int set_path(char *dst, const char *src, const char *what)
{
	if (strlen(src) >= PATH_MAX - 64) {
		fprintf(stderr, "godwitd: %s '%s': too long\n", what, src);
		return EXIT_USAGE;
	}
	strcpy(dst, src);
	return 0;
}

/*
 * The godwit binary: next to our own executable (a build tree), else
 * where meson installed it beside us (its bindir seen from our sbindir,
 * right under any prefix or DESTDIR), else its configured path.
 */
static void default_godwit(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	snprintf(buf, len, "%s/godwit", GODWIT_BINDIR);
	if (n <= 0)
		return;
	self[n] = 0;
	dirname(self);
	snprintf(buf, len, "%s/godwit", self);
	if (!access(buf, X_OK))
		return;
	snprintf(buf, len, "%s/%s/godwit", self, GODWIT_BIN_FROM_SBIN);
	if (GODWIT_BIN_FROM_SBIN[0] == '/')
		snprintf(buf, len, "%s/godwit", GODWIT_BIN_FROM_SBIN);
	if (!access(buf, X_OK))
		return;
	snprintf(buf, len, "%s/godwit", GODWIT_BINDIR);
}

static void defaults(struct gwd *g)
{
	struct gwd_paths *p = &g->paths;
	const char *godwit = env_or("GODWIT_BINARY", NULL);

	snprintf(p->run_dir, sizeof(p->run_dir), "%s", util_run_dir());
	snprintf(p->state_dir, sizeof(p->state_dir), "%s",
		 env_or("GODWIT_STATE_DIR", "/var/lib/godwit"));
	snprintf(p->log_file, sizeof(p->log_file), "%s",
		 env_or("GODWIT_LOG_FILE", "/var/log/godwit/godwitd.log"));
	snprintf(p->hooks_dir, sizeof(p->hooks_dir), "%s",
		 env_or("GODWIT_HOOKS_DIR", "/etc/godwit/hooks/migrate.d"));
	snprintf(p->lock_manager, sizeof(p->lock_manager), "%s",
		 env_or("GODWIT_LOCK_MANAGER", "file"));
	snprintf(p->lease_dir, sizeof(p->lease_dir), "%s",
		 env_or("GODWIT_LEASE_DIR", "/var/lib/godwit/leases"));
	snprintf(p->config, sizeof(p->config), "%s",
		 env_or("GODWIT_DAEMON_CONFIG", HOST_CONFIG_FILE_DEFAULT));
	host_config_init(&g->host);
	if (godwit)
		snprintf(p->godwit, sizeof(p->godwit), "%s", godwit);
	else
		default_godwit(p->godwit, sizeof(p->godwit));
	g->reloc_opts.enabled = true;
	strcpy(g->reloc_opts.address, "0.0.0.0");
	g->reloc_opts.port = NET_DEFAULT_PORT;
	strcpy(g->reloc_opts.hosts_allow, ALLOW_DEFAULT);
	g->restart_max = GWD_RESTART_MAX_DEFAULT;
	g->reloc_opts.header_ms = GWD_RELOC_HEADER_MS_DEFAULT;
	strcpy(g->reloc_opts.tls_dir, "/etc/godwit/tls");
	rpc_limits_default(&g->ctl_limits);
}

static int set_number(const char *opt, const char *arg, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	if (parse_u64(arg, out) || *out < min || *out > max) {
		fprintf(stderr,
			"godwitd: %s '%s': expected a number from %llu to %llu\n",
			opt, arg, (unsigned long long)min,
			(unsigned long long)max);
		return EXIT_USAGE;
	}
	return 0;
}

/* The engines a VMM knows (src/lease/); sanlock is not built yet. */
static int set_lock_manager(struct gwd *g, const char *arg)
{
	if (!strcmp(arg, "sanlock")) {
		fprintf(stderr,
			"godwitd: --lock-manager sanlock: sanlock engine not built yet\n");
		return EXIT_USAGE;
	}
	if (strcmp(arg, "file") && strcmp(arg, "none")) {
		fprintf(stderr,
			"godwitd: --lock-manager '%s': expected file or none\n",
			arg);
		return EXIT_USAGE;
	}
	snprintf(g->paths.lock_manager, sizeof(g->paths.lock_manager), "%s",
		 arg);
	return 0;
}

static int set_option(struct gwd *g, int opt, const char *arg)
{
	struct gwd_reloc_opts *r = &g->reloc_opts;
	uint64_t v;
	int rc;

	switch (opt) {
	case OPT_RUN_DIR:
		return set_path(g->paths.run_dir, arg, "--run-dir");
	case OPT_STATE_DIR:
		return set_path(g->paths.state_dir, arg, "--state-dir");
	case OPT_LOG_FILE:
		return set_path(g->paths.log_file, arg, "--log-file");
	case OPT_HOOKS_DIR:
		return set_path(g->paths.hooks_dir, arg, "--hooks-dir");
	case OPT_GODWIT:
		return set_path(g->paths.godwit, arg, "--godwit");
	case OPT_LOCK_MANAGER:
		return set_lock_manager(g, arg);
	case OPT_LEASE_DIR:
		return set_path(g->paths.lease_dir, arg, "--lease-dir");
	case OPT_CONFIG:
		return set_path(g->paths.config, arg, "--config");
	case OPT_RELOC_ADDR:
		return set_path(r->address, arg, "--relocation-address");
	case OPT_RELOC_PORT:
		rc = set_number("--relocation-port", arg, 1, 65535, &v);
		r->port = v;
		return rc;
	case OPT_RELOC_ALLOW:
		if (strlen(arg) >= sizeof(r->hosts_allow)) {
			fprintf(stderr,
				"godwitd: --relocation-hosts-allow: too long\n");
			return EXIT_USAGE;
		}
		strcpy(r->hosts_allow, arg);
		return 0;
	case OPT_NO_RELOC:
		r->enabled = false;
		return 0;
	case OPT_RESTART_LIMIT:
		rc = set_number("--restart-limit", arg, 0, 1000, &v);
		g->restart_max = v;
		return rc;
	case OPT_OVERCOMMIT:
		g->overcommit = true;
		return 0;
	case OPT_CTL_REQUEST_TIMEOUT:
		rc = set_number("--control-request-timeout", arg, 1, 3600, &v);
		g->ctl_limits.hello_ms = g->ctl_limits.request_ms = v * 1000;
		return rc;
	case OPT_CTL_IDLE_TIMEOUT:
		rc = set_number("--control-idle-timeout", arg, 0, 86400 * 30,
				&v);
		g->ctl_limits.idle_ms = v * 1000;
		return rc;
	case OPT_RELOC_HEADER_TIMEOUT:
		rc = set_number("--relocation-header-timeout", arg, 1, 3600,
				&v);
		r->header_ms = v * 1000;
		return rc;
	case OPT_RELOC_TLS:
		r->tls = true;
		return 0;
	case OPT_RELOC_TLS_DIR:
		return set_path(r->tls_dir, arg, "--relocation-tls-dir");
	case OPT_RELOC_TLS_ALLOW:
		if (r->nr_tls_allow == ARRAY_SIZE(r->tls_allow)) {
			fprintf(stderr,
				"godwitd: --relocation-tls-allow: at most %zu names\n",
				ARRAY_SIZE(r->tls_allow));
			return EXIT_USAGE;
		}
		r->tls_allow[r->nr_tls_allow++] = arg;
		return 0;
	case OPT_DEBUG:
		log_set_level(LOG_DEBUG);
		return 0;
	case OPT_DETACH:
		opt_detach = true;
		return 0;
	default:
		return EXIT_USAGE;
	}
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct gwd *g)
{
	static const struct option lo[] = {
		{ "run-dir", required_argument, NULL, OPT_RUN_DIR },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "log-file", required_argument, NULL, OPT_LOG_FILE },
		{ "hooks-dir", required_argument, NULL, OPT_HOOKS_DIR },
		{ "godwit", required_argument, NULL, OPT_GODWIT },
		{ "lock-manager", required_argument, NULL, OPT_LOCK_MANAGER },
		{ "lease-dir", required_argument, NULL, OPT_LEASE_DIR },
		{ "relocation-address", required_argument, NULL,
		  OPT_RELOC_ADDR },
		{ "relocation-port", required_argument, NULL, OPT_RELOC_PORT },
		{ "relocation-hosts-allow", required_argument, NULL,
		  OPT_RELOC_ALLOW },
		{ "no-relocation", no_argument, NULL, OPT_NO_RELOC },
		{ "restart-limit", required_argument, NULL, OPT_RESTART_LIMIT },
		{ "overcommit", no_argument, NULL, OPT_OVERCOMMIT },
		{ "control-request-timeout", required_argument, NULL,
		  OPT_CTL_REQUEST_TIMEOUT },
		{ "control-idle-timeout", required_argument, NULL,
		  OPT_CTL_IDLE_TIMEOUT },
		{ "relocation-header-timeout", required_argument, NULL,
		  OPT_RELOC_HEADER_TIMEOUT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "relocation-tls", no_argument, NULL, OPT_RELOC_TLS },
		{ "relocation-tls-dir", required_argument, NULL,
		  OPT_RELOC_TLS_DIR },
		{ "relocation-tls-allow", required_argument, NULL,
		  OPT_RELOC_TLS_ALLOW },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	defaults(g);
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (opt == 'h')
			return usage(stdout), 0;
		if (opt == OPT_VERSION)
			return printf("godwitd %s\n", GODWIT_VERSION), 0;
		if (opt == '?')
			return usage(stderr), EXIT_USAGE;
		rc = set_option(g, opt, optarg);
		if (rc)
			return rc;
	}
	if (optind != argc) {
		fprintf(stderr, "godwitd: unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* Create dir and make path absolute: VMMs run in "/". */
static int make_dir(char *path, unsigned int mode, const char *what)
{
	char real[PATH_MAX];
	int rc = mkdir_p(path, mode);

	if (!rc && !realpath(path, real))
		rc = -errno;
	if (rc) {
		log_err("%s %s: %s", what, path, strerror(-rc));
		return rc;
	}
	strcpy(path, real);
	return 0;
}

static int absolute(char *path)
{
	char cwd[PATH_MAX], buf[PATH_MAX];

	if (path[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) ||
	    str_printf(buf, sizeof(buf), "%s/%s", cwd, path))
		return -ENAMETOOLONG;
	strcpy(path, buf);
	return 0;
}

static int open_log(struct gwd *g)
{
	char dir[PATH_MAX];
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", g->paths.log_file);
	rc = mkdir_p(dirname(dir), 0755);
	if (rc)
		return rc;
	fd = open(g->paths.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0640);
	if (fd < 0)
		return -errno;
	if (g->log_fd >= 0)
		close(g->log_fd);
	g->log_fd = fd;
	log_set_extra_fd(fd);
	return 0;
}

void gwd_log_reopen(struct gwd *g)
{
	int rc = open_log(g);

	if (rc)
		log_err("cannot reopen %s: %s", g->paths.log_file,
			strerror(-rc));
	else
		log_info("log file reopened");
}

static int setup_paths(struct gwd *g)
{
	struct gwd_paths *p = &g->paths;
	char vm[PATH_MAX + 8];
	int rc;

	rc = make_dir(p->run_dir, 0755, "run directory");
	/* Configs and state are the administrator's business only. */
	if (!rc)
		rc = make_dir(p->state_dir, 0700, "state directory");
	if (!rc && (absolute(p->log_file) || absolute(p->hooks_dir) ||
		    absolute(p->godwit)))
		rc = -ENAMETOOLONG;
	if (!rc) {
		snprintf(vm, sizeof(vm), "%s/vm", p->run_dir);
		rc = mkdir_p(vm, 0700);
	}
	if (!rc)
		rc = str_printf(p->sock, sizeof(p->sock), "%s/godwitd.sock",
				p->run_dir);
	if (!rc && access(p->godwit, X_OK)) {
		log_err("cannot run the godwit binary %s: %s (see --godwit)",
			p->godwit, strerror(errno));
		rc = -ENOENT;
	}
	return rc;
}

/* One daemon per registry. */
static int lock_registry(struct gwd *g)
{
	char path[PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s/lock", g->paths.state_dir);
	g->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (g->lock_fd < 0)
		return -errno;
	if (flock(g->lock_fd, LOCK_EX | LOCK_NB)) {
		log_err("another godwitd uses %s", g->paths.state_dir);
		return -EBUSY;
	}
	return 0;
}

/* Make sure fds 0-2 are open, so no socket or log ends up as stdout. */
static void std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/* godwitd.conf; the default path may be missing (then the defaults). */
static int load_config(struct gwd *g)
{
	struct config_diag *diag = malloc(sizeof(*diag));
	int rc;

	if (!diag)
		return -ENOMEM;
	rc = host_config_load(g->paths.config,
			      !strcmp(g->paths.config,
				      HOST_CONFIG_FILE_DEFAULT),
			      &g->host, diag);
	if (rc)
		log_err("%s", diag->error);
	free(diag);
	return rc;
}

static int start(struct gwd *g)
{
	int rc;

	rc = setup_paths(g);
	if (!rc && (rc = open_log(g)))
		log_err("log file %s: %s", g->paths.log_file, strerror(-rc));
	if (!rc)
		rc = load_config(g);
	if (!rc)
		rc = lock_registry(g);
	if (!rc)
		g->vmm_arrival_ids = spawn_probe_arrival_ids(g);
	if (!rc)
		rc = evloop_new(&g->loop);
	if (!rc)
		rc = sup_init(g);
	if (!rc)
		rc = ctl_start(g);
	if (!rc)
		rc = reg_load(g);
	if (!rc)
		managed_boot_restore(g); /* after adoption: what runs, runs */
	if (!rc)
		rc = reloc_start(g);
	return rc;
}

static void stop(struct gwd *g)
{
	unsigned int left = 0;

	reloc_stop(g);
	managed_stop_free(g);
	while (g->doms) {
		left += g->doms->pid > 0;
		reg_free(g->doms);
	}
	if (g->rpc && rpc_server_flush(g->rpc, 1000))
		log_debug("some replies were not delivered");
	rpc_server_free(g->rpc);
	if (g->sig_fd >= 0)
		close(g->sig_fd);
	evloop_free(g->loop);
	if (g->loop)
		log_info("stopped; %u VMM%s left running", left,
			 left == 1 ? "" : "s");
	if (g->lock_fd >= 0)
		close(g->lock_fd);
	log_set_extra_fd(-1);
	if (g->log_fd >= 0)
		close(g->log_fd);
}

/*
 * --detach: the daemon runs in a child; the foreground process waits for
 * its word and exits 0 once it is ready, 1 if start-up failed (the
 * child's lines on stderr said why). Returns -1 in the child, with the
 * pipe to report on in *fd_out, else the foreground's exit status.
 */
static int detach_begin(int *fd_out)
{
	int p[2], st = 0;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC)) {
		perror("godwitd: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("godwitd: fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		*fd_out = p[1];
		return -1;
	}
	close(p[1]);
	if (read(p[0], &c, 1) == 1) {
		fprintf(stderr, "godwitd: ready in the background (pid %d)\n",
			(int)pid);
		return 0;
	}
	waitpid(pid, &st, 0);
	return 1;
}

/* Ready: tell the foreground, and leave its terminal. */
static void detach_done(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(fd, "r", 1) != 1)
		log_warn("--detach: the foreground went away");
	close(fd);
}

int main(int argc, char **argv)
{
	struct gwd *g = calloc(1, sizeof(*g));
	int rc, ready_fd = -1;

	if (!g)
		return 1;
	g->log_fd = g->sig_fd = g->lock_fd = -1;
	log_set_prefix("godwitd");
	rc = parse_args(argc, argv, g);
	if (rc >= 0) {
		free(g);
		return rc;
	}
	std_fds();
	if (opt_detach && (rc = detach_begin(&ready_fd)) >= 0) {
		free(g);
		return rc;
	}
	rc = start(g);
	if (!rc) {
		log_info("ready: control socket %s, %u domain%s", g->paths.sock,
			 g->nr_doms, g->nr_doms == 1 ? "" : "s");
		if (ready_fd >= 0)
			detach_done(ready_fd);
		notify_send("READY=1");
		rc = evloop_run(g->loop);
		notify_send("STOPPING=1");
	}
	stop(g);
	free(g);
	return rc ? 1 : 0;
}
