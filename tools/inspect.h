/* godwit inspect: offline stream validation (tools/inspect.c). */
#ifndef GODWIT_TOOLS_INSPECT_H
#define GODWIT_TOOLS_INSPECT_H

int inspect_main(int argc, char **argv);

#endif
