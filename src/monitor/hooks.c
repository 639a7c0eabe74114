/*
 * Running migration hooks: each executable in the hooks directory, in
 * name order, through child_run (spawned, not forked: the VMM has vCPU
 * threads; in its own process group, so a timeout kills whatever it
 * started). Their output lines go to the log once each hook ends.
 */
#include "monitor/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/child.h"
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

/* Each line of a hook's output, as "hook NAME STEP: line". */
static void log_output(const char *name, const char *step, char *text)
{
	char *save = NULL, *line;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		log_info("hook %s %s: %s", name, step, line);
}

static int run_one(const struct hook_ctx *ctx, const char *name,
		   const char *step, char *why, size_t whylen)
{
	char *argv[] = { (char *)name,	      (char *)step,
			 (char *)ctx->domain, (char *)ctx->uuid,
			 (char *)ctx->dest,   NULL };
	char **envp = hook_env(ctx, step);
	struct child_result *res = malloc(sizeof(*res));
	char path[4096];
	int rc = -ENOMEM;

	if (!envp || !res)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", ctx->dir, name);
	rc = child_run(path, argv, envp, ctx->timeout_ms, res);
	if (rc) {
		snprintf(why, whylen, "migration hook %s cannot run: %s", name,
			 strerror(-rc));
		rc = -ECANCELED;
		goto out;
	}
	log_output(name, step, res->out);
	log_output(name, step, res->err);
	rc = -ECANCELED;
	if (res->timed_out)
		snprintf(why, whylen,
			 "migration hook %s timed out at step %s after %u ms",
			 name, step, ctx->timeout_ms);
	else if (WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0)
		rc = 0;
	else if (WIFEXITED(res->status))
		snprintf(why, whylen,
			 "migration hook %s failed at step %s (exit %d)", name,
			 step, WEXITSTATUS(res->status));
	else
		snprintf(why, whylen,
			 "migration hook %s failed at step %s (signal %d)",
			 name, step, WTERMSIG(res->status));
out:
	free(res);
	free_strv(envp);
	return rc;
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
