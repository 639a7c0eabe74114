/*
 * godwit restore and migrate-receive: rebuild a VM from a save file or an
 * incoming migration and run it here. With a godwitd answering, restore
 * hands the file to the daemon, which runs the domain; -F (or any VMM
 * option such as --qmp) runs it in the foreground instead, as without a
 * daemon. FILE "-" is standard input (`godwit save DOM - | godwit restore
 * -`), always restored in the foreground: this process holds the stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <godwit/domain.h>

#include "common/log.h"
#include "monitor/monitor.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/vmopts.h"

static void restore_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit restore [-p] [-F] FILE [OPTIONS]\n"
		"Restore the domain saved in FILE. With godwitd running, the daemon runs\n"
		"it; else (or with -F, or any option below but -p) it runs in the\n"
		"foreground. FILE - reads the save from standard input and runs the\n"
		"domain in the foreground.\n"
		"  -F                foreground even when godwitd runs\n"
		"  -d                debug messages (a foreground restore's)\n"
		"  -e                accepted (xl's: godwitd supervises the domain)\n"
		"xl's CONFIG FILE form is refused with the reason (godwit(1)).\n");
	vmopts_usage(f, VMOPTS_RESTORE);
}

/* Only [-p] FILE (and -F) given: a restore godwitd can do. */
static bool daemon_args(int argc, char **argv, bool *paused, int *file)
{
	int i;

	*file = -1;
	*paused = false;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-p"))
			*paused = true;
		else if (argv[i][0] == '-' || *file >= 0)
			return false;
		else
			*file = i;
	}
	return *file >= 0;
}

static int restore_by_daemon(struct godwit_conn *c, const char *file,
			     bool paused)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char err[GODWIT_ERROR_MAX] = "", path[PATH_MAX];
	struct godwit_domain_made m;
	int rc;

	if (cli_absolute(file, path, sizeof(path))) {
		fprintf(stderr, "godwit: restore: file name too long\n");
		godwit_conn_close(c);
		return CLI_FAIL;
	}
	/* Big guests take a while: no limit. */
	rc = godwit_restore(c, path, paused, -1, godwit_result_fn, &res, err,
			    sizeof(err));
	if (!rc)
		rc = godwit_result_wait(c, &res);
	godwit_conn_close(c);
	if (!rc)
		rc = godwit_decode_made(res.ret, &m, res.error,
					sizeof(res.error));
	if (rc) {
		fprintf(stderr, "godwit: restore %s: %s\n", file,
			err[0] ? err : res.error);
		godwit_result_release(&res);
		return CLI_FAIL;
	}
	fprintf(stderr, "godwit: domain %s restored from %s (id %lld)\n",
		m.name, file, (long long)m.domid);
	godwit_result_release(&res);
	return CLI_OK;
}

/*
 * Remove flag (-F, -d, -e: ours, not the VMM's) from argv; true if it
 * was there.
 */
static bool take_flag(int *argc, char **argv, const char *flag)
{
	bool found = false;
	int i, j;

	for (i = j = 0; i < *argc; i++) {
		if (i > 0 && !strcmp(argv[i], flag))
			found = true;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	return found;
}

/* xl's restore [-p] CONFIG FILE: two names and at most -p. */
static bool xl_config_form(int argc, char **argv)
{
	int i, names = 0;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			names++;
		else if (strcmp(argv[i], "-p"))
			return false;
	}
	return names == 2;
}

/*
 * FILE "-": the stream is on stdin (a pipe from `godwit save DOM -`, ssh, a
 * file). Read through a duplicate, so the stream's end closes only that.
 */
static int open_stdin(struct monitor_opts *o)
{
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr,
			"godwit: restore -: standard input is a terminal, not a save stream\n");
		return CLI_FAIL;
	}
	o->restore_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	if (o->restore_fd < 0) {
		fprintf(stderr, "godwit: restore -: standard input: %s\n",
			strerror(errno));
		return CLI_FAIL;
	}
	snprintf(o->restore_name, sizeof(o->restore_name), "standard input");
	return 0;
}

static int open_file(struct monitor_opts *o, const char *file)
{
	if (!strcmp(file, "-"))
		return open_stdin(o);
	snprintf(o->restore_name, sizeof(o->restore_name), "%s", file);
	o->restore_fd = open(file, O_RDONLY | O_CLOEXEC);
	if (o->restore_fd < 0) {
		fprintf(stderr, "godwit: restore %s: %s\n", file,
			strerror(errno));
		return CLI_FAIL;
	}
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	bool foreground = take_flag(&argc, argv, "-F"), paused;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	struct monitor_opts *o;
	int rc, first;

	/* xl's -e: nothing waits for the domain here; godwitd has it. */
	take_flag(&argc, argv, "-e");
	if (take_flag(&argc, argv, "-d"))
		log_set_level(LOG_DEBUG);
	if (xl_config_form(argc, argv)) {
		fprintf(stderr,
			"godwit: restore: CONFIG FILE: a saved domain is restored with the configuration in its file; another one cannot replace it\n");
		return CLI_FAIL;
	}
	if (!foreground && daemon_args(argc, argv, &paused, &first) &&
	    !godwit_open_daemon(&c, err, sizeof(err)))
		return restore_by_daemon(c, argv[first], paused);
	o = calloc(1, sizeof(*o));
	if (!o)
		return CLI_FAIL;
	/* GNU getopt permutes: options may follow FILE. */
	rc = vmopts_parse(argc, argv, VMOPTS_RESTORE, o, restore_usage, &first);
	if (rc) {
		free(o);
		return rc == VMOPTS_HELP ? CLI_OK : rc;
	}
	if (argc - first != 1) {
		restore_usage(stderr);
		free(o);
		return CLI_USAGE;
	}
	rc = open_file(o, argv[first]);
	if (!rc)
		rc = monitor_run(o);
	free(o);
	return rc;
}

static void receive_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit migrate-receive [OPTIONS]\n"
		"Accept one live migration and run the VM in the foreground.\n\n");
	vmopts_usage(f, VMOPTS_RECEIVE);
}

/*
 * --stdio under ssh: sshd keeps the session (and the source's ssh) until
 * the command exits and its stdio closes, but the VMM process is the VM
 * and runs on. So fork before any thread exists: the child is the VMM
 * in a session of its own; this process waits for its word (one byte,
 * once the VM runs here and stdio is let go) or its end, and exits with
 * that status. Returns only in the child.
 */
static void receive_stdio_fork(struct monitor_opts *o)
{
	int p[2], status = 1, null;
	ssize_t r;
	pid_t pid;
	char b;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		fprintf(stderr, "godwit: migrate-receive: cannot fork: %s\n",
			strerror(errno));
		exit(CLI_FAIL);
	}
	if (!pid) {
		close(p[0]);
		setsid();
		o->detach_fd = p[1];
		return;
	}
	close(p[1]);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) { /* the child's stdio is the stream's */
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	do
		r = read(p[0], &b, 1);
	while (r < 0 && errno == EINTR);
	if (r == 1)
		exit(CLI_OK);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) /* ssh carries this back to the source */
		fprintf(stderr,
			"godwit: migrate-receive: the VM process (pid %d) was killed by signal %d\n",
			(int)pid, WTERMSIG(status));
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : CLI_FAIL);
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
	if (!rc && o->incoming_stdio)
		receive_stdio_fork(o);
	if (!rc)
		rc = monitor_run(o);
	else if (rc == VMOPTS_HELP)
		rc = CLI_OK;
	free(o);
	return rc;
}
