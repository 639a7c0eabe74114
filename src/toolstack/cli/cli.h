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

/* What a verb's other arguments are, for shell completion. */
enum cli_operand {
	CLI_NONE,
	CLI_DOMAIN, /* domain names */
	CLI_FILE, /* file names */
	CLI_DOMAIN_FILE, /* a domain, then a file (save, migrate) */
};

struct cli_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args; /* usage synopsis after the verb */
	const char *summary; /* one line */
	/*
	 * Every option the verb takes, space-separated, for completion (a
	 * test checks them against its --help): -x or --long; "=f" after
	 * one whose argument is a file, "=a|b" one of those words, "=" any
	 * other argument.
	 */
	const char *opts;
	enum cli_operand operands;
};

/* Print bash's completion for verbs (complete.c): godwit.bash. */
void cli_bash_completion(FILE *f, const struct cli_verb *verbs, size_t n);

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
int cmd_reboot(int argc, char **argv);
int cmd_domid(int argc, char **argv);
int cmd_domname(int argc, char **argv);
int cmd_uptime(int argc, char **argv);
int cmd_vcpu_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_migrate_resolve(int argc, char **argv);
int cmd_migrate_recover(int argc, char **argv);

/*
 * Run a domain verb (<godwit/domain.h>, enum godwit_verb v) on dom;
 * prints "godwit: VERB DOM: error" and returns CLI_FAIL if it fails.
 */
int cli_verb(const char *verb, const char *dom, int v, int timeout_ms);
/*
 * Attach to dom's console (through godwitd or its VM socket); the
 * escape character (CONSOLE_ESCAPE, ^], unless said) detaches.
 */
int cli_console(const char *dom, char escape);
/* Attach to the pty at path; label names the domain in messages. */
int cli_console_pty(const char *label, const char *path, char escape);
/*
 * godwitd's domains (cmd_list.c): *list (n of them; free with
 * godwit_domain_list_free), and with raw its answer (the caller's
 * reference). Prints "godwit: VERB: error" and returns CLI_FAIL on
 * failure.
 */
struct godwit_domain_info;
struct json_object;
int cli_list_fetch(const char *verb, struct godwit_domain_info **list,
		   size_t *n, struct json_object **raw);
/* Is d the DOMAIN want names (name, id or uuid)? */
bool cli_domain_is(const struct godwit_domain_info *d, const char *want);
/* The domain want names in list, or NULL. */
const struct godwit_domain_info *
cli_domain_find(const struct godwit_domain_info *list, size_t n,
		const char *want);
/* xl's six state flags for a state word ("r-----"). */
const char *cli_state_flags(const char *state);

/* file made absolute against the working directory; -1 if too long. */
int cli_absolute(const char *file, char *out, size_t len);

#endif
