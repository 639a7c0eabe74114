/*
 * TLS on the relocation port: godwitd as gatekeeper (docs/stream-format.md,
 * "TLS"). godwitd cannot hand a TLS session to the receiving VMM process,
 * so it runs a first session only to judge the connection: the handshake
 * (the client's certificate verified against the CA, its DN or CN against
 * the allowed names), GATE, and the client's first word (a QUERY or a
 * stream header), which it answers in that session (ACCEPTED and an
 * OUTCOME or a FAILED) or, for a stream it takes, with RESTART: both
 * sides close the session and the receiver it spawns on the same TCP
 * connection runs a second one, which carries the stream. Both
 * handshakes happen before the first page: none in the downtime.
 *
 * Non-blocking, driven by godwitd's event loop: every call does what the
 * socket allows now and says whether to wait for more.
 */
#ifndef GODWIT_DAEMON_RELOC_TLS_H
#define GODWIT_DAEMON_RELOC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

#define RTLS_NAMES_MAX 16

struct rtls; /* the server's credentials and allowed names */
struct rtls_conn; /* one connection's session 1 */

/* Load DIR/ca-cert.pem, server-cert.pem, server-key.pem; why on failure. */
int rtls_new(struct rtls **out, const char *dir, const char *const *allow,
	     unsigned int nr_allow, char *why, size_t whylen) __must_check;
void rtls_free(struct rtls *t);

int rtls_conn_new(struct rtls *t, int fd, struct rtls_conn **out) __must_check;
/* Ends the session (no close_notify) without closing the fd. */
void rtls_conn_free(struct rtls_conn *c);

enum rtls_step {
	RTLS_WAIT = 1, /* nothing more now: wait until the fd is readable */
	RTLS_DATA, /* the first word's bytes so far are in *buf, *len */
	RTLS_CLOSED, /* the peer's close_notify (after RESTART) came */
};

/*
 * Go on: handshake, checks, GATE, then the client's first word; after
 * rtls_conn_restart(), its close_notify. RTLS_* or -errno with one line
 * in why (a bad certificate, a name not allowed, a plain-text peer).
 */
int rtls_conn_step(struct rtls_conn *c, const unsigned char **buf, size_t *len,
		   char *why, size_t whylen) __must_check;
/* ACCEPTED, then msg (OUTCOME, FAILED), then close_notify; never waits. */
int rtls_conn_answer(struct rtls_conn *c, const void *msg, size_t len);
/* RESTART; step then waits for the client's close_notify (RTLS_CLOSED). */
int rtls_conn_restart(struct rtls_conn *c);
/* After RTLS_CLOSED: our close_notify, the last of session 1. */
int rtls_conn_close_notify(struct rtls_conn *c);
/* The client certificate's subject DN, once the handshake is done. */
const char *rtls_conn_peer(const struct rtls_conn *c);

#endif
