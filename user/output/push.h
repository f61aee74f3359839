/*
 * Delivery of pprof profiles to a Pyroscope-compatible /ingest endpoint,
 * from a background thread, so a slow or absent server never delays
 * recording. Profiles wait in a bounded queue; when it is full the oldest
 * is dropped and counted.
 */
#ifndef PYPERF_PUSH_H
#define PYPERF_PUSH_H
#include <stddef.h>
#include <stdint.h>

struct pusher;

struct push_stats {
	uint64_t sent;        /* accepted by the server (2xx) */
	uint64_t dropped;     /* pushed out of a full queue, or rejected for good (4xx) */
	uint64_t retries;     /* failed attempts that were tried again */
	uint64_t pending;     /* still queued */
};

/* url: the server's base URL (http://host:4040); "/ingest" is appended
 * unless the URL already ends in it. app: the profile name
 * ("pyperf.cpu"); labels: "{host=...,pid=...}" or "". */
struct pusher *pusher_new(const char *url, const char *app, const char *labels, int hz, size_t max_queue,
			  char *err, size_t errlen);
/* Queues one pprof profile (copied) covering [from, until] in unix seconds. */
int pusher_submit(struct pusher *p, const void *data, size_t len, uint64_t from, uint64_t until);
/* Waits up to timeout_ms for the queue to drain, stops the thread, frees. */
void pusher_finish(struct pusher *p, int timeout_ms, struct push_stats *out);

#endif
