/*
 * Live-migrate a domain and print its rounds, from a plain poll(2) loop:
 * the smallest complete program on libgodwit-client's asynchronous API
 * (docs/client-library.md builds and runs it).
 *
 *   migrate-poll DOMAIN HOST[:PORT]
 *
 * DOMAIN is a name, id or uuid when godwitd runs, else a VM's name or
 * its control socket's path. Exit status 0 when the destination runs the
 * VM, 1 otherwise.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <godwit/client.h>
#include <godwit/migrate.h>

struct app {
	bool started; /* migrate answered: its events are ours */
	int64_t domid; /* through godwitd: the domain's id; else -1 */
	bool done;
	int status; /* the exit status */
};

static void on_started(struct godwit_conn *c, const struct godwit_reply *r,
		       void *opaque)
{
	struct app *a = opaque;
	struct godwit_migrate_started st;
	char err[GODWIT_ERROR_MAX];

	(void)c;
	if (r->rc) {
		fprintf(stderr, "migrate: %s\n", r->error);
		a->done = true;
		return;
	}
	if (godwit_decode_started(r->ret, &st, err, sizeof(err))) {
		fprintf(stderr, "migrate: %s\n", err);
		a->done = true;
		return;
	}
	a->domid = st.domid;
	a->started = true;
	printf("migration started\n");
}

static void on_event(struct godwit_conn *c, const struct godwit_event *e,
		     void *opaque)
{
	struct app *a = opaque;
	const struct godwit_migration *m = &e->as.migration;

	(void)c;
	if (!a->started || e->domid != a->domid)
		return; /* not (yet) ours: godwitd sends every domain's */
	if (e->kind == GODWIT_EVENT_MIGRATION_ROUND) {
		printf("round %lld: %lld pages sent, %lld dirtied\n",
		       (long long)e->as.round.round,
		       (long long)e->as.round.pages_sent,
		       (long long)e->as.round.pages_dirtied);
	} else if (e->kind == GODWIT_EVENT_MIGRATION &&
		   m->status != GODWIT_MIGRATION_ACTIVE) {
		printf("migration %s%s%s\n",
		       godwit_migration_status_name(m->status),
		       m->error[0] ? ": " : "", m->error);
		a->status = m->status == GODWIT_MIGRATION_COMPLETED ? 0 : 1;
		a->done = true;
	} else if (e->kind == GODWIT_EVENT_VMM_ENDED) {
		printf("the VMM ended: %s\n", e->as.ended.end);
		a->status = strcmp(e->as.ended.end, "migrated") ? 1 : 0;
		a->done = true;
	}
}

int main(int argc, char **argv)
{
	struct app a = { .domid = -1, .status = 1 };
	struct godwit_migrate_params p;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	struct pollfd pfd;
	int rc = 0, n;

	if (argc != 3) {
		fprintf(stderr, "usage: migrate-poll DOMAIN HOST[:PORT]\n");
		return 2;
	}
	if (godwit_open_domain(argv[1], false, &c, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	godwit_set_event_handler(c, on_event, &a);
	godwit_migrate_params_init(&p);
	p.destination = argv[2];
	if (godwit_migrate(c, argv[1], &p, 30000, on_started, &a, err,
			   sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		godwit_conn_close(c);
		return 1;
	}
	/* The loop is ours: the connection says what to wait for. */
	while (!a.done && !rc) {
		pfd = (struct pollfd){ .fd = godwit_conn_fd(c),
				       .events = godwit_conn_events(c) };
		n = poll(&pfd, 1, godwit_conn_timeout(c));
		if (n < 0)
			continue; /* EINTR */
		rc = godwit_conn_dispatch(c, n ? pfd.revents : 0);
	}
	if (rc && !a.done)
		fprintf(stderr, "the connection broke before the outcome\n");
	godwit_conn_close(c);
	return a.status;
}
