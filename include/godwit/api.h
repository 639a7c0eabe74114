/*
 * Shared by godwit's public client headers (include/godwit/): the
 * attributes and limits they use, without any of godwit's internal
 * headers, so an installed <godwit/client.h> compiles on its own, in C
 * or C++.
 */
#ifndef GODWIT_API_H
#define GODWIT_API_H

#ifdef __cplusplus
extern "C" {
#endif

/* A result the caller must look at. */
#define GODWIT_MUST_CHECK __attribute__((warn_unused_result))

/* Longest error line the library writes, NUL included. */
#define GODWIT_ERROR_MAX 512
/* Longest path the library takes or gives, NUL included. */
#define GODWIT_PATH_MAX 4096
/* Longest domain name, id or uuid, NUL included. */
#define GODWIT_DOMAIN_MAX 64
/* Longest status, state or kind word, NUL included. */
#define GODWIT_WORD_MAX 32

#ifdef __cplusplus
}
#endif

#endif
