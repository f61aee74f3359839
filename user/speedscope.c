/* Placeholder until the speedscope writer lands. */
#include <errno.h>
#include "writers.h"

int profile_write_speedscope(const struct profile *p, const struct frametab *ft,
			     const struct profile_meta *m, FILE *out)
{
	(void)p; (void)ft; (void)m; (void)out;
	return -ENOSYS;
}
