/* Lookup in arrays of address ranges sorted by their start. */
#ifndef PYPERF_RANGES_H
#define PYPERF_RANGES_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * How many elements start at or below x: base holds n elements of `stride`
 * bytes, sorted by the uint64_t at byte offset start_off. The candidate
 * range for x is then element (result - 1), when result > 0.
 */
static inline size_t ranges_upper(const void *base, size_t n, size_t stride, size_t start_off, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t start;

		memcpy(&start, (const char *)base + mid * stride + start_off, sizeof(start));
		if (start <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif
