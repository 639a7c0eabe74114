/*
 * blk.elf, ring 3: the workload. It frames virtio-blk requests in its
 * slots, stages them for ring 0 and reaps completions natively; ring 0
 * only publishes staged heads (at most qd unfinished) and notifies.
 *
 * A write pass of generation g: [discard=1: discard, write zeroes and
 * read back zeros on every 16th block], write every data block with g,
 * read every block back (each sector must hold exactly g), flush, write
 * the commit record {g}, flush. The first request of each step is a
 * barrier: ring 0 publishes it only once everything before it has
 * completed, so the steps keep their order without ring 3 waiting for
 * them. A pass completes when its last request does. Read and verify
 * passes read every block and check it against the commit record found
 * at start (guests/README.md: generation C or C+1).
 */
#include "blk.h"

enum check { CHK_NONE, CHK_RANGE, CHK_ZERO, CHK_RECORD };
enum phase_kind { PH_OTHER, PH_WRITE, PH_READ };

struct phase {
	uint64_t left; /* requests staged and not completed */
	uint64_t bytes, reqs;
	uint64_t start, end; /* TSC: can go out (see submit), done */
	uint64_t need; /* completions that must come before start */
};

struct pass_state {
	uint64_t pass;
	uint64_t left; /* requests of this pass not completed */
	bool all_staged;
	struct phase ph[3]; /* by enum phase_kind */
};

struct io {
	uint8_t type; /* VIRTIO_BLK_T_* */
	uint8_t check; /* enum check */
	uint8_t kind; /* enum phase_kind */
	uint32_t len; /* data bytes */
	uint64_t sector;
	uint64_t lo, hi; /* CHK_RANGE: accepted generations */
	struct pass_state *ps; /* NULL outside passes */
	bool mix_write; /* mix=1: mark mix_done[wseq] on completion */
	uint64_t wseq;
};

/* mix=1: which of the last writes have completed (> slots + 2*qd). */
#define MIX_RING 1024

static struct io ios[BLK_MAX_SLOTS];
static uint16_t free_list[BLK_MAX_SLOTS];
static uint32_t nfree;
static uint64_t submitted, completed;
static struct pass_state passes[2];
/* Phases whose first request waits behind a barrier, oldest first. */
static struct phase *pending[8];
static uint32_t pending_head, pending_tail;
static uint64_t nblocks, mult, committed_pass;
static struct blk_commit record;
static bool zero_ok;
static volatile uint8_t mix_done[MIX_RING];

static void fail(uint32_t kind, uint64_t a, uint64_t b, uint64_t c)
{
	struct user_status *st = &user_status[0];

	blk_report.bad = kind;
	st->bad_a = a;
	st->bad_b = b;
	st->bad_c = c;
	barrier();
	st->state = USER_BAD;
	for (;;)
		cpu_relax();
}

/* The pass is over: publish its figures and progress for ring 0. */
static void pass_done(struct pass_state *ps)
{
	struct blk_figures *f = &blk_report.fig[ps->pass & 1];

	f->w_bytes = ps->ph[PH_WRITE].bytes;
	f->w_reqs = ps->ph[PH_WRITE].reqs;
	f->w_tsc = ps->ph[PH_WRITE].end - ps->ph[PH_WRITE].start;
	f->r_bytes = ps->ph[PH_READ].bytes;
	f->r_reqs = ps->ph[PH_READ].reqs;
	f->r_tsc = ps->ph[PH_READ].end - ps->ph[PH_READ].start;
	committed_pass = ps->pass;
	barrier();
	user_status[0].progress = ps->pass;
}

static void check_data(const struct io *io, const uint8_t *data)
{
	uint64_t bad[3];
	uint32_t i, n = io->len / BLK_SECTOR;

	if (io->check == CHK_RANGE &&
	    !blk_check_sectors(data, io->sector, n, io->lo, io->hi, zero_ok,
			       bad))
		fail(BLK_BAD_CORRUPT, bad[0], bad[1], bad[2]);
	if (io->check == CHK_ZERO) {
		const uint64_t *w = (const uint64_t *)data;

		for (i = 0; i < io->len / 8; i++) {
			if (w[i])
				fail(BLK_BAD_CORRUPT, io->sector + i / 64, 0,
				     w[i]);
		}
	}
	if (io->check == CHK_RECORD)
		memcpy(&record, data, sizeof(record));
}

static void account(struct io *io, uint64_t now)
{
	struct phase *ph;

	completed++;
	if (io->mix_write)
		mix_done[io->wseq % MIX_RING] = 1;
	while (pending_head != pending_tail &&
	       completed == pending[pending_head % 8]->need)
		pending[pending_head++ % 8]->start = now;
	if (!io->ps)
		return;
	ph = &io->ps->ph[io->kind];
	ph->bytes += io->len;
	ph->reqs++;
	if (!--ph->left)
		ph->end = now;
	if (!--io->ps->left && io->ps->all_staged)
		pass_done(io->ps);
}

static void complete(uint32_t i)
{
	struct io *io = &ios[i];
	const uint8_t *data = blk_config.slot[i].data;
	uint8_t status = data[io->len];

	if (status != VIRTIO_BLK_S_OK)
		fail(BLK_BAD_IO, io->sector, io->type, status);
	check_data(io, data);
	account(io, rdtsc());
	free_list[nfree++] = (uint16_t)i;
}

static bool reap(void)
{
	struct virtq *q = blk_config.q;
	struct virtq_used_elem e;
	bool any = false;

	while (virtq_reap(q, &e)) {
		uint32_t i = q->indirect ? e.id : e.id / 2;

		if (i >= blk_config.nslots || blk_config.slot[i].head != e.id)
			fail(BLK_BAD_IO, 0, 0xffff, e.id); /* device bug */
		complete(i);
		any = true;
	}
	return any;
}

/* Reap, or tell ring 0 that nothing but a completion can help. */
static void wait_for_completion(void)
{
	if (reap()) {
		blk_waiting = 0;
		return;
	}
	blk_waiting = 1;
	cpu_relax();
}

static uint32_t get_slot(void)
{
	while (!nfree)
		wait_for_completion();
	blk_waiting = 0;
	return free_list[--nfree];
}

static void drain(void)
{
	while (completed != submitted)
		wait_for_completion();
	blk_waiting = 0;
}

/* Two descriptors: see blk.h. The status byte follows the data. */
static void frame(uint32_t i, bool device_writes)
{
	struct virtq *q = blk_config.q;
	struct blk_slot *s = &blk_config.slot[i];
	struct virtio_blk_hdr *h = (struct virtio_blk_hdr *)(s->data - 16);
	struct virtq_desc *d = q->indirect ? (struct virtq_desc *)s->page :
					     &q->desc[2 * i];
	uint32_t len = ios[i].len;

	h->type = ios[i].type;
	h->reserved = 0;
	/* The sector field is only for reads and writes (5.2.6). */
	h->sector = ios[i].type <= VIRTIO_BLK_T_OUT ? ios[i].sector : 0;
	s->data[len] = 0xff; /* the device must overwrite it */
	d[0].addr = (uint64_t)h;
	d[0].len = device_writes ? 16 : 16 + len;
	d[0].flags = VIRTQ_DESC_F_NEXT;
	d[0].next = q->indirect ? 1 : (uint16_t)(2 * i + 1);
	d[1].addr = (uint64_t)(device_writes ? s->data : s->data + len);
	d[1].len = device_writes ? len + 1 : 1;
	d[1].flags = VIRTQ_DESC_F_WRITE;
	d[1].next = 0;
}

/* The first request of a step waits for everything before it. */
static void submit(uint32_t i, bool first)
{
	struct io *io = &ios[i];

	frame(i, io->type == VIRTIO_BLK_T_IN);
	if (io->ps) {
		io->ps->left++;
		io->ps->ph[io->kind].left++;
	}
	if (first && io->ps && io->kind != PH_OTHER) {
		struct phase *ph = &io->ps->ph[io->kind];

		ph->need = submitted;
		if (completed == submitted)
			ph->start = rdtsc();
		else if (pending_tail - pending_head < 8)
			pending[pending_tail++ % 8] = ph;
	}
	submitted++;
	virtq_stage(blk_config.q, blk_config.slot[i].head, first);
}

static uint32_t new_io(uint8_t type, uint64_t sector, uint32_t len,
		       struct pass_state *ps, uint8_t kind)
{
	uint32_t i = get_slot();

	ios[i] = (struct io){ .type = type,
			      .sector = sector,
			      .len = len,
			      .ps = ps,
			      .kind = kind };
	return i;
}

static void block_range(uint64_t b, uint64_t *sector_out, uint32_t *len_out)
{
	uint64_t spb = blk_config.bs / BLK_SECTOR;
	uint64_t s = BLK_META_SECTORS + b * spb;
	uint64_t n = blk_config.data_end - s < spb ? blk_config.data_end - s :
						     spb;

	*sector_out = s;
	*len_out = (uint32_t)(n * BLK_SECTOR);
}

/* pattern=rand: k -> (k * mult + offset) mod n, a permutation. */
static uint64_t block_at(uint64_t k, uint64_t pass)
{
	if (!blk_config.rand)
		return k;
	/* k, mult < nblocks < 2^32 (2 TiB of 512-byte blocks at most). */
	return (k * mult + pass * 0x9e3779b9ULL % nblocks) % nblocks;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void write_step(struct pass_state *ps, uint64_t gen)
{
	uint64_t k, sector;
	uint32_t len, i;

	for (k = 0; k < nblocks; k++) {
		block_range(block_at(k, ps->pass), &sector, &len);
		i = new_io(VIRTIO_BLK_T_OUT, sector, len, ps, PH_WRITE);
		blk_fill_sectors(blk_config.slot[i].data, sector,
				 len / BLK_SECTOR, gen);
		submit(i, k == 0);
	}
}

static void read_block(struct pass_state *ps, uint64_t k, uint8_t kind,
		       uint64_t lo, uint64_t hi, bool first)
{
	uint64_t sector;
	uint32_t len, i;

	block_range(block_at(k, ps->pass), &sector, &len);
	i = new_io(VIRTIO_BLK_T_IN, sector, len, ps, kind);
	ios[i].check = CHK_RANGE;
	ios[i].lo = lo;
	ios[i].hi = hi;
	submit(i, first);
}

static void read_step(struct pass_state *ps, uint64_t lo, uint64_t hi)
{
	uint64_t k;

	for (k = 0; k < nblocks; k++)
		read_block(ps, k, PH_READ, lo, hi, k == 0);
}

/*
 * mix=1: the write and read-back steps at once. Block k is read back
 * 2*qd blocks after it was written, once its write has completed (never
 * while it is in flight, which could return a torn sector), so about
 * half the requests in flight are reads. Both count as one "mix" step.
 */
static void mix_step(struct pass_state *ps, uint64_t gen)
{
	uint64_t k, j, lag = 2 * blk_config.qd, sector;
	uint32_t len, i;

	for (k = 0; k < nblocks + lag; k++) {
		if (k < nblocks) {
			block_range(block_at(k, ps->pass), &sector, &len);
			i = new_io(VIRTIO_BLK_T_OUT, sector, len, ps, PH_WRITE);
			blk_fill_sectors(blk_config.slot[i].data, sector,
					 len / BLK_SECTOR, gen);
			ios[i].mix_write = true;
			ios[i].wseq = k;
			mix_done[k % MIX_RING] = 0;
			submit(i, k == 0);
		}
		if (k < lag || (j = k - lag) >= nblocks)
			continue;
		while (!mix_done[j % MIX_RING])
			wait_for_completion();
		blk_waiting = 0;
		read_block(ps, j, PH_WRITE, gen, gen, false);
	}
}

/* One DISCARD or WRITE_ZEROES request per 16th block. */
static void unmap_blocks(struct pass_state *ps, uint8_t type)
{
	struct virtio_blk_discard *r;
	uint64_t b, sector;
	uint32_t len, i;

	for (b = 0; b < nblocks; b += BLK_DISCARD_EVERY) {
		block_range(b, &sector, &len);
		i = new_io(type, sector, sizeof(*r), ps, PH_OTHER);
		r = (struct virtio_blk_discard *)blk_config.slot[i].data;
		r->sector = sector;
		r->num_sectors = len / BLK_SECTOR;
		r->flags = 0;
		submit(i, b == 0);
	}
}

/*
 * discard=1: discard (if offered), write zeroes (if offered) and read the
 * zeroed blocks back, before the write step rewrites them.
 */
static void discard_step(struct pass_state *ps)
{
	uint64_t b, sector;
	uint32_t len, i;

	if (blk_config.can_discard)
		unmap_blocks(ps, VIRTIO_BLK_T_DISCARD);
	if (!blk_config.can_zero)
		return;
	unmap_blocks(ps, VIRTIO_BLK_T_WRITE_ZEROES);
	for (b = 0; b < nblocks; b += BLK_DISCARD_EVERY) {
		block_range(b, &sector, &len);
		i = new_io(VIRTIO_BLK_T_IN, sector, len, ps, PH_OTHER);
		ios[i].check = CHK_ZERO;
		submit(i, b == 0);
	}
}

static void stage_flush(struct pass_state *ps)
{
	if (blk_config.flush)
		submit(new_io(VIRTIO_BLK_T_FLUSH, 0, 0, ps, PH_OTHER), true);
}

/* Flush, the commit record {gen}, flush: each after the one before. */
static void commit_step(struct pass_state *ps, uint64_t gen, uint64_t flags)
{
	uint32_t i;

	stage_flush(ps);
	i = new_io(VIRTIO_BLK_T_OUT, 0, 4096, ps, PH_OTHER);
	memset(blk_config.slot[i].data, 0, 4096);
	blk_commit_make((struct blk_commit *)blk_config.slot[i].data, gen,
			flags, blk_config.capacity);
	submit(i, true);
	stage_flush(ps);
}

static void read_record(void)
{
	uint32_t i = new_io(VIRTIO_BLK_T_IN, 0, 4096, NULL, PH_OTHER);

	ios[i].check = CHK_RECORD;
	submit(i, true);
	drain();
}

/* At most one pass ahead of the last completed one (two pass_states). */
static struct pass_state *begin_pass(uint64_t pass)
{
	struct pass_state *ps = &passes[pass & 1];

	while (committed_pass + 1 < pass)
		wait_for_completion();
	blk_waiting = 0;
	memset(ps, 0, sizeof(*ps));
	ps->pass = pass;
	return ps;
}

static void end_pass(struct pass_state *ps)
{
	ps->all_staged = true;
	if (!ps->left)
		pass_done(ps);
}

/*
 * The commit record's DISCARD flag says that the pass after it may leave
 * zeroed blocks: a run with discard=1 sets it before its first pass (kept
 * from an interrupted earlier run too, whose zeros may remain until a
 * pass completes), and every pass's record says what the next pass does.
 */
static void run_write(void)
{
	uint64_t base = 0, p;
	uint64_t flags = blk_config.discard ? BLK_COMMIT_DISCARD : 0;
	uint64_t first = flags;
	struct pass_state *ps;

	read_record();
	if (blk_commit_valid(&record)) {
		base = record.gen;
		first |= record.flags;
	}
	if (!blk_commit_valid(&record) || first != record.flags) {
		commit_step(NULL, base, first); /* a disk verify accepts */
		drain();
	}
	blk_report.committed = base;
	for (p = 1; !blk_config.passes || p <= blk_config.passes; p++) {
		ps = begin_pass(p);
		if (blk_config.discard)
			discard_step(ps);
		if (blk_config.mix) {
			mix_step(ps, base + p);
		} else {
			write_step(ps, base + p);
			read_step(ps, base + p, base + p);
		}
		commit_step(ps, base + p, flags);
		end_pass(ps);
	}
	drain();
}

static void run_read(uint64_t count)
{
	uint64_t p;

	read_record();
	if (!blk_commit_valid(&record))
		fail(BLK_BAD_RECORD, record.magic, 0, 0);
	blk_report.committed = record.gen;
	zero_ok = record.flags & BLK_COMMIT_DISCARD;
	for (p = 1; !count || p <= count; p++) {
		struct pass_state *ps = begin_pass(p);

		read_step(ps, record.gen, record.gen + 1);
		end_pass(ps);
	}
	drain();
}

void guest_user_main(unsigned int cpu)
{
	uint64_t spb = blk_config.bs / BLK_SECTOR;
	uint32_t i;

	(void)cpu;
	for (i = blk_config.nslots; i > 0; i--)
		free_list[nfree++] = (uint16_t)(i - 1);
	nblocks = (blk_config.data_end - BLK_META_SECTORS + spb - 1) / spb;
	for (mult = (nblocks * 5 / 8) | 1; gcd(mult, nblocks) != 1; mult++)
		;
	mult %= nblocks;
	if (blk_config.mode == BLK_MODE_WRITE)
		run_write();
	else
		run_read(blk_config.mode == BLK_MODE_VERIFY ?
				 1 :
				 blk_config.passes);
	user_status[0].state = USER_DONE;
}
