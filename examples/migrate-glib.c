/*
 * Live-migrate a domain and print its rounds, from a GLib main loop: a
 * libgodwit-client connection as a GSource (docs/client-library.md
 * builds and runs it). The source asks the connection, before each poll,
 * which events to watch and how long to wait; dispatching it runs the
 * library's callbacks on the loop's thread.
 *
 *   migrate-glib DOMAIN HOST[:PORT]
 *
 * Exit status 0 when the destination runs the VM, 1 otherwise.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include <godwit/client.h>
#include <godwit/migrate.h>

/* ---- a connection as a GSource ---- */

struct conn_source {
	GSource source;
	struct godwit_conn *conn;
	gpointer tag; /* the fd's, for g_source_modify/query_unix_fd */
	int error; /* once dispatch says the connection is down */
};

static gboolean conn_prepare(GSource *s, gint *timeout)
{
	struct conn_source *cs = (struct conn_source *)s;
	short ev = godwit_conn_events(cs->conn);

	g_source_modify_unix_fd(s, cs->tag,
				(ev & POLLIN ? G_IO_IN : 0) |
					(ev & POLLOUT ? G_IO_OUT : 0) |
					G_IO_ERR | G_IO_HUP);
	*timeout = godwit_conn_timeout(cs->conn);
	return *timeout == 0;
}

static gboolean conn_check(GSource *s)
{
	struct conn_source *cs = (struct conn_source *)s;

	return g_source_query_unix_fd(s, cs->tag) != 0 ||
	       godwit_conn_timeout(cs->conn) == 0;
}

static gboolean conn_dispatch(GSource *s, GSourceFunc fn, gpointer data)
{
	struct conn_source *cs = (struct conn_source *)s;
	GIOCondition r = g_source_query_unix_fd(s, cs->tag);
	short revents =
		(r & G_IO_IN ? POLLIN : 0) | (r & G_IO_OUT ? POLLOUT : 0) |
		(r & G_IO_ERR ? POLLERR : 0) | (r & G_IO_HUP ? POLLHUP : 0);

	cs->error = godwit_conn_dispatch(cs->conn, revents);
	if (cs->error && fn)
		fn(data); /* tell the application it is down */
	return cs->error ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_funcs = {
	.prepare = conn_prepare,
	.check = conn_check,
	.dispatch = conn_dispatch,
};

static GSource *conn_source_new(struct godwit_conn *conn)
{
	GSource *s = g_source_new(&conn_funcs, sizeof(struct conn_source));
	struct conn_source *cs = (struct conn_source *)s;

	cs->conn = conn;
	cs->tag = g_source_add_unix_fd(s, godwit_conn_fd(conn), G_IO_IN);
	return s;
}

/* ---- the migration ---- */

struct app {
	GMainLoop *loop;
	gboolean started;
	gint64 domid;
	int status;
};

static void finish(struct app *a, int status)
{
	a->status = status;
	g_main_loop_quit(a->loop);
}

static void on_started(struct godwit_conn *c, const struct godwit_reply *r,
		       void *opaque)
{
	struct app *a = opaque;
	struct godwit_migrate_started st;
	char err[GODWIT_ERROR_MAX];

	(void)c;
	if (r->rc || godwit_decode_started(r->ret, &st, err, sizeof(err))) {
		fprintf(stderr, "migrate: %s\n", r->rc ? r->error : err);
		finish(a, 1);
		return;
	}
	a->domid = st.domid;
	a->started = TRUE;
	printf("migration started\n");
}

static void on_event(struct godwit_conn *c, const struct godwit_event *e,
		     void *opaque)
{
	struct app *a = opaque;
	const struct godwit_migration *m = &e->as.migration;

	(void)c;
	if (!a->started || e->domid != a->domid)
		return;
	if (e->kind == GODWIT_EVENT_MIGRATION_ROUND)
		printf("round %lld: %lld pages sent, %lld dirtied\n",
		       (long long)e->as.round.round,
		       (long long)e->as.round.pages_sent,
		       (long long)e->as.round.pages_dirtied);
	else if (e->kind == GODWIT_EVENT_MIGRATION &&
		 m->status != GODWIT_MIGRATION_ACTIVE) {
		printf("migration %s%s%s\n",
		       godwit_migration_status_name(m->status),
		       m->error[0] ? ": " : "", m->error);
		finish(a, m->status == GODWIT_MIGRATION_COMPLETED ? 0 : 1);
	} else if (e->kind == GODWIT_EVENT_VMM_ENDED) {
		printf("the VMM ended: %s\n", e->as.ended.end);
		finish(a, strcmp(e->as.ended.end, "migrated") ? 1 : 0);
	}
}

static gboolean on_down(gpointer opaque)
{
	fprintf(stderr, "the connection broke before the outcome\n");
	finish(opaque, 1);
	return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
	struct app a = { .domid = -1, .status = 1 };
	struct godwit_migrate_params p;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	GSource *src;

	if (argc != 3) {
		fprintf(stderr, "usage: migrate-glib DOMAIN HOST[:PORT]\n");
		return 2;
	}
	if (godwit_open_domain(argv[1], false, &c, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	a.loop = g_main_loop_new(NULL, FALSE);
	src = conn_source_new(c);
	g_source_set_callback(src, on_down, &a, NULL);
	g_source_attach(src, NULL);
	godwit_set_event_handler(c, on_event, &a);
	godwit_migrate_params_init(&p);
	p.destination = argv[2];
	if (godwit_migrate(c, argv[1], &p, 30000, on_started, &a, err,
			   sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		a.status = 1;
	} else {
		g_main_loop_run(a.loop);
	}
	g_source_destroy(src);
	g_source_unref(src);
	g_main_loop_unref(a.loop);
	godwit_conn_close(c);
	return a.status;
}
