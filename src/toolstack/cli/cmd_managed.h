/* Managed save verbs of the CLI (cmd_managed.c), godwitd's only. */
#ifndef GODWIT_TOOLSTACK_CLI_CMD_MANAGED_H
#define GODWIT_TOOLSTACK_CLI_CMD_MANAGED_H

/* Each returns the exit status: 0, 1 with one error line, 2 usage. */
int cmd_managedsave(int argc, char **argv);
int cmd_managedsave_remove(int argc, char **argv);
int cmd_start(int argc, char **argv);

#endif
