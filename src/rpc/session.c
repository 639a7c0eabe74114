/*
 * One control connection's protocol state: the incremental command
 * parser, capabilities negotiation, dispatch to built-in commands and
 * the owner's table, immediate and deferred replies.
 *
 * Protocol steps: greeting -> qmp_capabilities -> commands and events.
 * Before negotiation every command but qmp_capabilities is refused with
 * CommandNotFound. A message that is JSON but not a valid command gets a
 * GenericError and the connection goes on. So does a JSON syntax error,
 * as in QEMU's monitor: the error is answered and reading resumes after
 * the next line break. After an oversize message the stream cannot be
 * trusted, so the error reply is the last message and the connection is
 * closed.
 */
#include "rpc/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

struct rpc_pending {
	uint64_t seq;
	struct json_object *id; /* the command's "id" (own reference) */
	struct rpc_pending *next;
};

static const char rpc_need_caps[] =
	"Expecting capabilities negotiation with 'qmp_capabilities'";

int rpc_session_init(struct rpc_session *s, uint64_t conn_id,
		     const struct rpc_command *cmds, size_t ncmds,
		     const struct rpc_session_ops *ops, void *ops_opaque)
{
	memset(s, 0, sizeof(*s));
	s->conn_id = conn_id;
	s->cmds = cmds;
	s->ncmds = ncmds;
	s->ops = ops;
	s->ops_opaque = ops_opaque;
	s->next_seq = 1;
	rpc_fdq_init(&s->fdq);
	return rpc_reader_init(&s->reader, RPC_MSG_MAX);
}

static void msg_fds_close(struct rpc_session *s)
{
	size_t i;

	for (i = 0; i < s->msg_nfds; i++)
		close(s->msg_fds[i]);
	s->msg_nfds = 0;
}

void rpc_session_destroy(struct rpc_session *s)
{
	struct rpc_pending *p;

	rpc_fdq_close_all(&s->fdq);
	msg_fds_close(s);
	while ((p = s->pending)) {
		s->pending = p->next;
		json_object_put(p->id);
		free(p);
	}
	s->npending = 0;
	rpc_reader_destroy(&s->reader);
}

bool rpc_session_is_negotiated(const struct rpc_session *s)
{
	return s->negotiated;
}

void rpc_reply_init(struct rpc_reply *reply)
{
	reply->ret = NULL;
	reply->fd = -1;
	reply->err_class = RPC_ERR_GENERIC;
	reply->err_desc[0] = 0;
}

void rpc_reply_release(struct rpc_reply *reply)
{
	json_object_put(reply->ret);
	if (reply->fd >= 0)
		close(reply->fd);
	rpc_reply_init(reply);
}

enum rpc_reply_kind rpc_reply_verror(struct rpc_reply *reply,
				     enum rpc_err_class cls, const char *fmt,
				     va_list ap)
{
	reply->err_class = cls;
	/* Made one line of valid UTF-8 when the reply is built. */
	vsnprintf(reply->err_desc, sizeof(reply->err_desc), fmt, ap);
	return RPC_REPLY_ERROR;
}

enum rpc_reply_kind rpc_reply_error(struct rpc_reply *reply,
				    enum rpc_err_class cls, const char *fmt,
				    ...)
{
	enum rpc_reply_kind kind;
	va_list ap;

	va_start(ap, fmt);
	kind = rpc_reply_verror(reply, cls, fmt, ap);
	va_end(ap);
	return kind;
}

/* Record the first fatal error; later ones do not replace it. */
static int session_fail(struct rpc_session *s, int rc)
{
	if (!s->failed)
		s->failed = rc;
	return rc;
}

/* Serialize msg (taken) and hand it to the output with fd (taken). */
static int session_send(struct rpc_session *s, struct json_object *msg, int fd)
{
	size_t len;
	char *buf;
	int rc;

	if (!msg) {
		rc = -ENOMEM;
	} else {
		rc = rpc_msg_serialize(msg, &buf, &len);
		json_object_put(msg);
	}
	if (rc) {
		if (fd >= 0)
			close(fd);
		/* A lost reply would leave the client waiting: hang up. */
		return rc == -EMSGSIZE ? rc : session_fail(s, rc);
	}
	rc = s->ops->send(s->ops_opaque, buf, len, fd);
	return rc ? session_fail(s, rc) : 0;
}

static int send_error(struct rpc_session *s, enum rpc_err_class cls,
		      const char *desc, struct json_object *id)
{
	return session_send(s, rpc_error_new(cls, desc, id), -1);
}

int rpc_session_send_error(struct rpc_session *s, enum rpc_err_class cls,
			   const char *desc)
{
	return send_error(s, cls, desc, NULL);
}

/* Send a handler's RETURN or ERROR answer; reply's contents are taken. */
static int send_reply(struct rpc_session *s, enum rpc_reply_kind kind,
		      struct rpc_reply *reply, struct json_object *id)
{
	struct json_object *ret = reply->ret;
	int fd = reply->fd, rc;

	if (kind == RPC_REPLY_ERROR) {
		rc = send_error(s, reply->err_class, reply->err_desc, id);
		rpc_reply_release(reply);
		return rc;
	}
	rpc_reply_init(reply);
	rc = session_send(s, rpc_return_new(ret, id), fd);
	if (rc == -EMSGSIZE)
		rc = send_error(s, RPC_ERR_GENERIC,
				"reply exceeds the message size limit", id);
	return rc;
}

int rpc_session_greet(struct rpc_session *s)
{
	return session_send(s, rpc_greeting_new(), -1);
}

int rpc_session_send_event(struct rpc_session *s, char *buf, size_t len)
{
	int rc;

	if (!s->negotiated) {
		free(buf);
		return 0;
	}
	rc = s->ops->send(s->ops_opaque, buf, len, -1);
	return rc ? session_fail(s, rc) : 0;
}

int rpc_request_take_fd(struct rpc_request *req)
{
	struct rpc_session *s = req->session;
	int fd;

	if (!s->msg_nfds)
		return -ENOENT;
	fd = s->msg_fds[0];
	memmove(s->msg_fds, s->msg_fds + 1, --s->msg_nfds * sizeof(int));
	return fd;
}

static int pending_add(struct rpc_session *s, struct rpc_pending *p,
		       uint64_t seq, struct json_object *id)
{
	p->seq = seq;
	p->id = id ? json_object_get(id) : NULL;
	p->next = s->pending;
	s->pending = p;
	s->npending++;
	return 0;
}

static struct rpc_pending *pending_remove(struct rpc_session *s, uint64_t seq)
{
	struct rpc_pending **pp, *p;

	for (pp = &s->pending; (p = *pp); pp = &p->next) {
		if (p->seq == seq) {
			*pp = p->next;
			s->npending--;
			return p;
		}
	}
	return NULL;
}

int rpc_session_reply(struct rpc_session *s, uint64_t seq,
		      enum rpc_reply_kind kind, struct rpc_reply *reply)
{
	struct rpc_pending *p;
	int rc;

	if (kind == RPC_REPLY_LATER) {
		rpc_reply_release(reply);
		return -EINVAL;
	}
	p = pending_remove(s, seq);
	if (!p) {
		rpc_reply_release(reply);
		return -ENOENT;
	}
	rc = send_reply(s, kind, reply, p->id);
	json_object_put(p->id);
	free(p);
	return rc;
}

/* Run a handler from the owner's table. */
static int call_handler(struct rpc_session *s, const struct rpc_command *cmd,
			struct json_object *args, struct json_object *id)
{
	struct rpc_request req = {
		.call = { .conn_id = s->conn_id, .seq = s->next_seq++ },
		.command = cmd->name,
		.opaque = cmd->opaque,
		.session = s,
	};
	struct rpc_reply reply;
	enum rpc_reply_kind kind;
	struct rpc_pending *p;

	if (s->npending >= RPC_PENDING_MAX)
		return send_error(s, RPC_ERR_GENERIC,
				  "too many commands in progress", id);
	/* Allocated up front: a deferred command must never be lost. */
	p = calloc(1, sizeof(*p));
	if (!p)
		return send_error(s, RPC_ERR_GENERIC, "out of memory", id);
	rpc_reply_init(&reply);
	kind = cmd->handler(&req, args, &reply);
	if (kind != RPC_REPLY_LATER) {
		free(p);
		return send_reply(s, kind, &reply, id);
	}
	rpc_reply_release(&reply);
	return pending_add(s, p, req.call.seq, id);
}

/* qmp_capabilities: no optional capabilities exist yet. */
static int builtin_capabilities(struct rpc_session *s, struct json_object *args,
				struct json_object *id)
{
	struct json_object *enable;

	if (s->negotiated)
		return send_error(
			s, RPC_ERR_COMMAND_NOT_FOUND,
			"capabilities negotiation is already complete", id);
	json_object_object_foreach(args, key, val)
	{
		char desc[RPC_DESC_MAX];

		if (strcmp(key, "enable")) {
			rpc_desc_quote(
				desc, "qmp_capabilities: unknown argument '%s'",
				key);
			return send_error(s, RPC_ERR_GENERIC, desc, id);
		}
		(void)val;
	}
	if (json_object_object_get_ex(args, "enable", &enable) &&
	    (!json_object_is_type(enable, json_type_array) ||
	     json_object_array_length(enable)))
		return send_error(
			s, RPC_ERR_GENERIC,
			"qmp_capabilities: no capability is supported", id);
	s->negotiated = true;
	return session_send(s, rpc_return_new(NULL, id), -1);
}

/* query-commands: [{"name": ...}] for built-ins and the table. */
static int builtin_query_commands(struct rpc_session *s,
				  struct json_object *args,
				  struct json_object *id)
{
	static const char *const builtins[] = { "qmp_capabilities",
						"query-commands",
						"query-version" };
	struct json_object *list = json_object_new_array(), *e;
	size_t i, n = ARRAY_SIZE(builtins) + s->ncmds;
	int rc = list ? 0 : -ENOMEM;

	for (i = 0; i < n && !rc; i++) {
		const char *name =
			i < ARRAY_SIZE(builtins) ?
				builtins[i] :
				s->cmds[i - ARRAY_SIZE(builtins)].name;

		e = json_object_new_object();
		if (!e ||
		    json_object_object_add(e, "name",
					   json_object_new_string(name)) ||
		    json_object_array_add(list, e)) {
			json_object_put(e);
			rc = -ENOMEM;
		}
	}
	if (rc) {
		json_object_put(list);
		return send_error(s, RPC_ERR_GENERIC, "out of memory", id);
	}
	return session_send(s, rpc_return_new(list, id), -1);
}

static int builtin_query_version(struct rpc_session *s,
				 struct json_object *args,
				 struct json_object *id)
{
	struct json_object *greeting = rpc_greeting_new(), *qmp, *ver;

	if (!greeting || !json_object_object_get_ex(greeting, "QMP", &qmp) ||
	    !json_object_object_get_ex(qmp, "version", &ver)) {
		json_object_put(greeting);
		return send_error(s, RPC_ERR_GENERIC, "out of memory", id);
	}
	json_object_get(ver);
	json_object_put(greeting);
	return session_send(s, rpc_return_new(ver, id), -1);
}

/* Built-in commands; -ENOENT if name is not one. */
static int run_builtin(struct rpc_session *s, const char *name,
		       struct json_object *args, struct json_object *id)
{
	if (!strcmp(name, "qmp_capabilities"))
		return builtin_capabilities(s, args, id);
	if (!s->negotiated)
		return send_error(s, RPC_ERR_COMMAND_NOT_FOUND, rpc_need_caps,
				  id);
	if (!strcmp(name, "query-commands"))
		return builtin_query_commands(s, args, id);
	if (!strcmp(name, "query-version"))
		return builtin_query_version(s, args, id);
	return -ENOENT;
}

static int dispatch(struct rpc_session *s, struct json_object *msg)
{
	char desc[RPC_DESC_MAX];
	struct json_object *empty = NULL;
	struct rpc_cmd_msg cmd;
	size_t i;
	int rc;

	if (rpc_cmd_msg_check(msg, &cmd, desc))
		return send_error(s, RPC_ERR_GENERIC, desc, cmd.id);
	if (!cmd.args) {
		empty = json_object_new_object();
		if (!empty)
			return send_error(s, RPC_ERR_GENERIC, "out of memory",
					  cmd.id);
		cmd.args = empty;
	}
	rc = run_builtin(s, cmd.execute, cmd.args, cmd.id);
	for (i = 0; rc == -ENOENT && i < s->ncmds; i++) {
		if (!strcmp(cmd.execute, s->cmds[i].name))
			rc = call_handler(s, &s->cmds[i], cmd.args, cmd.id);
	}
	if (rc == -ENOENT) {
		rpc_desc_quote(desc, "command '%s' not found", cmd.execute);
		rc = send_error(s, RPC_ERR_COMMAND_NOT_FOUND, desc, cmd.id);
	}
	json_object_put(empty);
	return rc;
}

/* One complete value: give it its fds, dispatch it, drop unclaimed fds. */
static void value_handle(struct rpc_session *s, struct json_object *msg)
{
	const char *ahead, *text;
	size_t ahead_len, text_len;

	ahead = rpc_reader_ahead(&s->reader, &ahead_len);
	s->msg_nfds = rpc_fdq_claim(&s->fdq, s->reader.value_start,
				    s->reader.pos, ahead, ahead_len,
				    s->msg_fds);
	text = rpc_reader_value_text(&s->reader, &text_len);
	rpc_cmd_id_keep_text(msg, text, text_len);
	/* Errors were recorded in s->failed by the send path. */
	dispatch(s, msg);
	msg_fds_close(s);
	json_object_put(msg);
}

static void bad_input(struct rpc_session *s, enum rpc_read_status st)
{
	char desc[RPC_DESC_MAX];

	if (st == RPC_READ_SYNTAX) {
		snprintf(desc, sizeof(desc), "JSON parse error: %s",
			 s->reader.err);
		send_error(s, RPC_ERR_GENERIC, desc, NULL);
		rpc_reader_resync(&s->reader);
	} else {
		snprintf(desc, sizeof(desc),
			 "message exceeds the limit of %llu bytes",
			 (unsigned long long)RPC_MSG_MAX);
		send_error(s, RPC_ERR_GENERIC, desc, NULL);
		session_fail(s, -EMSGSIZE);
	}
}

int rpc_session_feed(struct rpc_session *s, const char *buf, size_t len,
		     const int *fds, size_t nfds)
{
	uint64_t tag = rpc_reader_end(&s->reader) + len;
	enum rpc_read_status st;
	struct json_object *msg;
	size_t i;

	for (i = 0; i < nfds; i++) {
		if (s->failed)
			close(fds[i]);
		else if (rpc_fdq_push(&s->fdq, fds[i], tag))
			log_warn("rpc: connection %llu: too many passed fds",
				 (unsigned long long)s->conn_id);
	}
	if (s->failed)
		return s->failed;
	if (rpc_reader_push(&s->reader, buf, len))
		return session_fail(s, -ENOMEM);
	while (!s->failed) {
		st = rpc_reader_next(&s->reader, &msg);
		if (st == RPC_READ_MORE)
			break;
		if (st == RPC_READ_VALUE)
			value_handle(s, msg);
		else if (st == RPC_READ_BAD_UTF8)
			send_error(s, RPC_ERR_GENERIC,
				   "message is not valid UTF-8", NULL);
		else
			bad_input(s, st);
	}
	return s->failed;
}
