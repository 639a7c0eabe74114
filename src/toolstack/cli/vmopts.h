/*
 * Options that describe a VM to run: an optional xl.cfg file and its
 * key=value overrides, then command-line options that override both.
 */
#ifndef GODWIT_CLI_VMOPTS_H
#define GODWIT_CLI_VMOPTS_H

#include <stdbool.h>
#include <stdio.h>

struct monitor_opts;

#define VMOPTS_HELP (-1)

/* Which options a verb takes. */
enum vmopts_mode {
	VMOPTS_RUN, /* godwit run [OPTIONS] [CONFIG [key=value...]] */
	VMOPTS_RESTORE, /* only --serial, --qmp, -p */
	VMOPTS_RECEIVE, /* restore's, plus --listen and --incoming-fd */
};

/*
 * Parse argv into o. Returns 0, VMOPTS_HELP after printing help, or an
 * exit status (1 bad value, 2 usage) after printing one error line.
 * *first_arg_out is the index of the first non-option argument left over
 * (RESTORE mode: the stream source).
 */
int vmopts_parse(int argc, char **argv, enum vmopts_mode mode,
		 struct monitor_opts *o, void (*usage)(FILE *f),
		 int *first_arg_out);
void vmopts_usage(FILE *f, enum vmopts_mode mode);

#endif
