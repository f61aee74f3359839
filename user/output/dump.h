/* pyperf dump's output: the threads python/threads.h collected, as text
 * (output/dump_text.c) or one JSON document (output/dump_json.c). Text from
 * the target is written so it cannot break either. */
#ifndef PYPERF_OUTPUT_DUMP_H
#define PYPERF_OUTPUT_DUMP_H
#include <stdio.h>

#include "python/threads.h"

void print_text(struct dump *d, FILE *f);
void print_json(struct dump *d, FILE *f);
/* dump --async: d->aio as trees of tasks per event-loop thread. */
void print_async_text(struct dump *d, FILE *f);
void print_async_json(struct dump *d, FILE *f);

#endif
