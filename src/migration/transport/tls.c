/*
 * TLS streams (tls.h) with GnuTLS: x509 credentials in QEMU's layout,
 * verification of the peer by the library during the handshake (so a
 * bad certificate fails the handshake on both ends, with an alert), the
 * server's allow-list of certificate names checked after it. The session
 * runs on the stream's non-blocking fd: every GNUTLS_E_AGAIN waits in
 * stream_io_wait() under the stream's stall timeout, deadline and cancel
 * fd, exactly as plain reads and writes do.
 */
#include "migration/transport/tls.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/clock.h"
#include "common/util.h"
#include "common/log.h"
#include "common/why.h"

#define TLS_HANDSHAKE_MS_DEFAULT 10000
#define TLS_RECORD_MAX 16384
#define TLS_BATCH (256u << 10) /* bytes per writev: records in a row */
#define TLS_HANDSHAKE_BYTE 0x16 /* the first byte of a ClientHello */
#define TLS_ACCEPTED 0x01 /* the server's word after its checks */
#define TLS_RESTART 0x02 /* a gatekeeper's: handshake again, resend */
#define TLS_GATE 0x03 /* a gatekeeper's: send your first word, wait */

struct tls_priv {
	gnutls_session_t sess;
	gnutls_certificate_credentials_t cred;
	bool resend; /* a send_nowait record is still in GnuTLS's buffer */
	int last_error; /* GnuTLS's last error on a record */
	struct tls_opts opts; /* a client's, for a restart */
	char peer_name[256];
	bool gate; /* a gatekeeper waits for our first word */
	bool restarted; /* in session 2: no second gate */
	uint8_t *first; /* the first word, while a gatekeeper judges it */
	size_t first_len;
	uint8_t gather[TLS_RECORD_MAX]; /* small iovecs, made one record */
	char peer_dn[512];
};

static void tls_free(struct tls_priv *t)
{
	if (t->sess)
		gnutls_deinit(t->sess);
	free(t->first);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

/* GnuTLS's error as -errno for the stream (kept for messages). */
static int tls_errno(struct tls_priv *t, int r)
{
	t->last_error = r;
	switch (r) {
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return -ECONNRESET;
	case GNUTLS_E_PREMATURE_TERMINATION:
		return -EPIPE;
	default:
		return -EPROTO;
	}
}

/* Wait for what GnuTLS wants (it may want to write while reading). */
static int tls_wait(struct stream *s, struct tls_priv *t, uint64_t since)
{
	return stream_io_wait(
		s, gnutls_record_get_direction(t->sess) ? POLLOUT : POLLIN,
		since);
}

/*
 * One record's worth into buf, or buf sent (NULL, 0: what GnuTLS holds),
 * waiting within the stream's limits (the caller, stream.c, checked the
 * deadline and cancel fd before: they are checked again only when a wait
 * is needed, as fd_io's polls do). A send after GNUTLS_E_AGAIN is the
 * very same call again, as GnuTLS wants.
 */
static ssize_t tls_io(struct stream *s, struct tls_priv *t, bool send,
		      void *buf, size_t len)
{
	uint64_t since = time_mono_ns();
	ssize_t r;
	int rc;

	for (;;) {
		r = send ? gnutls_record_send(t->sess, buf, len) :
			   gnutls_record_recv(t->sess, buf, len);
		if (r >= 0)
			break;
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		/* A cut without close_notify is an end, as a TCP FIN is. */
		if (!send && r == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (r != GNUTLS_E_AGAIN)
			return tls_errno(t, r);
		rc = tls_wait(s, t, since);
		if (rc)
			return rc;
	}
	if (r > 0)
		s->progress_ns = time_mono_ns();
	return r;
}

static ssize_t tls_recv(struct stream *s, struct tls_priv *t, void *buf,
			size_t len)
{
	return tls_io(s, t, false, buf, len);
}

static ssize_t tls_send(struct stream *s, struct tls_priv *t, const void *buf,
			size_t len)
{
	return tls_io(s, t, true, (void *)buf, len);
}

/*
 * Into as many iovecs as GnuTLS has decrypted bytes for: page data is
 * read as one 4 KiB iovec per page, a record holds four.
 */
static ssize_t tls_readv(struct stream *s, const struct iovec *iov, int iovcnt)
{
	struct tls_priv *t = s->priv;
	ssize_t r = tls_recv(s, t, iov[0].iov_base, iov[0].iov_len), more;
	size_t total = r > 0 ? r : 0, off = total;
	int i = 0;

	if (r <= 0)
		return r;
	while (gnutls_record_check_pending(t->sess)) {
		if (off == iov[i].iov_len) {
			if (++i == iovcnt)
				break;
			off = 0;
			continue;
		}
		more = gnutls_record_recv(t->sess,
					  (char *)iov[i].iov_base + off,
					  iov[i].iov_len - off);
		if (more <= 0)
			break;
		off += more;
		total += more;
	}
	return total;
}

static ssize_t gated_writev(struct stream *s, struct tls_priv *t,
			    const struct iovec *iov, int iovcnt);

/*
 * Page data comes as one 4 KiB iovec per page: copy iovecs into one full
 * record, or each page would be a record and a system call of its own.
 */
static size_t gather(struct tls_priv *t, const struct iovec *iov, int iovcnt,
		     int i, size_t off)
{
	size_t n = 0, k;

	for (; i < iovcnt && n < TLS_RECORD_MAX; i++, off = 0) {
		k = MIN(iov[i].iov_len - off, TLS_RECORD_MAX - n);
		memcpy(t->gather + n, (const char *)iov[i].iov_base + off, k);
		n += k;
	}
	return n;
}

/*
 * Bytes from (i, off) on that lie one after the other in memory, up to a
 * record: guest pages of consecutive frames do, and go out uncopied.
 */
static size_t contiguous(const struct iovec *iov, int iovcnt, int i, size_t off)
{
	const char *end = (const char *)iov[i].iov_base + iov[i].iov_len;
	size_t n = iov[i].iov_len - off;

	while (n < TLS_RECORD_MAX && ++i < iovcnt && iov[i].iov_base == end) {
		n += iov[i].iov_len;
		end += iov[i].iov_len;
	}
	return n;
}

/* Advance (*i, *off) past n bytes of iov. */
static void iov_skip(const struct iovec *iov, int iovcnt, int *i, size_t *off,
		     size_t n)
{
	size_t k;

	while (n && *i < iovcnt) {
		k = MIN(n, iov[*i].iov_len - *off);
		*off += k;
		n -= k;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
	while (*i < iovcnt && !iov[*i].iov_len)
		(*i)++;
}

/*
 * Up to TLS_BATCH bytes as full records: a big iovec goes as it is,
 * small ones (pages) are gathered into one record first.
 */
static ssize_t tls_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	struct tls_priv *t = s->priv;
	size_t done = 0, off = 0, n;
	const void *p;
	ssize_t r;
	int i = 0;

	if (t->gate)
		return gated_writev(s, t, iov, iovcnt);
	if (t->resend) {
		r = tls_send(s, t, NULL, 0);
		if (r < 0)
			return r;
		t->resend = false;
	}
	iov_skip(iov, iovcnt, &i, &off, 0);
	while (i < iovcnt && done < TLS_BATCH) {
		n = contiguous(iov, iovcnt, i, off);
		if (n >= TLS_RECORD_MAX || i == iovcnt - 1) {
			p = (const char *)iov[i].iov_base + off;
			n = MIN(n, TLS_RECORD_MAX);
		} else {
			p = t->gather;
			n = gather(t, iov, iovcnt, i, off);
		}
		r = tls_send(s, t, p, n);
		if (r <= 0)
			return done ? (ssize_t)done : r ? r : -EIO;
		done += r;
		iov_skip(iov, iovcnt, &i, &off, r);
	}
	return done;
}

static int tls_flush(struct stream *s)
{
	return 0;
}

static void tls_close(struct stream *s)
{
	struct tls_priv *t = s->priv;

	/* close_notify, if the socket takes it now: never waits. */
	if (t && !t->resend)
		gnutls_bye(t->sess, GNUTLS_SHUT_WR);
	if (t)
		tls_free(t);
	s->priv = NULL;
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	s->fd = s->wfd = -1;
	free(s->rbuf);
	s->rbuf = NULL;
}

static size_t tls_pending(struct stream *s)
{
	struct tls_priv *t = s->priv;

	return gnutls_record_check_pending(t->sess);
}

/* A small message now or not at all (stream.h); never blocks. */
static int tls_send_nowait(struct stream *s, const void *buf, size_t len)
{
	struct tls_priv *t = s->priv;
	struct pollfd p = { .fd = s->wfd, .events = POLLOUT };
	ssize_t r;

	if (t->resend || poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return -EAGAIN;
	r = gnutls_record_send(t->sess, buf, len);
	if (r == GNUTLS_E_AGAIN) {
		t->resend = true; /* buffered: goes out before the next write */
		return 0;
	}
	return r == (ssize_t)len ? 0 : r < 0 ? tls_errno(t, r) : -EAGAIN;
}

static const struct stream_ops tls_ops = {
	.readv = tls_readv,
	.writev = tls_writev,
	.flush = tls_flush,
	.close = tls_close,
	.pending = tls_pending,
	.send_nowait = tls_send_nowait,
};

/* ---- credentials and the handshake ---- */

static int load(struct tls_priv *t, const struct tls_opts *o, bool server,
		char *why, size_t whylen)
{
	const char *dir = o->dir && o->dir[0] ? o->dir : TLS_DIR_DEFAULT;
	const char *who = server ? "server" : "client";
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	int r;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", dir, who);
	snprintf(key, sizeof(key), "%s/%s-key.pem", dir, who);
	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0)
		return why_set(why, whylen, -ENOMEM, "tls: %s",
			       gnutls_strerror(r));
	r = gnutls_certificate_set_x509_trust_file(t->cred, ca,
						   GNUTLS_X509_FMT_PEM);
	if (r <= 0)
		return why_set(why, whylen, -EINVAL, "tls: %s: %s", ca,
			       r ? gnutls_strerror(r) : "no certificate");
	r = gnutls_certificate_set_x509_key_file(t->cred, cert, key,
						 GNUTLS_X509_FMT_PEM);
	if (r < 0)
		return why_set(why, whylen, -EINVAL, "tls: %s and %s: %s", cert,
			       key, gnutls_strerror(r));
	return 0;
}

static int session(struct stream *s, struct tls_priv *t,
		   const struct tls_opts *o, bool server, char *why,
		   size_t whylen)
{
	int r;

	r = gnutls_init(&t->sess, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
					  GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (!r)
		r = gnutls_set_default_priority(t->sess);
	if (!r)
		r = gnutls_credentials_set(t->sess, GNUTLS_CRD_CERTIFICATE,
					   t->cred);
	if (r < 0)
		return why_set(why, whylen, -ENOMEM, "tls: %s",
			       gnutls_strerror(r));
	gnutls_transport_set_int2(t->sess, s->fd, s->wfd);
	if (server)
		gnutls_certificate_server_set_request(t->sess,
						      GNUTLS_CERT_REQUIRE);
	/* The peer's chain, and as client the name, checked in the
	 * handshake: a bad one fails it on both ends, with an alert. */
	gnutls_session_set_verify_cert(t->sess, server ? NULL : o->peer_name,
				       0);
	return 0;
}

/* A wait in the handshake ended (rc): the stream's limits name it. */
static int wait_why(struct stream *s, int rc, char *why, size_t whylen)
{
	char text[160];

	stream_set_error(s, rc);
	return why_set(why, whylen, rc, "tls: handshake: %s",
		       stream_error_text(s, text, sizeof(text)));
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == ' ')
		s[--n] = 0;
}

/* Why the handshake failed, in the words a user can act on. */
static int handshake_why(struct tls_priv *t, int r, char *why, size_t whylen)
{
	gnutls_datum_t out = { NULL, 0 };
	unsigned int st;

	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		st = gnutls_session_get_verify_cert_status(t->sess);
		gnutls_certificate_verification_status_print(
			st, GNUTLS_CRT_X509, &out, 0);
		why_set(why, whylen, -EACCES,
			"tls: the peer's certificate is refused: %s",
			out.data ? (char *)out.data : "not valid");
		trim(why);
		gnutls_free(out.data);
		return -EACCES;
	}
	if (r == GNUTLS_E_CERTIFICATE_REQUIRED ||
	    r == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return why_set(
			why, whylen, -EACCES,
			"tls: the peer sent no certificate signed by our CA");
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int a = gnutls_alert_get(t->sess);

		return why_set(
			why, whylen, -EACCES, "tls: the peer refused us: %s%s",
			gnutls_alert_get_name(a),
			a == GNUTLS_A_ACCESS_DENIED ?
				" (our certificate's name is not among those it allows)" :
				" (is our certificate signed by its CA, and current?)");
	}
	if (r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
	    r == GNUTLS_E_UNEXPECTED_PACKET ||
	    r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		return why_set(why, whylen, -EPROTO,
			       "tls: the peer does not speak TLS (%s)",
			       gnutls_strerror(r));
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR ||
	    r == GNUTLS_E_PUSH_ERROR)
		return why_set(
			why, whylen, -ECONNRESET,
			"tls: the peer closed the connection in the handshake");
	return why_set(why, whylen, -EPROTO, "tls: handshake: %s",
		       gnutls_strerror(r));
}

/*
 * Tell the peer why we end the session (a bad certificate, a name not
 * allowed): one try, it must not wait. GnuTLS does not send it itself
 * when its own verification fails.
 */
static void tls_refuse(struct tls_priv *t, int r)
{
	int level;
	int alert = r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ?
			    GNUTLS_A_BAD_CERTIFICATE :
			    gnutls_error_to_alert(r, &level);

	if (alert >= 0)
		gnutls_alert_send(t->sess, GNUTLS_AL_FATAL, alert);
}

static int handshake(struct stream *s, struct tls_priv *t, char *why,
		     size_t whylen)
{
	uint64_t since = time_mono_ns();
	int r, rc;

	for (;;) {
		r = gnutls_handshake(t->sess);
		if (r == GNUTLS_E_SUCCESS)
			return 0;
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_FATAL_ALERT_RECEIVED)
			tls_refuse(t, r);
		if (r != GNUTLS_E_AGAIN)
			return handshake_why(t, r, why, whylen);
		rc = tls_wait(s, t, since);
		if (rc)
			return wait_why(s, rc, why, whylen);
	}
}

/* A server's first look: a ClientHello starts 0x16; godwit's plain
 * stream starts with its magic. */
static int server_peek(struct stream *s, char *why, size_t whylen)
{
	uint64_t since = time_mono_ns();
	unsigned char b;
	ssize_t r;
	int rc;

	for (;;) {
		r = recv(s->fd, &b, 1, MSG_PEEK);
		if (r == 1)
			break;
		if (r == 0)
			return why_set(why, whylen, -EPIPE,
				       "tls: the peer closed the connection");
		if (errno != EAGAIN && errno != EINTR)
			return why_set(why, whylen, -errno, "tls: %s",
				       strerror(errno));
		rc = stream_io_wait(s, POLLIN, since);
		if (rc)
			return wait_why(s, rc, why, whylen);
	}
	if (b != TLS_HANDSHAKE_BYTE)
		return why_set(
			why, whylen, -EPROTO,
			"tls: the peer does not speak TLS (it sent plain text)");
	return 0;
}

/* The client's certificate names: DN (both notations) and CN. */
static int peer_names(struct tls_priv *t, char dn2[512], char cn[256])
{
	const gnutls_datum_t *der;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned int n = 0;
	size_t len = 256;
	int r;

	dn2[0] = cn[0] = 0;
	der = gnutls_certificate_get_peers(t->sess, &n);
	if (!der || !n || gnutls_x509_crt_init(&crt) < 0)
		return -ENOENT;
	r = gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER);
	if (!r && !gnutls_x509_crt_get_dn3(crt, &dn, 0)) {
		snprintf(t->peer_dn, sizeof(t->peer_dn), "%s", dn.data);
		gnutls_free(dn.data);
	}
	len = 512;
	if (!r && gnutls_x509_crt_get_dn(crt, dn2, &len) < 0)
		dn2[0] = 0;
	len = 256;
	if (!r && gnutls_x509_crt_get_dn_by_oid(
			  crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) < 0)
		cn[0] = 0;
	gnutls_x509_crt_deinit(crt);
	return r < 0 ? -EINVAL : 0;
}

static int check_allowed(struct tls_priv *t, const struct tls_opts *o,
			 char *why, size_t whylen)
{
	char dn2[512], cn[256];
	unsigned int i;

	if (peer_names(t, dn2, cn))
		return why_set(why, whylen, -EACCES,
			       "tls: cannot read the peer's certificate");
	if (!o->nr_allow_names)
		return 0;
	for (i = 0; i < o->nr_allow_names; i++) {
		const char *a = o->allow_names[i];

		if (!strcmp(a, t->peer_dn) || !strcmp(a, dn2) ||
		    (cn[0] && !strcmp(a, cn)))
			return 0;
	}
	return why_set(
		why, whylen, -EACCES,
		"tls: the peer's certificate '%s' is not among the allowed names",
		t->peer_dn);
}

/*
 * The server's word after its checks: one byte, TLS_ACCEPTED, before
 * the stream (docs/stream-format.md, "TLS"). In TLS 1.3 the client's
 * handshake ends before the server has looked at the client's
 * certificate; this makes a refusal (an alert instead) reach the client
 * here, named, not as a broken stream later.
 */
static int server_accept(struct stream *s, struct tls_priv *t, char *why,
			 size_t whylen)
{
	static const unsigned char b = TLS_ACCEPTED;
	ssize_t r = tls_send(s, t, &b, 1);

	return r == 1 ? 0 :
			why_set(why, whylen, (int)r, "tls: cannot send: %s",
				strerror((int)-r));
}

/* One byte from the server (its verdict), with the stream's waits. */
static int read_word(struct stream *s, struct tls_priv *t, unsigned char *b,
		     char *why, size_t whylen)
{
	struct iovec v = { b, 1 };
	void *saved = s->priv;
	char text[160];
	ssize_t r;

	s->priv = t; /* tls_readv's */
	r = tls_readv(s, &v, 1);
	s->priv = saved;
	if (r == 1)
		return 0;
	if (r == -EPROTO && t->last_error == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return handshake_why(t, t->last_error, why, whylen);
	if (r == 0)
		return why_set(
			why, whylen, -EPIPE,
			"tls: the peer closed the connection after the handshake (it may not accept our certificate)");
	stream_set_error(s, (int)r);
	return why_set(why, whylen, (int)r, "tls: after the handshake: %s",
		       stream_error_text(s, text, sizeof(text)));
}

/* ACCEPTED, or GATE: a gatekeeper (gated_writev) wants our first word. */
static int client_accepted(struct stream *s, struct tls_priv *t, char *why,
			   size_t whylen)
{
	unsigned char b = 0;
	int rc = read_word(s, t, &b, why, whylen);

	if (rc)
		return rc;
	if (b == TLS_GATE && !t->restarted) {
		t->gate = true;
		return 0;
	}
	if (b != TLS_ACCEPTED)
		return why_set(why, whylen, -EPROTO,
			       "tls: the peer sent %#x, not its acceptance", b);
	return 0;
}

/* Send all of iov now, with the stream's waits. */
static int send_all(struct stream *s, struct tls_priv *t, const uint8_t *buf,
		    size_t len)
{
	ssize_t r;

	while (len) {
		r = tls_send(s, t, buf, MIN(len, TLS_RECORD_MAX));
		if (r < 0)
			return (int)r;
		buf += r;
		len -= r;
	}
	return 0;
}

/* End session 1 both ways: our close_notify, then the peer's. */
static int close_session(struct stream *s, struct tls_priv *t)
{
	uint64_t since = time_mono_ns();
	unsigned char sink[256];
	ssize_t r;
	int rc;

	while ((r = gnutls_bye(t->sess, GNUTLS_SHUT_WR)) != GNUTLS_E_SUCCESS) {
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
			return tls_errno(t, (int)r);
		rc = tls_wait(s, t, since);
		if (rc)
			return rc;
	}
	do
		r = tls_readv(s, &(struct iovec){ sink, sizeof(sink) }, 1);
	while (r > 0);
	return (int)r;
}

/*
 * The gatekeeper's restart: session 1 ends, session 2 with whoever it
 * handed the connection to (the receiver), which must accept at once;
 * then our first word again, from the start.
 */
static int restart(struct stream *s, struct tls_priv *t)
{
	char why[200];
	int rc;

	rc = close_session(s, t);
	if (rc)
		return rc;
	gnutls_deinit(t->sess);
	t->sess = NULL;
	t->restarted = true;
	rc = session(s, t, &t->opts, false, why, sizeof(why));
	if (!rc)
		rc = handshake(s, t, why, sizeof(why));
	if (!rc)
		rc = client_accepted(s, t, why, sizeof(why));
	if (rc)
		log_err("%s", why);
	return rc ? rc : send_all(s, t, t->first, t->first_len);
}

/*
 * Our first word (a stream header, a QUERY) behind a gatekeeper
 * (godwitd's relocation server): sent whole, kept, then its verdict:
 * ACCEPTED (this session goes on: it answers a QUERY or refuses) or
 * RESTART (the word goes again, in session 2).
 */
static ssize_t gated_writev(struct stream *s, struct tls_priv *t,
			    const struct iovec *iov, int iovcnt)
{
	size_t total = 0, off = 0;
	unsigned char b = 0;
	char why[200] = "";
	int i, rc;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	t->first = malloc(total);
	if (!t->first)
		return -ENOMEM;
	for (i = 0; i < iovcnt; i++) {
		memcpy(t->first + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	t->first_len = total;
	t->gate = false;
	rc = send_all(s, t, t->first, total);
	if (!rc)
		rc = read_word(s, t, &b, why, sizeof(why));
	if (!rc && b == TLS_RESTART)
		rc = restart(s, t);
	else if (!rc && b != TLS_ACCEPTED)
		rc = -EPROTO;
	if (rc && why[0] && rc != -EPROTO)
		log_debug("%s", why);
	free(t->first);
	t->first = NULL;
	return rc ? rc : (ssize_t)total;
}

static int tls_start(struct stream *s, const struct tls_opts *o, bool server,
		     char *why, size_t whylen)
{
	unsigned int ms = o->handshake_ms ? o->handshake_ms :
					    TLS_HANDSHAKE_MS_DEFAULT;
	uint64_t old_deadline = s->deadline_ns;
	char old_what[sizeof(s->deadline_what)];
	struct tls_priv *t;
	char *desc;
	int rc;

	if (s->fd < 0 || !s->rbuf || s->priv)
		return why_set(why, whylen, -EINVAL,
			       "tls: not a socket stream");
	t = calloc(1, sizeof(*t));
	if (!t)
		return why_set(why, whylen, -ENOMEM, "tls: out of memory");
	memcpy(old_what, s->deadline_what, sizeof(old_what));
	t->opts = *o;
	snprintf(t->peer_name, sizeof(t->peer_name), "%s",
		 o->peer_name ? o->peer_name : "");
	t->opts.peer_name = t->peer_name[0] ? t->peer_name : NULL;
	t->opts.dir = NULL; /* only load() reads it, once */
	stream_set_deadline_in(s, ms, "the TLS handshake's deadline");
	rc = load(t, o, server, why, whylen);
	if (!rc)
		rc = session(s, t, o, server, why, whylen);
	if (!rc && server)
		rc = server_peek(s, why, whylen);
	if (!rc)
		rc = handshake(s, t, why, whylen);
	if (!rc && server) {
		rc = check_allowed(t, o, why, whylen);
		if (rc)
			gnutls_alert_send(t->sess, GNUTLS_AL_FATAL,
					  GNUTLS_A_ACCESS_DENIED);
		else
			rc = server_accept(s, t, why, whylen);
	} else if (!rc) {
		rc = client_accepted(s, t, why, whylen);
	}
	stream_set_deadline(s, old_deadline, old_what);
	if (rc) {
		tls_free(t);
		return rc;
	}
	s->priv = t;
	s->ops = &tls_ops;
	desc = gnutls_session_get_desc(t->sess);
	log_debug("tls: %s", desc ? desc : "?");
	gnutls_free(desc);
	return stream_enable_poll_io(s);
}

int tls_stream_client(struct stream *s, const struct tls_opts *o, char *why,
		      size_t whylen)
{
	return tls_start(s, o, false, why, whylen);
}

int tls_stream_server(struct stream *s, const struct tls_opts *o, char *why,
		      size_t whylen)
{
	return tls_start(s, o, true, why, whylen);
}

const char *tls_stream_peer_dn(const struct stream *s)
{
	const struct tls_priv *t = s->priv;

	return t && s->ops == &tls_ops ? t->peer_dn : "";
}
