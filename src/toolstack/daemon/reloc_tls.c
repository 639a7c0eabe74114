/*
 * godwitd's TLS gatekeeper on the relocation port (reloc_tls.h): one
 * GnuTLS server session per connection on its non-blocking socket. The
 * bytes of the protocol are migration/transport/tls.c's (the client).
 */
#include "toolstack/daemon/reloc_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/util.h"
#include "common/why.h"
#include "toolstack/daemon/preamble.h"

#define RTLS_ACCEPTED 0x01
#define RTLS_RESTART 0x02
#define RTLS_GATE 0x03
#define RTLS_CLIENT_HELLO 0x16

struct rtls {
	gnutls_certificate_credentials_t cred;
	char allow[RTLS_NAMES_MAX][256];
	unsigned int nr_allow;
};

enum conn_state {
	C_PEEK, /* a TLS ClientHello, or plain text? */
	C_HANDSHAKE,
	C_WORD, /* reading the first word */
	C_CLOSING, /* RESTART sent: until the client's close_notify */
};

struct rtls_conn {
	struct rtls *t;
	int fd;
	gnutls_session_t sess;
	enum conn_state state;
	unsigned char buf[PREAMBLE_MAX];
	size_t len;
	char peer_dn[512];
};

int rtls_new(struct rtls **out, const char *dir, const char *const *allow,
	     unsigned int nr_allow, char *why, size_t whylen)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct rtls *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return why_set(why, whylen, -ENOMEM, "out of memory");
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	snprintf(cert, sizeof(cert), "%s/server-cert.pem", dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", dir);
	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (!r) {
		r = gnutls_certificate_set_x509_trust_file(t->cred, ca,
							   GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			why_set(why, whylen, -EINVAL, "%s: %s", ca,
				r ? gnutls_strerror(r) : "no certificate");
			r = -1;
		} else {
			r = gnutls_certificate_set_x509_key_file(
				t->cred, cert, key, GNUTLS_X509_FMT_PEM);
			if (r < 0)
				why_set(why, whylen, -EINVAL, "%s and %s: %s",
					cert, key, gnutls_strerror(r));
		}
	}
	for (t->nr_allow = 0;
	     r >= 0 && t->nr_allow < nr_allow && t->nr_allow < RTLS_NAMES_MAX;
	     t->nr_allow++)
		snprintf(t->allow[t->nr_allow], sizeof(t->allow[0]), "%s",
			 allow[t->nr_allow]);
	if (r < 0) {
		rtls_free(t);
		return -EINVAL;
	}
	*out = t;
	return 0;
}

void rtls_free(struct rtls *t)
{
	if (!t)
		return;
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

int rtls_conn_new(struct rtls *t, int fd, struct rtls_conn **out)
{
	struct rtls_conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->t = t;
	c->fd = fd;
	/* The daemon's loop must never block in GnuTLS. */
	r = fd_set_nonblock(fd, true);
	if (r) {
		free(c);
		return r;
	}
	r = gnutls_init(&c->sess,
			GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (!r)
		r = gnutls_set_default_priority(c->sess);
	if (!r)
		r = gnutls_credentials_set(c->sess, GNUTLS_CRD_CERTIFICATE,
					   t->cred);
	if (r < 0) {
		rtls_conn_free(c);
		return -ENOMEM;
	}
	gnutls_transport_set_int(c->sess, fd);
	gnutls_certificate_server_set_request(c->sess, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert(c->sess, NULL, 0);
	*out = c;
	return 0;
}

void rtls_conn_free(struct rtls_conn *c)
{
	if (!c)
		return;
	if (c->sess)
		gnutls_deinit(c->sess);
	free(c);
}

const char *rtls_conn_peer(const struct rtls_conn *c)
{
	return c->peer_dn;
}

/* Send a small record now; the socket is fresh or quiet: it fits. */
static int send_now(struct rtls_conn *c, const void *buf, size_t len)
{
	ssize_t r;

	do
		r = gnutls_record_send(c->sess, buf, len);
	while (r == GNUTLS_E_INTERRUPTED);
	return r == (ssize_t)len ? 0 : -EAGAIN;
}

/* The handshake failed: an alert for the peer, a line for the log. */
static int refuse(struct rtls_conn *c, int r, char *why, size_t whylen)
{
	gnutls_datum_t out = { NULL, 0 };
	int level, alert;
	size_t n;

	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_alert_send(c->sess, GNUTLS_AL_FATAL,
				  GNUTLS_A_BAD_CERTIFICATE);
		gnutls_certificate_verification_status_print(
			gnutls_session_get_verify_cert_status(c->sess),
			GNUTLS_CRT_X509, &out, 0);
		why_set(why, whylen, -EACCES,
			"tls: the peer's certificate is refused: %s",
			out.data ? (char *)out.data : "not valid");
		gnutls_free(out.data);
		n = strlen(why);
		while (n && why[n - 1] == ' ')
			why[--n] = 0;
		return -EACCES;
	}
	alert = gnutls_error_to_alert(r, &level);
	if (alert >= 0 && r != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gnutls_alert_send(c->sess, GNUTLS_AL_FATAL, alert);
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR)
		return why_set(
			why, whylen, -ECONNRESET,
			"tls: the peer closed the connection in the handshake");
	if (r == GNUTLS_E_CERTIFICATE_REQUIRED ||
	    r == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return why_set(
			why, whylen, -EACCES,
			"tls: the peer sent no certificate signed by our CA");
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return why_set(
			why, whylen, -EACCES, "tls: the peer refused us: %s",
			gnutls_alert_get_name(gnutls_alert_get(c->sess)));
	return why_set(why, whylen, -EPROTO, "tls: handshake: %s",
		       gnutls_strerror(r));
}

/* The client's certificate: its DN for the log, DN or CN allowed? */
static int allowed(struct rtls_conn *c, char *why, size_t whylen)
{
	char dn2[512] = "", cn[256] = "";
	const gnutls_datum_t *der;
	gnutls_datum_t dn = { NULL, 0 };
	gnutls_x509_crt_t crt;
	unsigned int n = 0, i;
	size_t len;
	int r = -1;

	der = gnutls_certificate_get_peers(c->sess, &n);
	if (der && n && gnutls_x509_crt_init(&crt) >= 0) {
		r = gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER);
		if (!r && !gnutls_x509_crt_get_dn3(crt, &dn, 0)) {
			snprintf(c->peer_dn, sizeof(c->peer_dn), "%s", dn.data);
			gnutls_free(dn.data);
		}
		len = sizeof(dn2);
		if (!r && gnutls_x509_crt_get_dn(crt, dn2, &len) < 0)
			dn2[0] = 0;
		len = sizeof(cn);
		if (!r && gnutls_x509_crt_get_dn_by_oid(
				  crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn,
				  &len) < 0)
			cn[0] = 0;
		gnutls_x509_crt_deinit(crt);
	}
	if (r)
		return why_set(why, whylen, -EACCES,
			       "tls: cannot read the peer's certificate");
	for (i = 0; i < c->t->nr_allow; i++) {
		const char *a = c->t->allow[i];

		if (!strcmp(a, c->peer_dn) || !strcmp(a, dn2) ||
		    (cn[0] && !strcmp(a, cn)))
			return 0;
	}
	if (!c->t->nr_allow)
		return 0;
	gnutls_alert_send(c->sess, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
	return why_set(
		why, whylen, -EACCES,
		"tls: the peer's certificate '%s' is not among the allowed names",
		c->peer_dn);
}

/* Plain text (a godwit stream without TLS) is refused before GnuTLS. */
static int peek(struct rtls_conn *c, char *why, size_t whylen)
{
	unsigned char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return RTLS_WAIT;
	if (n <= 0)
		return why_set(why, whylen, -ECONNRESET,
			       "closed before a TLS handshake");
	if (b != RTLS_CLIENT_HELLO)
		return why_set(
			why, whylen, -EPROTO,
			"tls: the peer does not speak TLS (it sent plain text)");
	c->state = C_HANDSHAKE;
	return 0;
}

static int handshake(struct rtls_conn *c, char *why, size_t whylen)
{
	static const unsigned char gate = RTLS_GATE;
	int r;

	do
		r = gnutls_handshake(c->sess);
	while (r == GNUTLS_E_INTERRUPTED);
	if (r == GNUTLS_E_AGAIN)
		return RTLS_WAIT;
	if (r < 0)
		return refuse(c, r, why, whylen);
	r = allowed(c, why, whylen);
	if (r)
		return r;
	if (send_now(c, &gate, 1))
		return why_set(why, whylen, -EIO, "tls: cannot send GATE");
	c->state = C_WORD;
	return 0;
}

/* Records while there are some: the first word, or the close_notify. */
static int records(struct rtls_conn *c, const unsigned char **buf, size_t *len,
		   char *why, size_t whylen)
{
	unsigned char sink[512];
	bool closing = c->state == C_CLOSING;
	ssize_t r;

	for (;;) {
		if (!closing && c->len == sizeof(c->buf))
			break;
		r = closing ? gnutls_record_recv(c->sess, sink, sizeof(sink)) :
			      gnutls_record_recv(c->sess, c->buf + c->len,
						 sizeof(c->buf) - c->len);
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r == GNUTLS_E_AGAIN)
			break;
		if (r == 0 && closing)
			return RTLS_CLOSED;
		if (r == 0)
			return why_set(
				why, whylen, -ECONNRESET,
				"closed its session before a whole first word");
		if (r < 0)
			return why_set(why, whylen, -EPROTO, "tls: %s",
				       gnutls_strerror((int)r));
		if (closing)
			return why_set(why, whylen, -EPROTO,
				       "tls: data after RESTART");
		c->len += r;
	}
	if (closing || !c->len)
		return RTLS_WAIT;
	*buf = c->buf;
	*len = c->len;
	return RTLS_DATA;
}

int rtls_conn_step(struct rtls_conn *c, const unsigned char **buf, size_t *len,
		   char *why, size_t whylen)
{
	int rc;

	if (c->state == C_PEEK && (rc = peek(c, why, whylen)))
		return rc;
	if (c->state == C_HANDSHAKE && (rc = handshake(c, why, whylen)))
		return rc;
	return records(c, buf, len, why, whylen);
}

int rtls_conn_answer(struct rtls_conn *c, const void *msg, size_t len)
{
	static const unsigned char ok = RTLS_ACCEPTED;
	int rc = send_now(c, &ok, 1);

	if (!rc)
		rc = send_now(c, msg, len);
	gnutls_bye(c->sess, GNUTLS_SHUT_WR);
	return rc;
}

/*
 * Our close_notify goes only after the client's: until then it sends
 * nothing more (it waits for ours), so nothing of its second session is
 * read here.
 */
int rtls_conn_restart(struct rtls_conn *c)
{
	static const unsigned char restart = RTLS_RESTART;

	c->state = C_CLOSING;
	return send_now(c, &restart, 1);
}

int rtls_conn_close_notify(struct rtls_conn *c)
{
	return gnutls_bye(c->sess, GNUTLS_SHUT_WR) < 0 ? -EIO : 0;
}
