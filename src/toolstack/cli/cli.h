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
	const char *args;    /* usage synopsis after the verb */
	const char *summary; /* one line */
};

int cmd_run(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_unpause(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);

#endif
