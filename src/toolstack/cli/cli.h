/*
 * The godwit command line: a table of verbs, each a function that parses
 * its own options and returns the process exit status (0 success,
 * 1 failure, 2 usage error). Only this layer prints usage and exits.
 */
#ifndef GODWIT_CLI_CLI_H
#define GODWIT_CLI_CLI_H

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

struct cli_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args; /* usage synopsis after the verb */
	const char *summary; /* one line */
};

#include <stddef.h>

int cmd_run(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_job_info(int argc, char **argv);
int cmd_job_abort(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_unpause(int argc, char **argv);
int cmd_announce(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_migrate_resolve(int argc, char **argv);

/*
 * Run a domain verb (<godwit/domain.h>, enum godwit_verb v) on dom;
 * prints "godwit: VERB DOM: error" and returns CLI_FAIL if it fails.
 */
int cli_verb(const char *verb, const char *dom, int v, int timeout_ms);
/* Attach to dom's console (through godwitd or its VM socket). */
int cli_console(const char *dom);
/* Attach to the pty at path; label names the domain in messages. */
int cli_console_pty(const char *label, const char *path);
/* file made absolute against the working directory; -1 if too long. */
int cli_absolute(const char *file, char *out, size_t len);

#endif
