/* Error messages written into a caller's buffer (char *err, size_t errlen),
 * the convention of the functions that open a target or a core. */
#ifndef PYPERF_ERRBUF_H
#define PYPERF_ERRBUF_H
#include <stddef.h>

/* Formats into err; does nothing when err is NULL or errlen is 0. */
void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
