/*
 * TCP helpers for migration: "HOST[:PORT]" parsing (IPv6 in brackets),
 * listening, and connecting with a timeout. Buffer sizes are left to the
 * kernel's autotuning, which beats any fixed size we could set.
 */
#ifndef GODWIT_COMMON_NET_H
#define GODWIT_COMMON_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define NET_HOST_MAX 256
#define NET_DEFAULT_PORT 8002 /* xend's relocation port */

/* Split "host", "host:port", "[v6]:port"; missing port is default_port. */
int net_parse_hostport(const char *s, char *host, size_t hostlen,
		       uint16_t *port, uint16_t default_port) __must_check;
/* A listening TCP socket on host:port (SO_REUSEADDR). */
int net_listen(const char *host, uint16_t port, int *fd_out) __must_check;
/* Connect to host:port within timeout_ms; why gets one line on failure. */
int net_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out,
		char *why, size_t whylen) __must_check;
/*
 * Send small writes at once (TCP_NODELAY). Callers write whole records;
 * Nagle would hold a migration's last small segment until the peer's
 * delayed ACK, some 40 ms, all of it downtime. Not TCP (a socketpair in
 * tests): nothing to do, 0.
 */
int net_set_nodelay(int fd) __must_check;
/* Describe the peer of a connected socket as "addr:port". */
void net_peer_name(int fd, char *buf, size_t len);

#endif
