/*
 * Where a save's stream goes (savejob.c), chosen by what FILE is:
 *
 * - A regular file, or nothing yet: the stream goes into a temporary file
 *   in FILE's directory that nobody can name or plant a link at: an
 *   O_TMPFILE (or, where the filesystem has none, a random name created
 *   with O_EXCL | O_NOFOLLOW), mode 0600, with O_DIRECT where the
 *   filesystem allows. Only once the whole stream is written (and synced,
 *   if the VM is to end) does it take FILE's name, and only if FILE is
 *   still the file it was when the save began: of two saves racing to one
 *   FILE the first to finish wins and the other fails, so no save reports
 *   success for a file another one replaced under it.
 * - A FIFO or a character or block device: written straight into, with
 *   buffered I/O, never replaced. Opening a FIFO nobody reads never waits
 *   in open(): it is refused at once, or, with a wait_reader hook, tried
 *   again for as long as the hook says.
 * - A symbolic link, a directory or a socket: refused.
 *
 * Every refusal and failure is one line in why, naming FILE.
 */
#ifndef GODWIT_MONITOR_SAVEFILE_H
#define GODWIT_MONITOR_SAVEFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/compiler.h"

struct save_target {
	const char *path; /* FILE as given, for messages */
	int fd; /* the stream is written here; -1 when closed */
	bool direct; /* fd has O_DIRECT: the stream must use aligned I/O */
	bool regular; /* FILE is (to be) a regular file: commit names it */
	bool no_tmpfile; /* tests: take the fallback without O_TMPFILE */
	/*
	 * A FIFO without a reader yet: called before each new try to open it
	 * (on the opening thread); it may wait a little, and returns 0 to try
	 * again or -errno to give up with that error. NULL: refuse at once.
	 */
	int (*wait_reader)(void *opaque);
	void *wait_opaque;
	int dir_fd; /* FILE's directory */
	char name[NAME_MAX + 1]; /* FILE's name in it */
	char tmp_name[NAME_MAX + 1]; /* a name of ours to remove, or "" */
	bool existed; /* FILE was a regular file when the save began ... */
	dev_t dev; /* ... this one */
	ino_t ino;
};

/* An idle target: save_target_close() on it does nothing. */
void save_target_init(struct save_target *t);
/*
 * Open where a save to path writes (t->fd); path must stay valid. t was
 * set up with save_target_init() (and its hook, if any).
 */
int save_target_open(struct save_target *t, const char *path, char *why,
		     size_t whylen) __must_check;
/*
 * save -: t->fd (the client's, passed with the command) is the target as
 * it is, written straight into like a FIFO; made blocking.
 */
int save_target_adopt(struct save_target *t, char *why,
		      size_t whylen) __must_check;
/*
 * The whole stream is in t->fd: with sync make it durable, then put it
 * at FILE (regular files; a FIFO or device has it already). Call
 * save_target_close() afterwards in any case.
 */
int save_target_commit(struct save_target *t, bool sync, char *why,
		       size_t whylen) __must_check;
/* Close; a temporary file not committed goes away. Idempotent. */
void save_target_close(struct save_target *t);

#endif
