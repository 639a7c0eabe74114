/*
 * Running a disk's block hotplug script (hotplug.h has the interface):
 * resolve it, check it can run, build its environment, run it with a
 * deadline, log what it printed, and turn its outcome into a path or
 * one line saying why not.
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

int hotplug_script_path(const struct hotplug_disk *h, char *out, size_t len)
{
	const char *dir = h->scripts_dir;

	if (strchr(h->script, '/'))
		return str_printf(out, len, "%s", h->script);
	if (!dir)
		dir = env_or("GODWIT_SCRIPTS_DIR", HOTPLUG_SCRIPTS_DIR);
	return str_printf(out, len, "%s/%s", dir, h->script);
}

static void env_free(char **env)
{
	for (char **p = env; p && *p; p++)
		free(*p);
	free(env);
}

/* The environment of hotplug.h, exactly; NULL when out of memory. */
static char **env_build(const struct hotplug_disk *h, const char *path,
			const char *action)
{
	const char *keys[] = { "PATH",		"script",      "GODWIT_ACTION",
			       "GODWIT_PARAMS", "GODWIT_MODE", "GODWIT_VDEV",
			       "GODWIT_DOMAIN", "GODWIT_UUID", "GODWIT_DEVICE",
			       "GODWIT_PEER" };
	const char *vals[] = { HOTPLUG_PATH,
			       path,
			       action,
			       h->target,
			       h->readonly ? "r" : "w",
			       h->vdev,
			       h->domain,
			       h->uuid,
			       h->device,
			       h->peer };
	char **env = calloc(HOTPLUG_ENV_MAX + 1, sizeof(*env));
	size_t i, n = 0;

	_Static_assert(ARRAY_SIZE(keys) == HOTPLUG_ENV_MAX, "env keys");
	_Static_assert(ARRAY_SIZE(vals) == HOTPLUG_ENV_MAX, "env values");
	if (!env)
		return NULL;
	for (i = 0; i < HOTPLUG_ENV_MAX; i++) {
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
		log_info("disk %s: %s %s: (earlier output dropped)", label,
			 name, action);
	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n)
			log_info("disk %s: %s %s: %.*s%s", label, name, action,
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

static int outcome(const struct hotplug_disk *h, const char *path,
		   const char *action, const struct child_result *r, char *why,
		   size_t whylen)
{
	char msg[256];

	if (r->timed_out) {
		snprintf(
			why, whylen,
			"disk %s: hotplug script %s %s did not finish within %u ms (killed)",
			h->vdev, path, action, h->timeout_ms);
		return -ETIMEDOUT;
	}
	if (WIFEXITED(r->status) && !WEXITSTATUS(r->status))
		return 0;
	quote_message(r, msg, sizeof(msg));
	if (WIFEXITED(r->status))
		snprintf(why, whylen,
			 "disk %s: hotplug script %s %s failed (exit %d)%s",
			 h->vdev, path, action, WEXITSTATUS(r->status), msg);
	else
		snprintf(why, whylen,
			 "disk %s: hotplug script %s %s killed by signal %d%s",
			 h->vdev, path, action, WTERMSIG(r->status), msg);
	return -EIO;
}

/* Can path run? A clear line for the usual mistakes first. */
static int check_script(const struct hotplug_disk *h, const char *path,
			char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st)) {
		snprintf(why, whylen, "disk %s: hotplug script %s: %s", h->vdev,
			 path,
			 errno == ENOENT ? "does not exist" : strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK)) {
		snprintf(why, whylen,
			 "disk %s: hotplug script %s is not an executable file",
			 h->vdev, path);
		return -EACCES;
	}
	return 0;
}

static int run(const struct hotplug_disk *h_in, const char *action,
	       struct child_result *r, char *path, size_t pathlen, char *why,
	       size_t whylen)
{
	struct hotplug_disk h = *h_in;
	char *argv[3];
	char **env;
	int rc;

	if (!h.timeout_ms)
		h.timeout_ms = HOTPLUG_TIMEOUT_MS_DEFAULT;
	if (hotplug_script_path(&h, path, pathlen)) {
		snprintf(why, whylen, "disk %s: hotplug script name too long",
			 h.vdev);
		return -ENAMETOOLONG;
	}
	rc = check_script(&h, path, why, whylen);
	if (rc)
		return rc;
	env = env_build(&h, path, action);
	if (!env)
		return -ENOMEM;
	argv[0] = path;
	argv[1] = (char *)action;
	argv[2] = NULL;
	log_info("disk %s: running hotplug script %s %s", h.vdev, path, action);
	rc = child_run(path, argv, env, h.timeout_ms, r);
	env_free(env);
	if (rc) {
		snprintf(why, whylen,
			 "disk %s: hotplug script %s cannot run: %s", h.vdev,
			 path, strerror(-rc));
		return rc;
	}
	log_output(h.vdev, path, action, r->out, r->out_cut);
	log_output(h.vdev, path, action, r->err, r->err_cut);
	return outcome(&h, path, action, r, why, whylen);
}

int hotplug_add(const struct hotplug_disk *h, char *path_out, size_t len,
		char *why, size_t whylen)
{
	struct child_result *r = malloc(sizeof(*r));
	char script[4096], dev[4096];
	int rc;

	if (!r)
		return -ENOMEM;
	rc = run(h, "add", r, script, sizeof(script), why, whylen);
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
	rc = run(h, step, r, script, sizeof(script), why, whylen);
	free(r);
	return rc;
}

int hotplug_remove(const struct hotplug_disk *h, char *why, size_t whylen)
{
	return hotplug_step(h, "remove", why, whylen);
}
