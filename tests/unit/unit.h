/* Minimal unit-test support: CHECK(cond), CHECK_EQ_INT, CHECK_STR; main calls UNIT_DONE(). */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond) do { \
	if (cond) { unit_passed++; } else { unit_failed++; \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long unit_a = (long long)(a), unit_b = (long long)(b); \
	if (unit_a == unit_b) { unit_passed++; } else { unit_failed++; \
		fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
			#a, unit_a, #b, unit_b); } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a = (a), *unit_b = (b); \
	if (unit_a && unit_b && strcmp(unit_a, unit_b) == 0) { unit_passed++; } else { unit_failed++; \
		fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
			#a, unit_a ? unit_a : "(null)", unit_b ? unit_b : "(null)"); } \
} while (0)

#define UNIT_DONE() do { \
	printf("%d passed, %d failed\n", unit_passed, unit_failed); \
	return unit_failed ? 1 : 0; \
} while (0)

#endif
