/*
 * TLS for migration streams (GnuTLS, x509), the layout of QEMU's
 * tls-creds-x509: DIR/ca-cert.pem, server-cert.pem, server-key.pem,
 * client-cert.pem, client-key.pem. Both ends verify the other: the
 * client checks the server's certificate against the name it dialled
 * (or tls_opts.peer_name), the server requires a client certificate
 * signed by the CA and, with allow_names, one whose subject DN or CN is
 * listed. The handshake happens when the stream is set up, under its
 * own deadline; after it, reads and writes go through the session with
 * the stream's usual waits, so nothing on the downtime path pays for it.
 */
#ifndef GODWIT_TRANSPORT_TLS_H
#define GODWIT_TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "migration/transport/stream.h"

#define TLS_DIR_DEFAULT "/etc/godwit/tls"
#define TLS_NAMES_MAX 16

struct tls_opts {
	const char *dir; /* NULL or "": TLS_DIR_DEFAULT */
	const char *peer_name; /* client: the server's expected name */
	/* server: allowed client names (DN or CN); none: any the CA signed */
	const char *allow_names[TLS_NAMES_MAX];
	unsigned int nr_allow_names;
	unsigned int handshake_ms; /* 0: 10 s */
};

/*
 * Turn s, an open fd stream on a connected socket (limits and cancel fd
 * set), into a TLS client or server stream: handshake, verification.
 * 0, or -errno with one line in why ("the peer does not speak TLS", "the
 * peer's certificate has expired", ...). s stays open either way.
 */
int tls_stream_client(struct stream *s, const struct tls_opts *o, char *why,
		      size_t whylen) __must_check;
int tls_stream_server(struct stream *s, const struct tls_opts *o, char *why,
		      size_t whylen) __must_check;

/* The peer's certificate subject DN after a handshake ("" if none). */
const char *tls_stream_peer_dn(const struct stream *s);

#endif
