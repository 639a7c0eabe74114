/*
 * Saying why something failed: the one helper every layer uses to fill
 * a caller's "why" buffer (one line, no trailing newline) and return
 * the error in the same statement:
 *
 *	if (len > max)
 *		return why_set(why, whylen, -EINVAL, "length %u exceeds %u",
 *			       len, max);
 */
#ifndef GODWIT_COMMON_WHY_H
#define GODWIT_COMMON_WHY_H

#include <stddef.h>

#include "common/compiler.h"

/*
 * Format the reason into why (whylen bytes, cut if longer; nothing is
 * written when whylen is 0) and return rc unchanged.
 */
int why_set(char *why, size_t whylen, int rc, const char *fmt, ...)
	__printf(4, 5);

#endif
