/* Disk image verbs of the CLI (cmd_disk.c). */
#ifndef GODWIT_TOOLSTACK_CLI_CMD_DISK_H
#define GODWIT_TOOLSTACK_CLI_CMD_DISK_H

/* godwit disk-create: 0, or 1 with a one-line error on stderr. */
int cmd_disk_create(int argc, char **argv);

#endif
