/*
 * The few C library functions the guests need (gcc may also emit calls
 * to memset/memcpy). Built as ring-0 code, integer-only; ring 3 calls
 * them too. String instructions keep the emulated ring-0 cost low.
 */
#include "kernel.h"

/* Whole quadwords first: emulated ring 0 pays per iteration. */
void *memset(void *dst, int c, size_t n)
{
	uint64_t q = (uint8_t)c * 0x0101010101010101ULL;
	size_t words = n / 8, bytes = n % 8;
	void *d = dst;

	asm volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(q) : "memory");
	asm volatile("rep stosb" : "+D"(d), "+c"(bytes) : "a"(q) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	for (i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (uint8_t)a[i] < (uint8_t)b[i] ? -1 : 1;
		if (!a[i])
			return 0;
	}
	return 0;
}

bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}
