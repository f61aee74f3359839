/* Text from profiles, targets and source files (names, paths, source
 * lines: hostile input) written so it cannot break the output: a terminal
 * or an HTML page. */
#ifndef PYPERF_SAFETEXT_H
#define PYPERF_SAFETEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* For a terminal: valid UTF-8 passes, each byte of an ill-formed sequence
 * becomes U+FFFD, control characters \xNN (a tab passes when keep_tab). */
void safetext_put(FILE *f, const char *s, size_t n, bool keep_tab);
/* For HTML text and quoted attribute values: & < > " ' as entities, the
 * rest as safetext_put (a tab passes). */
void safetext_put_html(FILE *f, const char *s, size_t n);

#endif
