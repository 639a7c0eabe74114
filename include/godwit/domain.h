/*
 * libgodwit-client: commands about domains (client.h has the
 * conventions). Each sends its command through a connection from
 * godwit_open_domain(), godwit_open_daemon() or godwit_open_vm(), and
 * reports through fn(opaque) as godwit_call() does: pass
 * godwit_result_fn to wait for it. dom names the domain for godwitd (a
 * name, id or uuid) and is ignored on a VM's own socket, which is the
 * VM. The godwit_decode_* functions read an answer (the reply's ret) into
 * a struct: 0, or -EPROTO with err when it does not read as one.
 */
#ifndef GODWIT_DOMAIN_H
#define GODWIT_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <godwit/api.h>
#include <godwit/client.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What godwit_domain_verb does; godwitd's and the VM's command for it. */
enum godwit_verb {
	GODWIT_VERB_PAUSE, /* pause; stop */
	GODWIT_VERB_UNPAUSE, /* unpause; cont */
	GODWIT_VERB_SHUTDOWN, /* shutdown; system_powerdown (power button) */
	/* The same, answered once it has shut down (godwitd); on a VM
	 * socket answered at the press: the socket closes when it ends. */
	GODWIT_VERB_SHUTDOWN_WAIT,
	GODWIT_VERB_DESTROY, /* destroy (answered when gone); quit */
	/* Tell the network where its NICs are: RARP rounds with QEMU's
	 * defaults (5 over 800 ms); announce; announce-self. */
	GODWIT_VERB_ANNOUNCE,
	/* reboot; system_reset: the VM ends as a guest reset does, and
	 * godwitd's on_reboot (restart by default) builds it again. */
	GODWIT_VERB_REBOOT,
};

/* Do verb to dom. -EINVAL for an unknown verb. */
int godwit_domain_verb(struct godwit_conn *conn, const char *dom,
		       enum godwit_verb verb, int timeout_ms,
		       godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;

/* save's flags: what becomes of the domain once it is saved. */
#define GODWIT_SAVE_KEEP_RUNNING 0x1u /* it goes on running (-c) */
#define GODWIT_SAVE_LEAVE_PAUSED 0x2u /* it stays, paused (-p) */
#define GODWIT_SAVE_COMPRESS 0x4u /* page batches as zstd (--compress) */

/*
 * Save dom to file (absolute for godwitd, whose VMMs run in "/"); by
 * default the domain then ends. Answered once the save is complete:
 * godwit_decode_save. -EINVAL with err for arguments the protocol
 * refuses (both flags, an empty file).
 */
int godwit_save(struct godwit_conn *conn, const char *dom, const char *file,
		unsigned int flags, int timeout_ms, godwit_reply_fn fn,
		void *opaque, char *err, size_t errlen) GODWIT_MUST_CHECK;
/*
 * Save dom into fd (a pipe, a socket, a terminal-free stdout: `godwit
 * save DOM -`), passed with the command to the VM's control socket, which
 * writes the stream straight into it as into a FIFO. Same answer and
 * rules as godwit_save; file in the answer is GODWIT_SAVE_FD_FILE.
 */
#define GODWIT_SAVE_FD_FILE "-"
int godwit_save_to_fd(struct godwit_conn *conn, const char *dom, int fd,
		      unsigned int flags, int timeout_ms, godwit_reply_fn fn,
		      void *opaque, char *err, size_t errlen) GODWIT_MUST_CHECK;
/* A save's answer, or query-save's. */
int godwit_decode_save(struct json_object *ret, struct godwit_save_result *out,
		       char *err, size_t errlen) GODWIT_MUST_CHECK;

/* The domain godwitd made: create's and restore's answer. */
struct godwit_domain_made {
	int64_t domid;
	char name[GODWIT_DOMAIN_MAX];
	char uuid[GODWIT_DOMAIN_MAX];
	size_t nr_warnings; /* create: what the config parse warned of */
	const char *warnings[32]; /* borrowed from the decoded answer */
};

/*
 * godwitd only: create a domain from an xl.cfg-style text (config,
 * read from file, whose name is for messages), with key=value overrides
 * (n of them), paused or not; cwd is the directory relative paths in
 * the config are relative to. Answered once its VMM runs:
 * godwit_decode_made.
 */
int godwit_create(struct godwit_conn *conn, const char *config,
		  const char *file, const char *const *overrides, size_t n,
		  bool paused, const char *cwd, int timeout_ms,
		  godwit_reply_fn fn, void *opaque, char *err,
		  size_t errlen) GODWIT_MUST_CHECK;
/* godwitd only: restore the domain saved in file (absolute). */
int godwit_restore(struct godwit_conn *conn, const char *file, bool paused,
		   int timeout_ms, godwit_reply_fn fn, void *opaque, char *err,
		   size_t errlen) GODWIT_MUST_CHECK;
/* create's or restore's answer; warnings point into ret. */
int godwit_decode_made(struct json_object *ret, struct godwit_domain_made *out,
		       char *err, size_t errlen) GODWIT_MUST_CHECK;

struct godwit_disk_info {
	char vdev[GODWIT_WORD_MAX];
	char target[1024];
	char access[8]; /* "rw" or "ro" */
	char script[256]; /* hotplug script, "" if none */
};

struct godwit_vif_info {
	char mac[18]; /* xx:xx:xx:xx:xx:xx */
	char bridge[32]; /* "" when not in a bridge */
	char vifname[32]; /* the host tap's fixed name, "" = automatic */
	char script[256]; /* vif script, "" if none */
};

/* One domain of godwitd's list. */
struct godwit_domain_info {
	char name[GODWIT_DOMAIN_MAX];
	int64_t domid;
	char uuid[GODWIT_DOMAIN_MAX];
	char state[GODWIT_WORD_MAX]; /* running, paused, unconfirmed, ... */
	int64_t memory_mib;
	int64_t vcpus;
	int64_t cpu_time_ns;
	int64_t pid;
	char console[GODWIT_PATH_MAX]; /* its pty, "" if none */
	char qmp[GODWIT_PATH_MAX]; /* its VM control socket */
	char origin[GODWIT_WORD_MAX]; /* create, restore or migration */
	int64_t created; /* seconds since the epoch */
	char reason[GODWIT_ERROR_MAX]; /* how it last ended, or why unconfirmed */
	size_t nr_disks;
	struct godwit_disk_info disks[16];
	size_t nr_vifs;
	struct godwit_vif_info vifs[8];
};

/* godwitd only: every domain it has. Answer: godwit_decode_list. */
int godwit_list(struct godwit_conn *conn, int timeout_ms, godwit_reply_fn fn,
		void *opaque) GODWIT_MUST_CHECK;
/*
 * list's answer as *list_out (n_out entries; the caller frees it with
 * godwit_domain_list_free).
 */
int godwit_decode_list(struct json_object *ret,
		       struct godwit_domain_info **list_out, size_t *n_out,
		       char *err, size_t errlen) GODWIT_MUST_CHECK;
void godwit_domain_list_free(struct godwit_domain_info *list);

/* Where dom's console is. Answer: godwit_decode_console. */
int godwit_console(struct godwit_conn *conn, const char *dom, int timeout_ms,
		   godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;
/* The console's type ("pty", "file", ...) and path ("" if none). */
int godwit_decode_console(struct json_object *ret, char *type, size_t tlen,
			  char *path, size_t plen, char *err,
			  size_t errlen) GODWIT_MUST_CHECK;

/*
 * A VM's own socket only (godwit_open_vm; through godwitd -EOPNOTSUPP):
 * the VM's configuration as xl.cfg text (query-config). Answer:
 * godwit_decode_config.
 */
int godwit_vm_config(struct godwit_conn *conn, int timeout_ms,
		     godwit_reply_fn fn, void *opaque) GODWIT_MUST_CHECK;
/* query-config's answer: *text points into ret. */
int godwit_decode_config(struct json_object *ret, const char **text, char *err,
			 size_t errlen) GODWIT_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
