/*
 * Shared by godwit's public client headers (include/godwit/): the
 * attributes they use, without pulling in godwit's internal headers, so
 * an installed <godwit/vmctl.h> compiles on its own.
 */
#ifndef GODWIT_API_H
#define GODWIT_API_H

/* A result the caller must look at: every call here can fail. */
#define GODWIT_MUST_CHECK __attribute__((warn_unused_result))

#endif
