/*
 * qcow2 crash test: a child process drives a qcow2 image through
 * struct disk (batches of random writes, write-zeroes and discards in
 * flight together, each batch followed by a flush) and is SIGKILLed at
 * a random moment; then `qemu-img check` must find no corruption (leaks
 * are allowed: the write order promises at most those) and the image,
 * as QEMU reads it (`qemu-img convert`), must hold every batch whose
 * flush completed, and for the batch in flight each block either before
 * or after. The next trial goes on with the same crashed image, so
 * reopening after a crash is tested too. Three images: 64 KiB clusters,
 * 16 KiB clusters over a raw backing file (copy-on-write), 512-byte
 * clusters (new refcount blocks, the refcount table growing).
 *
 *   qcow2-crash [TRIALS_PER_IMAGE [SEED]]   (defaults 12, 1)
 *
 * Prints the figures and "N passed, M failed"; exit 0 when all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/disk.h"

#define BLK 4096u /* what requests are made of */
#define SEC 512u /* what a crash may tear a request into (clusters) */
#define SIZE (16u << 20)
#define NBLK (SIZE / BLK)
#define NSEC (SIZE / SEC)
#define BATCHES 600
#define OPS_MAX 16
#define ZERO_VER UINT32_MAX

enum kind { K_WRITE, K_ZERO, K_DISCARD };

struct op {
	enum kind kind;
	uint32_t blk, n; /* blocks */
	uint32_t ver; /* K_WRITE: the content's version */
	bool unmap;
};

struct batch {
	struct op ops[OPS_MAX];
	unsigned int nops;
};

struct image {
	const char *name;
	unsigned int cluster;
	bool backing;
};

struct progress {
	volatile int started, flushed;
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Sector b's content at version v (0: the initial one). */
static void content(uint8_t *p, uint32_t b, uint32_t v, bool backing)
{
	uint64_t s = ((uint64_t)b << 32 | v) * 0x9e3779b97f4a7c15ull | 1;
	unsigned int i;

	if (v == ZERO_VER || (v == 0 && !backing)) {
		memset(p, 0, SEC);
		return;
	}
	for (i = 0; i < SEC; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(p + i, &s, 8);
	}
	memcpy(p, &b, 4);
	memcpy(p + 4, &v, 4);
}

/* A batch of ops on disjoint blocks. */
static void plan_batch(struct batch *bt, const struct image *im,
		       uint32_t *next_ver)
{
	static uint8_t used[NBLK];
	uint32_t cb = im->cluster > BLK ? im->cluster / BLK : 1, i, b, n;
	unsigned int k = 1 + rnd() % OPS_MAX, tries;

	memset(used, 0, sizeof(used));
	bt->nops = 0;
	for (tries = 0; bt->nops < k && tries < 64; tries++) {
		struct op *o = &bt->ops[bt->nops];
		unsigned int r = rnd() % 10;

		o->kind = r < 8 ? K_WRITE : r < 9 ? K_ZERO : K_DISCARD;
		n = o->kind == K_DISCARD ? cb : 1 + rnd() % 8;
		b = rnd() % (NBLK - n + 1);
		if (o->kind == K_DISCARD)
			b -= b % cb;
		for (i = 0; i < n && !used[b + i]; i++)
			;
		if (i < n)
			continue;
		memset(used + b, 1, n);
		o->blk = b;
		o->n = n;
		o->unmap = rnd() & 1;
		o->ver = o->kind == K_WRITE ? (*next_ver)++ : ZERO_VER;
		bt->nops++;
	}
}

/* ---- the child: drive the disk until killed ---- */

static unsigned int completions;

static void count(struct disk_req *req)
{
	if (req->result) {
		fprintf(stderr, "child: request failed: %s\n",
			strerror(-req->result));
		_exit(3);
	}
	completions++;
}

static void wait_for(struct disk_queue *q, unsigned int want)
{
	struct pollfd p = { .fd = disk_queue_fd(q), .events = POLLIN };

	while (completions < want) {
		poll(&p, 1, 100);
		disk_queue_poll(q);
	}
}

static void submit_batch(struct disk_queue *q, const struct batch *bt,
			 const struct image *im, uint8_t *buf)
{
	static struct disk_req reqs[OPS_MAX];
	static struct iovec iov[OPS_MAX];
	unsigned int i, j;

	disk_queue_plug(q);
	for (i = 0; i < bt->nops; i++) {
		const struct op *o = &bt->ops[i];
		uint8_t *p = buf + (size_t)i * 8 * BLK;

		for (j = 0; o->kind == K_WRITE && j < o->n * BLK / SEC; j++)
			content(p + j * SEC, o->blk * (BLK / SEC) + j, o->ver,
				im->backing);
		iov[i] = (struct iovec){ p, (size_t)o->n * BLK };
		reqs[i] = (struct disk_req){
			.op = o->kind == K_WRITE ? DISK_OP_WRITE :
			      o->kind == K_ZERO	 ? DISK_OP_WRITE_ZEROES :
						   DISK_OP_DISCARD,
			.flags = o->unmap ? DISK_REQ_UNMAP : 0,
			.offset = (uint64_t)o->blk * BLK,
			.len = (uint64_t)o->n * BLK,
			.iov = &iov[i],
			.iovcnt = 1,
			.done = count,
		};
		if (disk_submit(q, &reqs[i]))
			_exit(4);
	}
	if (disk_queue_unplug(q))
		_exit(4);
}

static void child(const char *path, const struct batch *plan, int first,
		  const struct image *im, struct progress *pr, bool threads)
{
	struct disk_open_args a = {
		.path = path,
		.label = "crash",
		.format = DISK_FORMAT_QCOW2,
		.engine = threads ? DISK_ENGINE_THREADS : DISK_ENGINE_URING,
	};
	static struct disk_req flush = { .op = DISK_OP_FLUSH, .done = count };
	char why[DISK_WHY_MAX];
	struct disk_queue *q;
	struct disk *d;
	uint8_t *buf = malloc((size_t)OPS_MAX * 8 * BLK);
	unsigned int want = 0;
	int k;

	if (!buf || disk_open(&a, &d, why, sizeof(why)) ||
	    disk_queue_new(d, 0, &q)) {
		fprintf(stderr, "child: %s\n", why);
		_exit(2);
	}
	for (k = first; k < BATCHES; k++) {
		pr->started = k;
		submit_batch(q, &plan[k], im, buf);
		want += plan[k].nops;
		wait_for(q, want);
		if (disk_submit(q, &flush))
			_exit(4);
		wait_for(q, ++want);
		pr->flushed = k;
	}
	_exit(0);
}

/* ---- the parent: kill, check, verify ---- */

struct stats {
	unsigned int trials, passed, failed, leaks_total, corrupt;
	unsigned long batches; /* flushed before the kills, in total */
};

static int sh(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	int r;

	if (!f)
		return -1;
	while (out && n + 1 < len && fgets(out + n, len - n, f))
		n = strlen(out);
	while (!out && fgetc(f) != EOF)
		;
	r = pclose(f);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* qemu-img check: 0 clean, 3 leaks only; anything else is corruption. */
static bool check_image(const char *path, struct stats *st)
{
	char cmd[512], out[8192] = "";
	unsigned int leaks = 0;
	const char *p;
	int r;

	snprintf(cmd, sizeof(cmd), "qemu-img check '%s' 2>&1", path);
	r = sh(cmd, out, sizeof(out));
	p = strstr(out, "leaked clusters were found");
	if (p) {
		while (p > out && p[-1] != '\n')
			p--;
		leaks = strtoul(p, NULL, 10);
	}
	st->leaks_total += leaks;
	if (r == 0 || r == 3)
		return true;
	st->corrupt++;
	fprintf(stderr, "qemu-img check exit %d:\n%s\n", r, out);
	return false;
}

static bool sector_is(const uint8_t *got, uint32_t b, uint32_t v, bool backing)
{
	static uint8_t want[SEC];

	content(want, b, v, backing);
	return !memcmp(got, want, SEC);
}

/* Apply op o to the model m (per sector). */
static void apply(uint32_t *m, const struct op *o)
{
	uint32_t s;

	for (s = o->blk * (BLK / SEC); s < (o->blk + o->n) * (BLK / SEC); s++)
		m[s] = o->ver;
}

/*
 * The image as QEMU reads it against the model: batches up to flushed
 * applied, the one in flight either way per block. Updates the model.
 */
static bool verify(const char *img, const char *raw, uint32_t *model,
		   const struct batch *plan, int first, struct progress *pr,
		   const struct image *im)
{
	static uint32_t after[NSEC];
	char cmd[1024];
	uint8_t *data = malloc(SIZE);
	bool ok = true;
	int fd, k;
	uint32_t b, i;

	snprintf(cmd, sizeof(cmd), "qemu-img convert -f qcow2 -O raw '%s' '%s'",
		 img, raw);
	fd = -1;
	if (!data || sh(cmd, NULL, 0) || (fd = open(raw, O_RDONLY)) < 0 ||
	    read_full(fd, data, SIZE)) {
		fprintf(stderr, "cannot read the image back with qemu-img\n");
		ok = false;
		goto out;
	}
	for (k = first; k <= pr->flushed && pr->flushed >= first; k++)
		for (i = 0; i < plan[k].nops; i++)
			apply(model, &plan[k].ops[i]);
	memcpy(after, model, sizeof(after));
	k = pr->started;
	if (k > pr->flushed && k >= first)
		for (i = 0; i < plan[k].nops; i++)
			apply(after, &plan[k].ops[i]);
	for (b = 0; b < NSEC; b++) {
		const uint8_t *got = data + (size_t)b * SEC;

		if (sector_is(got, b, model[b], im->backing))
			continue;
		if (after[b] != model[b] &&
		    sector_is(got, b, after[b], im->backing)) {
			model[b] = after[b];
			continue;
		}
		fprintf(stderr,
			"sector %u: not what was flushed (version %u) nor what was in flight (%u)\n",
			b, model[b], after[b]);
		ok = false;
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	free(data);
	return ok;
}

/*
 * A killed process's io_uring is torn down by the kernel after it dies:
 * its in-flight requests hold the image (and its OFD lock) a little
 * longer. Wait for the lock, as a migration's destination does.
 */
static bool wait_unlocked(const char *img)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(img, O_RDWR), i;
	bool ok = false;

	for (i = 0; fd >= 0 && i < 500 && !ok; i++) {
		ok = !fcntl(fd, F_OFD_SETLK, &fl);
		if (!ok)
			usleep(10000);
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		fprintf(stderr, "%s stays locked after its writer died\n", img);
	return ok;
}

static void make_image(const struct image *im, const char *dir, char *img,
		       size_t len)
{
	char cmd[1024], base[512];
	uint8_t *p;
	uint32_t b;
	int fd;

	snprintf(img, len, "%s/%s.qcow2", dir, im->name);
	snprintf(base, sizeof(base), "%s/%s.raw", dir, im->name);
	if (im->backing) {
		p = malloc(SIZE);
		for (b = 0; b < NSEC; b++)
			content(p + (size_t)b * SEC, b, 0, true);
		fd = open(base, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write_full(fd, p, SIZE))
			abort();
		close(fd);
		free(p);
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img create -q -f qcow2 -o cluster_size=%u%s%s '%s' %u",
		 im->cluster,
		 im->backing ? ",backing_fmt=raw,backing_file=" : "",
		 im->backing ? base : "", img, SIZE);
	if (sh(cmd, NULL, 0))
		abort();
}

static void run_image(const struct image *im, const char *dir,
		      unsigned int trials, struct stats *st)
{
	static uint32_t model[NSEC];
	struct batch *plan = calloc(BATCHES, sizeof(*plan));
	struct progress *pr = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t ver = 1;
	char img[512], raw[512];
	unsigned int t;
	pid_t pid;
	int k, status;
	bool killed;

	memset(model, 0, sizeof(model));
	make_image(im, dir, img, sizeof(img));
	snprintf(raw, sizeof(raw), "%s/out.raw", dir);
	for (t = 0; t < trials; t++) {
		for (k = 0; k < BATCHES; k++)
			plan_batch(&plan[k], im, &ver);
		pr->started = pr->flushed = -1;
		pid = fork();
		if (pid == 0)
			child(img, plan, 0, im, pr, t % 3 == 2);
		/* 5 to 300 ms: during open, allocation, flushes, ... */
		usleep(5000 + rnd() % 295000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		st->trials++;
		st->batches += pr->flushed + 1;
		/* Killed, or (a fast machine) through the whole plan. */
		killed = (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
			 (WIFEXITED(status) && !WEXITSTATUS(status));
		if (!killed)
			fprintf(stderr, "the writer failed by itself\n");
		if (killed && wait_unlocked(img) && check_image(img, st) &&
		    verify(img, raw, model, plan, 0, pr, im)) {
			st->passed++;
		} else {
			st->failed++;
			fprintf(stderr,
				"FAIL: %s trial %u (batch %d flushed, %d started)\n",
				im->name, t, pr->flushed, pr->started);
		}
	}
	printf("%s: %u trials, last run reached batch %d\n", im->name, trials,
	       pr->started);
	munmap(pr, 4096);
	free(plan);
}

int main(int argc, char **argv)
{
	static const struct image images[] = {
		{ "c64k", 65536, false },
		{ "c16k-backing", 16384, true },
		{ "c512", 512, false },
	};
	unsigned int trials = argc > 1 ? atoi(argv[1]) : 12;
	struct stats st = { 0 };
	char dir[] = "/tmp/godwit-qcow2-crash-XXXXXX", cmd[256];
	size_t i;

	rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	rng = rng * 0x9e3779b97f4a7c15ull | 1;
	if (sh("qemu-img --version >/dev/null 2>&1", NULL, 0)) {
		printf("SKIP: qemu-img is not installed\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	for (i = 0; i < sizeof(images) / sizeof(images[0]); i++)
		run_image(&images[i], dir, trials, &st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
	printf("crash trials: %u, batches flushed before the kills: %lu, leaked clusters in total: %u, corrupt images: %u\n",
	       st.trials, st.batches, st.leaks_total, st.corrupt);
	printf("%u passed, %u failed\n", st.passed, st.failed);
	return st.failed ? 1 : 0;
}
