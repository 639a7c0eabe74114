/*
 * Reading a VMM's command line as godwitd builds it (spawn.c), for the
 * VMMs found running without a record at start-up (adopt.c): which mode,
 * which exit file, socket and arrival. Pure, unit-tested and fuzzed.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <string.h>

/* Is s a path inside dir (dir + "/" + more)? */
bool orphan_path_in(const char *s, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(s, dir, n) && s[n] == '/' && s[n + 1];
}

int orphan_parse(const char *buf, size_t len, const char *state_dir,
		 struct orphan *o)
{
	const char *argv[SPAWN_ORPHAN_ARGS], *p;
	size_t n = 0, i;

	memset(o, 0, sizeof(*o));
	if (!len || buf[len - 1])
		return -EINVAL;
	for (p = buf; p < buf + len && n < SPAWN_ORPHAN_ARGS;
	     p += strlen(p) + 1)
		argv[n++] = p;
	if (n < 2)
		return -EINVAL;
	if (!strcmp(argv[1], "run"))
		o->origin = ORIGIN_CREATE;
	else if (!strcmp(argv[1], "restore") && n > 2)
		o->origin = ORIGIN_RESTORE, o->file = argv[2];
	else if (!strcmp(argv[1], "migrate-receive"))
		o->origin = ORIGIN_MIGRATION;
	else
		return -EINVAL;
	for (i = 2; i + 1 < n; i++) {
		if (!strcmp(argv[i], "--exit-file"))
			o->exit_file = argv[++i];
		else if (!strcmp(argv[i], "--qmp"))
			o->qmp = argv[++i];
		else if (!strcmp(argv[i], "--arrival-id"))
			o->arrival_id = argv[++i];
		else if (!strcmp(argv[i], "--outcome-file"))
			o->outcome_file = argv[++i];
	}
	if (!o->exit_file || !o->qmp ||
	    !orphan_path_in(o->exit_file, state_dir) ||
	    strlen(o->exit_file) >= PATH_MAX || strlen(o->qmp) >= PATH_MAX)
		return -EINVAL;
	return 0;
}
