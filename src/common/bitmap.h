/* Fixed-size bitmaps of pages (dirty sets, sent sets). Not thread-safe. */
#ifndef GODWIT_COMMON_BITMAP_H
#define GODWIT_COMMON_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct bitmap {
	uint64_t *words;
	size_t nbits;
};

#define BITMAP_WORDS(n) DIV_ROUND_UP((n), 64)

int bitmap_init(struct bitmap *bm, size_t nbits) __must_check;
void bitmap_destroy(struct bitmap *bm);
void bitmap_clear_all(struct bitmap *bm);
void bitmap_set_all(struct bitmap *bm);
size_t bitmap_count(const struct bitmap *bm);
/* First set bit at or after start, or bm->nbits if none. */
size_t bitmap_next_set(const struct bitmap *bm, size_t start);
/* dst |= src over the first nwords words. */
void bitmap_or_words(struct bitmap *dst, size_t first_word, const uint64_t *src,
		     size_t nwords);

static inline void bitmap_set(struct bitmap *bm, size_t bit)
{
	bm->words[bit / 64] |= 1ULL << (bit % 64);
}

static inline void bitmap_clear(struct bitmap *bm, size_t bit)
{
	bm->words[bit / 64] &= ~(1ULL << (bit % 64));
}

static inline bool bitmap_test(const struct bitmap *bm, size_t bit)
{
	return bm->words[bit / 64] & (1ULL << (bit % 64));
}

#endif
