/*
 * Running hotplug scripts (hotplug.h has the interfaces): resolve one,
 * check it can run, build its environment, run it with a deadline, log
 * what it printed, and turn its outcome into one line saying why not;
 * for a disk's script also the path it printed.
 */
#include "common/hotplug.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"
#include "common/util.h"

/* The script's path: as given if it has a '/', else in the dir. */
static int script_path(const char *script, const char *dir, char *out,
		       size_t len)
{
	if (strchr(script, '/'))
		return str_printf(out, len, "%s", script);
	if (!dir)
		dir = env_or("GODWIT_SCRIPTS_DIR", HOTPLUG_SCRIPTS_DIR);
	return str_printf(out, len, "%s/%s", dir, script);
}

int hotplug_script_path(const struct hotplug_disk *h, char *out, size_t len)
{
	return script_path(h->script, h->scripts_dir, out, len);
}

static void env_free(char **env)
{
	for (char **p = env; p && *p; p++)
		free(*p);
	free(env);
}

/* keys[i]=vals[i] for every value given; NULL when out of memory. */
static char **env_build(const char *const *keys, const char *const *vals,
			size_t nr)
{
	char **env = calloc(nr + 1, sizeof(*env));
	size_t i, n = 0;

	if (!env)
		return NULL;
	for (i = 0; i < nr; i++) {
		if (!vals[i])
			continue;
		if (asprintf(&env[n], "%s=%s", keys[i], vals[i]) < 0) {
			env[n] = NULL;
			env_free(env);
			return NULL;
		}
		n++;
	}
	return env;
}

#define LINE_SHOWN 200 /* bytes of one output line in the log */

/* Every line the script printed goes to the log. */
static void log_output(const char *label, const char *name, const char *action,
		       const char *text, bool cut)
{
	const char *p = text, *nl;
	size_t n;

	if (cut)
		log_info("%s: %s %s: (earlier output dropped)", label, name,
			 action);
	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n)
			log_info("%s: %s %s: %.*s%s", label, name, action,
				 (int)MIN(n, LINE_SHOWN), p,
				 n > LINE_SHOWN ? "..." : "");
		if (!nl)
			break;
		p = nl + 1;
	}
}

/* The script's own words for a failure: its last line, stderr first. */
static void quote_message(const struct child_result *r, char *out, size_t len)
{
	char line[200];

	child_last_line(r->err, line, sizeof(line));
	if (!line[0])
		child_last_line(r->out, line, sizeof(line));
	if (line[0])
		snprintf(out, len, ": \"%s\"", line);
	else
		snprintf(out, len, " (it printed nothing)");
}

static int outcome(const struct hotplug_job *j, const char *path,
		   const struct child_result *r, char *why, size_t whylen)
{
	char msg[256];

	if (r->timed_out) {
		snprintf(
			why, whylen,
			"%s: hotplug script %s %s did not finish within %u ms (killed)",
			j->label, path, j->action, j->timeout_ms);
		return -ETIMEDOUT;
	}
	if (WIFEXITED(r->status) && !WEXITSTATUS(r->status))
		return 0;
	quote_message(r, msg, sizeof(msg));
	if (WIFEXITED(r->status))
		snprintf(why, whylen,
			 "%s: hotplug script %s %s failed (exit %d)%s",
			 j->label, path, j->action, WEXITSTATUS(r->status),
			 msg);
	else
		snprintf(why, whylen,
			 "%s: hotplug script %s %s killed by signal %d%s",
			 j->label, path, j->action, WTERMSIG(r->status), msg);
	return -EIO;
}

/* Can path run? A clear line for the usual mistakes first. */
static int check_script(const struct hotplug_job *j, const char *path,
			char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st)) {
		snprintf(why, whylen, "%s: hotplug script %s: %s", j->label,
			 path,
			 errno == ENOENT ? "does not exist" : strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK)) {
		snprintf(why, whylen,
			 "%s: hotplug script %s is not an executable file",
			 j->label, path);
		return -EACCES;
	}
	return 0;
}

int hotplug_run(const struct hotplug_job *j_in, struct child_result *r,
		char *path, size_t pathlen, char *why, size_t whylen)
{
	struct hotplug_job j = *j_in;
	char *argv[3 + HOTPLUG_ARGS_MAX];
	char **env;
	size_t i;
	int rc;

	if (!j.timeout_ms)
		j.timeout_ms = HOTPLUG_TIMEOUT_MS_DEFAULT;
	if (script_path(j.script, j.scripts_dir, path, pathlen)) {
		snprintf(why, whylen, "%s: hotplug script name too long",
			 j.label);
		return -ENAMETOOLONG;
	}
	rc = check_script(&j, path, why, whylen);
	if (rc)
		return rc;
	env = env_build(j.env_keys, j.env_vals, j.nr_env);
	if (!env)
		return -ENOMEM;
	argv[0] = path;
	argv[1] = (char *)j.action;
	for (i = 0; i < HOTPLUG_ARGS_MAX && j.args[i]; i++)
		argv[2 + i] = (char *)j.args[i];
	argv[2 + i] = NULL;
	log_info("%s: running hotplug script %s %s", j.label, path, j.action);
	rc = child_run(path, argv, env, j.timeout_ms, r);
	env_free(env);
	if (rc) {
		snprintf(why, whylen, "%s: hotplug script %s cannot run: %s",
			 j.label, path, strerror(-rc));
		return rc;
	}
	log_output(j.label, path, j.action, r->out, r->out_cut);
	log_output(j.label, path, j.action, r->err, r->err_cut);
	return outcome(&j, path, r, why, whylen);
}

/* A disk's job: the environment of hotplug.h, exactly. */
static int disk_run(const struct hotplug_disk *h, const char *action,
		    struct child_result *r, char *path, size_t pathlen,
		    char *why, size_t whylen)
{
	static const char *const keys[] = { "PATH",	     "script",
					    "GODWIT_ACTION", "GODWIT_PARAMS",
					    "GODWIT_MODE",   "GODWIT_VDEV",
					    "GODWIT_DOMAIN", "GODWIT_UUID",
					    "GODWIT_DEVICE", "GODWIT_PEER" };
	char label[64], spath[4096];
	const char *vals[] = { HOTPLUG_PATH,
			       spath,
			       action,
			       h->target,
			       h->readonly ? "r" : "w",
			       h->vdev,
			       h->domain,
			       h->uuid,
			       h->device,
			       h->peer };
	struct hotplug_job j = {
		.label = label,
		.script = h->script,
		.scripts_dir = h->scripts_dir,
		.action = action,
		.env_keys = keys,
		.env_vals = vals,
		.nr_env = ARRAY_SIZE(keys),
		.timeout_ms = h->timeout_ms,
	};

	_Static_assert(ARRAY_SIZE(keys) == HOTPLUG_ENV_MAX, "env keys");
	_Static_assert(ARRAY_SIZE(vals) == HOTPLUG_ENV_MAX, "env values");
	snprintf(label, sizeof(label), "disk %s", h->vdev);
	if (hotplug_script_path(h, spath, sizeof(spath)))
		spath[0] = 0; /* hotplug_run says the name is too long */
	return hotplug_run(&j, r, path, pathlen, why, whylen);
}

int hotplug_add(const struct hotplug_disk *h, char *path_out, size_t len,
		char *why, size_t whylen)
{
	struct child_result *r = malloc(sizeof(*r));
	char script[4096], dev[4096];
	int rc;

	if (!r)
		return -ENOMEM;
	rc = disk_run(h, "add", r, script, sizeof(script), why, whylen);
	if (!rc)
		child_last_line(r->out, dev, sizeof(dev));
	free(r);
	if (rc)
		return rc;
	if (dev[0] == '/' && !str_printf(path_out, len, "%s", dev))
		return 0;
	snprintf(
		why, whylen,
		"disk %s: hotplug script %s add printed no absolute path of a device or file (last line on stdout: \"%.80s\")",
		h->vdev, script, dev);
	return -EINVAL;
}

int hotplug_step(const struct hotplug_disk *h, const char *step, char *why,
		 size_t whylen)
{
	struct child_result *r = malloc(sizeof(*r));
	char script[4096];
	int rc;

	if (!r)
		return -ENOMEM;
	rc = disk_run(h, step, r, script, sizeof(script), why, whylen);
	free(r);
	return rc;
}

int hotplug_remove(const struct hotplug_disk *h, char *why, size_t whylen)
{
	return hotplug_step(h, "remove", why, whylen);
}
