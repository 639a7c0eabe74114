/* Page bitmaps: allocation, counting and set-bit iteration. */
#include "common/bitmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bitmap_init(struct bitmap *bm, size_t nbits)
{
	bm->nbits = nbits;
	bm->words = calloc(BITMAP_WORDS(nbits) ? BITMAP_WORDS(nbits) : 1, 8);
	return bm->words ? 0 : -ENOMEM;
}

void bitmap_destroy(struct bitmap *bm)
{
	free(bm->words);
	bm->words = NULL;
	bm->nbits = 0;
}

void bitmap_clear_all(struct bitmap *bm)
{
	memset(bm->words, 0, BITMAP_WORDS(bm->nbits) * 8);
}

void bitmap_set_all(struct bitmap *bm)
{
	size_t n = BITMAP_WORDS(bm->nbits);

	memset(bm->words, 0xff, n * 8);
	/* Keep bits past nbits clear so counts and iteration stay exact. */
	if (bm->nbits % 64)
		bm->words[n - 1] = (1ULL << (bm->nbits % 64)) - 1;
}

size_t bitmap_count(const struct bitmap *bm)
{
	size_t i, n = 0;

	for (i = 0; i < BITMAP_WORDS(bm->nbits); i++)
		n += __builtin_popcountll(bm->words[i]);
	return n;
}

size_t bitmap_next_set(const struct bitmap *bm, size_t start)
{
	size_t i = start / 64;
	uint64_t w;

	if (start >= bm->nbits)
		return bm->nbits;
	w = bm->words[i] & (~0ULL << (start % 64));
	for (;;) {
		if (w) {
			size_t bit = i * 64 + __builtin_ctzll(w);

			return bit < bm->nbits ? bit : bm->nbits;
		}
		if (++i >= BITMAP_WORDS(bm->nbits))
			return bm->nbits;
		w = bm->words[i];
	}
}

void bitmap_or_words(struct bitmap *dst, size_t first_word, const uint64_t *src,
		     size_t nwords)
{
	size_t i;

	for (i = 0; i < nwords; i++)
		dst->words[first_word + i] |= src[i];
}
