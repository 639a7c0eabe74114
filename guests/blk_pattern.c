/*
 * blk.elf, ring 3: the on-disk format (blk.h). A data sector is 64 words:
 * magic, its own lba, the generation that wrote it, then 61 words
 * seed + i * K whose seed mixes lba and generation, so a sector that is
 * stale, misplaced, torn inside or foreign differs from what its header
 * claims. Checking and filling run natively in ring 3.
 */
#include "blk.h"

#define WORDS (BLK_SECTOR / 8)
#define FILL_STEP 0x9e3779b97f4a7c15ULL

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t seed(uint64_t lba, uint64_t gen)
{
	return mix(lba * 0xd6e8feb86659fd93ULL ^ mix(gen));
}

void blk_fill_sectors(uint8_t *buf, uint64_t lba, uint32_t n, uint64_t gen)
{
	uint32_t s, i;

	for (s = 0; s < n; s++) {
		uint64_t *w = (uint64_t *)(buf + (uint64_t)s * BLK_SECTOR);
		uint64_t v = seed(lba + s, gen);

		w[0] = BLK_SECTOR_MAGIC;
		w[1] = lba + s;
		w[2] = gen;
		for (i = 3; i < WORDS; i++, v += FILL_STEP)
			w[i] = v;
	}
}

static bool all_zero(const uint64_t *w)
{
	uint64_t acc = 0;
	uint32_t i;

	for (i = 0; i < WORDS; i++)
		acc |= w[i];
	return !acc;
}

static bool mismatch(uint64_t bad_out[3], uint64_t lba, uint64_t want,
		     uint64_t got)
{
	bad_out[0] = lba;
	bad_out[1] = want;
	bad_out[2] = got;
	return false;
}

static bool check_one(const uint64_t *w, uint64_t lba, uint64_t lo, uint64_t hi,
		      bool zero_ok, uint64_t bad_out[3])
{
	uint64_t v;
	uint32_t i;

	if (all_zero(w)) {
		if (lo == 0 || zero_ok)
			return true;
		return mismatch(bad_out, lba, lo, 0); /* generation 0 */
	}
	if (w[0] != BLK_SECTOR_MAGIC)
		return mismatch(bad_out, lba, BLK_SECTOR_MAGIC, w[0]);
	if (w[1] != lba)
		return mismatch(bad_out, lba, lba, w[1]);
	if (w[2] < lo || w[2] > hi)
		return mismatch(bad_out, lba, w[2] < lo ? lo : hi, w[2]);
	v = seed(lba, w[2]);
	for (i = 3; i < WORDS; i++, v += FILL_STEP) {
		if (w[i] != v)
			return mismatch(bad_out, lba, v, w[i]);
	}
	return true;
}

bool blk_check_sectors(const uint8_t *buf, uint64_t lba, uint32_t n,
		       uint64_t lo, uint64_t hi, bool zero_ok,
		       uint64_t bad_out[3])
{
	uint32_t s;

	for (s = 0; s < n; s++) {
		const uint64_t *w =
			(const uint64_t *)(buf + (uint64_t)s * BLK_SECTOR);

		if (!check_one(w, lba + s, lo, hi, zero_ok, bad_out))
			return false;
	}
	return true;
}

static uint64_t commit_check(const struct blk_commit *c)
{
	return mix(c->magic ^
		   mix(c->version ^
		       mix(c->gen ^ mix(c->flags ^ mix(c->sectors)))));
}

void blk_commit_make(struct blk_commit *c, uint64_t gen, uint64_t flags,
		     uint64_t sectors)
{
	c->magic = BLK_COMMIT_MAGIC;
	c->version = 1;
	c->gen = gen;
	c->flags = flags;
	c->sectors = sectors;
	c->check = commit_check(c);
}

bool blk_commit_valid(const struct blk_commit *c)
{
	return c->magic == BLK_COMMIT_MAGIC && c->version == 1 &&
	       c->check == commit_check(c);
}
