/*
 * Pushing profiles with libcurl from one worker thread. Order is kept: the
 * oldest profile is retried (exponential backoff, 1 s to 60 s) before newer
 * ones go; a 4xx answer means the server will never take it, so it is
 * dropped at once.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/push.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define REQUEST_TIMEOUT_S 10

struct item {
	void *data;
	size_t len;
	uint64_t from, until;
};

struct pusher {
	char *base_url;               /* with /ingest */
	char *name_param;             /* url-encoded app{labels} */
	int hz;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *queue;           /* ring */
	size_t cap, head, len;
	bool stopping;
	struct push_stats stats;
	CURL *curl;
};

static struct item *at(struct pusher *p, size_t i)
{
	return &p->queue[(p->head + i) % p->cap];
}

static void pop_front(struct pusher *p)
{
	free(at(p, 0)->data);
	p->head = (p->head + 1) % p->cap;
	p->len--;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 0: accepted; 1: try again later; 2: rejected for good. */
static int post(struct pusher *p, const struct item *it)
{
	char url[4096];
	long code = 0;

	snprintf(url, sizeof(url), "%s?name=%s&from=%" PRIu64 "&until=%" PRIu64
		 "&format=pprof&sampleRate=%d&spyName=pyperf", p->base_url, p->name_param, it->from, it->until, p->hz);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");

	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, it->data);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, (long)REQUEST_TIMEOUT_S);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "pyperf");
	CURLcode rc = curl_easy_perform(p->curl);

	if (rc == CURLE_OK)
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK)
		return 1;
	if (code >= 200 && code < 300)
		return 0;
	return code >= 400 && code < 500 && code != 408 && code != 429 ? 2 : 1;
}

static void *worker(void *arg)
{
	struct pusher *p = arg;
	uint64_t backoff = 0, retry_at = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->len && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->len)
			break; /* stopping with nothing left */
		if (retry_at && now_ms() < retry_at) {
			if (p->stopping)
				break; /* finish() gave up waiting */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1; /* re-check at least once a second */
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
			continue;
		}
		/* Post a private copy of the oldest: the queue may drop it meanwhile. */
		struct item it = *at(p, 0);
		void *copy = malloc(it.len ? it.len : 1);

		if (!copy) {
			pop_front(p);
			p->stats.dropped++;
			continue;
		}
		memcpy(copy, it.data, it.len);
		it.data = copy;
		pthread_mutex_unlock(&p->lock);
		int res = post(p, &it);

		free(copy);
		pthread_mutex_lock(&p->lock);
		if (res == 1) {
			p->stats.retries++;
			backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			retry_at = now_ms() + backoff;
			continue;
		}
		backoff = retry_at = 0;
		/* The item posted is still the front unless it was dropped as oldest. */
		if (p->len && at(p, 0)->from == it.from && at(p, 0)->until == it.until && at(p, 0)->len == it.len) {
			pop_front(p);
			if (res == 0)
				p->stats.sent++;
			else
				p->stats.dropped++;
		}
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static char *url_encode(CURL *c, const char *s)
{
	char *e = curl_easy_escape(c, s, 0);
	char *out = e ? strdup(e) : NULL;

	curl_free(e);
	return out;
}

/* Frees a pusher whose thread never started (NULL and partial ones too). */
static void discard_unstarted(struct pusher *p)
{
	if (!p)
		return;
	if (p->curl)
		curl_easy_cleanup(p->curl);
	free(p->base_url);
	free(p->name_param);
	free(p->queue);
	free(p);
}

struct pusher *pusher_new(const char *url, const char *app, const char *labels, int hz, size_t max_queue,
			  char *err, size_t errlen)
{
	struct pusher *p = calloc(1, sizeof(*p));
	char name[1024];
	size_t n = strlen(url);

	if (!p || !max_queue)
		goto oom;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "push URL '%s' must start with http:// or https://", url);
		free(p);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(p->curl = curl_easy_init()))
		goto oom;
	while (n > 0 && url[n - 1] == '/')
		n--;
	p->base_url = malloc(n + sizeof("/ingest"));
	if (!p->base_url)
		goto oom;
	memcpy(p->base_url, url, n);
	p->base_url[n] = '\0';
	if (n < 7 || strcmp(p->base_url + n - 7, "/ingest") != 0)
		strcat(p->base_url, "/ingest");
	snprintf(name, sizeof(name), "%s%s", app, labels ? labels : "");
	p->name_param = url_encode(p->curl, name);
	p->queue = calloc(max_queue, sizeof(*p->queue));
	if (!p->name_param || !p->queue)
		goto oom;
	p->cap = max_queue;
	p->hz = hz;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, worker, p) != 0) {
		snprintf(err, errlen, "failed to start the push thread");
		discard_unstarted(p);
		return NULL;
	}
	return p;
oom:
	snprintf(err, errlen, "out of memory (or libcurl failed to start)");
	discard_unstarted(p);
	return NULL;
}

int pusher_submit(struct pusher *p, const void *data, size_t len, uint64_t from, uint64_t until)
{
	void *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	pthread_mutex_lock(&p->lock);
	if (p->len == p->cap) {
		pop_front(p); /* bounded: the oldest period gives way */
		p->stats.dropped++;
	}
	*at(p, p->len) = (struct item){ copy, len, from, until };
	p->len++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void pusher_finish(struct pusher *p, int timeout_ms, struct push_stats *out)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	pthread_mutex_lock(&p->lock);
	while (p->len && now_ms() < deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	}
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* An in-flight request ends within its own timeout. */
	pthread_join(p->thread, NULL);
	if (out) {
		*out = p->stats;
		out->pending = p->len;
	}
	while (p->len)
		pop_front(p);
	curl_easy_cleanup(p->curl);
	curl_global_cleanup();
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->queue);
	free(p->base_url);
	free(p->name_param);
	free(p);
}
