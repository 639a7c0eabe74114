/*
 * Migration hooks, after xend's external-device-migrate: every executable
 * in a directory runs at each step of an outgoing migration, with the
 * step, domain name, UUID and destination as arguments and in the
 * environment. A non-zero exit or a timeout aborts the migration (before
 * the handover) and the source resumes; `recover` runs after any failure.
 */
#ifndef GODWIT_MONITOR_HOOKS_H
#define GODWIT_MONITOR_HOOKS_H

#include <stddef.h>

#include "common/compiler.h"

#define HOOK_TIMEOUT_MS_DEFAULT 30000

struct hook_ctx {
	const char *dir; /* "" or missing directory: no hooks */
	const char *domain;
	const char *uuid;
	const char *dest; /* "host:port" */
	unsigned int timeout_ms;
};

/*
 * Run every hook for step ("check", "pre-suspend", "post-suspend",
 * "sync", "recover") in name order, each to completion. Their output is
 * logged line by line. -ECANCELED with why set when one fails.
 */
int hooks_run(const struct hook_ctx *ctx, const char *step, char *why,
	      size_t whylen) __must_check;

#endif
