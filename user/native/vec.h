/* Growing a malloc'd array one element at a time, with a bound. */
#ifndef PYPERF_NATIVE_VEC_H
#define PYPERF_NATIVE_VEC_H
#include <stddef.h>
#include <stdlib.h>

/*
 * arr holds *cap elements of elem bytes and is full: returns it reallocated
 * to twice as many (1024 at first) and sets *cap, or NULL when that would
 * pass max elements or memory is short (arr is then unchanged and still
 * the caller's).
 */
static inline void *vec_grow(void *arr, size_t *cap, size_t elem, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 1024;
	void *n;

	if (ncap > max)
		return NULL;
	n = realloc(arr, ncap * elem);
	if (n)
		*cap = ncap;
	return n;
}

#endif
