/*
 * Running migration hooks. Hooks are spawned (not forked: the VMM has
 * vCPU threads) with default signal handling, in their own process
 * group so a timeout can kill whatever they started, with stdout and
 * stderr on a pipe whose lines go to the log.
 */
#include "monitor/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

extern char **environ;

#define HOOKS_MAX 64

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Executable regular files in dir, sorted; dotfiles and others skipped. */
static int hooks_list(const char *dir, char **names, unsigned int *n)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	char path[4096];
	struct stat st;

	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) && *n < HOOKS_MAX) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode) ||
		    access(path, X_OK))
			continue;
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), name_cmp);
	return 0;
}

static void set_env(char **envp, int *n, const char *key, const char *val)
{
	if (asprintf(&envp[*n], "%s=%s", key, val) >= 0)
		(*n)++;
}

static const char *const hook_keys[] = { "GODWIT_STEP", "GODWIT_DOMAIN",
					 "GODWIT_UUID", "GODWIT_DEST" };

/* Is environment entry e ("KEY=value") one that hook_env sets itself? */
static bool hook_key(const char *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(hook_keys); i++) {
		size_t k = strlen(hook_keys[i]);

		if (!strncmp(e, hook_keys[i], k) && e[k] == '=')
			return true;
	}
	return false;
}

/*
 * Our environment plus GODWIT_STEP and friends, which replace any the
 * monitor inherited (a hook must see this migration's values).
 */
static char **hook_env(const struct hook_ctx *ctx, const char *step)
{
	const char *vals[] = { step, ctx->domain, ctx->uuid, ctx->dest };
	int n = 0, i, count = 0;
	char **envp;

	_Static_assert(ARRAY_SIZE(vals) == ARRAY_SIZE(hook_keys), "hook keys");
	while (environ[count])
		count++;
	envp = calloc(count + ARRAY_SIZE(hook_keys) + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (i = 0; i < count; i++)
		if (!hook_key(environ[i]) && (envp[n] = strdup(environ[i])))
			n++;
	for (i = 0; i < (int)ARRAY_SIZE(hook_keys); i++)
		set_env(envp, &n, hook_keys[i], vals[i]);
	return envp;
}

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static int spawn_hook(const char *path, const char *name,
		      const struct hook_ctx *ctx, const char *step, int out,
		      pid_t *pid)
{
	char *argv[] = { (char *)name,	      (char *)step,
			 (char *)ctx->domain, (char *)ctx->uuid,
			 (char *)ctx->dest,   NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char **envp = hook_env(ctx, step);
	int r;

	if (!envp)
		return -ENOMEM;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, out, 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	r = posix_spawn(pid, path, &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free_strv(envp);
	return -r;
}

/* Log complete lines from buf; keep a partial last line. */
static void log_lines(const char *name, const char *step, char *buf,
		      size_t *len)
{
	char *start = buf, *nl;

	while ((nl = memchr(start, '\n', *len - (start - buf)))) {
		*nl = 0;
		log_info("hook %s %s: %s", name, step, start);
		start = nl + 1;
	}
	*len -= start - buf;
	memmove(buf, start, *len);
	if (*len == 1024) { /* a very long line: log it in pieces */
		buf[1023] = 0;
		log_info("hook %s %s: %s", name, step, buf);
		*len = 0;
	}
}

/* Collect output until the pipe closes or time runs out. */
static bool drain_output(int fd, const char *name, const char *step,
			 uint64_t deadline)
{
	char buf[1025];
	size_t len = 0;
	ssize_t r;

	for (;;) {
		uint64_t now = time_mono_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (now >= deadline)
			return false;
		if (poll(&p, 1, (deadline - now) / NSEC_PER_MSEC + 1) <= 0)
			continue;
		r = read(fd, buf + len, 1024 - len);
		if (r <= 0)
			break;
		len += r;
		log_lines(name, step, buf, &len);
	}
	if (len) {
		buf[len] = 0;
		log_info("hook %s %s: %s", name, step, buf);
	}
	return true;
}

static int run_one(const struct hook_ctx *ctx, const char *name,
		   const char *step, char *why, size_t whylen)
{
	uint64_t deadline = time_mono_ns() + ctx->timeout_ms * NSEC_PER_MSEC;
	char path[4096];
	int p[2], status = 0, rc;
	bool in_time;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", ctx->dir, name);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	rc = spawn_hook(path, name, ctx, step, p[1], &pid);
	close(p[1]);
	if (rc) {
		close(p[0]);
		snprintf(why, whylen, "migration hook %s cannot run: %s", name,
			 strerror(-rc));
		return -ECANCELED;
	}
	in_time = drain_output(p[0], name, step, deadline);
	close(p[0]);
	/* Output closed; the hook may still run (or a child kept the pipe). */
	while (in_time && waitpid(pid, &status, WNOHANG) == 0) {
		if (time_mono_ns() >= deadline)
			in_time = false;
		else
			usleep(10000);
	}
	if (!in_time) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(why, whylen,
			 "migration hook %s timed out at step %s after %u ms",
			 name, step, ctx->timeout_ms);
		return -ECANCELED;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, whylen,
			 "migration hook %s failed at step %s (exit %d)", name,
			 step, WEXITSTATUS(status));
	else
		snprintf(why, whylen,
			 "migration hook %s failed at step %s (signal %d)",
			 name, step, WTERMSIG(status));
	return -ECANCELED;
}

int hooks_run(const struct hook_ctx *ctx, const char *step, char *why,
	      size_t whylen)
{
	char *names[HOOKS_MAX];
	unsigned int n = 0, i;
	int rc;

	if (!ctx->dir || !ctx->dir[0])
		return 0;
	rc = hooks_list(ctx->dir, names, &n);
	if (rc) {
		snprintf(why, whylen, "migration hooks in %s: %s", ctx->dir,
			 strerror(-rc));
		return -ECANCELED;
	}
	for (i = 0; i < n && !rc; i++) {
		log_info("running migration hook %s %s", names[i], step);
		rc = run_one(ctx, names[i], step, why, whylen);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	return rc;
}
