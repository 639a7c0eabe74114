/*
 * The relocation server's allow-list, after xend's
 * xend-relocation-hosts-allow: space-separated POSIX extended regular
 * expressions, matched against the peer's address ("10.0.0.7",
 * "fe80::1"; an IPv4-mapped IPv6 peer is matched as plain IPv4). A peer
 * is allowed when any expression matches; an empty list allows every
 * peer. Pure, unit-tested.
 */
#ifndef GODWIT_DAEMON_ALLOW_H
#define GODWIT_DAEMON_ALLOW_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/compiler.h"

#define ALLOW_MAX 64
#define ALLOW_DEFAULT "^127\\.0\\.0\\.1$ ^::1$"

struct allow_list {
	unsigned int n;
	regex_t re[ALLOW_MAX];
};

/*
 * Compile spec. -EINVAL (why names the bad expression) or -E2BIG.
 * _destroy is idempotent once _init ran, whatever it returned.
 */
int allow_init(struct allow_list *a, const char *spec, char *why,
	       size_t whylen) __must_check;
void allow_destroy(struct allow_list *a);

/* Is addr (numeric text) allowed? */
bool allow_match(const struct allow_list *a, const char *addr);

/* The numeric text of a peer address, IPv4-mapped IPv6 as IPv4. */
int allow_addr_text(const struct sockaddr *sa, socklen_t len, char *buf,
		    size_t size) __must_check;

#endif
