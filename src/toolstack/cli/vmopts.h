/*
 * Options that describe a VM to run (godwit run): kernel, memory, vCPUs,
 * CPU model, serial, name, control socket, and an optional config file.
 */
#ifndef GODWIT_CLI_VMOPTS_H
#define GODWIT_CLI_VMOPTS_H

#include <stdio.h>

struct monitor_opts;

#define VMOPTS_HELP (-1)

/*
 * Parse argv into o (defaults first, then the config file, then options).
 * Returns 0, VMOPTS_HELP after printing help, or an exit status (1 bad
 * value, 2 usage) after printing one error line.
 */
int vmopts_parse(int argc, char **argv, struct monitor_opts *o,
		 void (*usage)(FILE *f));
void vmopts_usage(FILE *f);

#endif
