/* pyperf annotate: samples per source line (annotate.h), the source files,
 * and the text listing; the HTML page is annotate_html.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/annotate.h"
#include "util/safetext.h"

/* ---- tallies --------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static void table_free(struct ann_table *t)
{
	free(t->units);
	free(t->lines);
	u64map_free(&t->index);
	u64map_free(&t->line_index);
	memset(t, 0, sizeof(*t));
}

void annotation_free(struct annotation *a)
{
	table_free(&a->funcs);
	table_free(&a->files);
}

/* The unit (name, file, firstline), made on first sight; -1 on ENOMEM.
 * Strings are interned: pointers stand for their text. */
static long unit_get(struct ann_table *t, const char *name, const char *file, int firstline)
{
	uint64_t h = mix(mix(mix(11, u64map_key_of(name)), u64map_key_of(file)), (uint64_t)(int64_t)firstline);

	for (;; h++) {
		uint64_t *v = u64map_get(&t->index, h);

		if (!v)
			break;
		struct ann_unit *u = &t->units[*v - 1];

		if (u->name == name && u->file == file && u->firstline == firstline)
			return (long)(*v - 1);
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct ann_unit *nu = realloc(t->units, ncap * sizeof(*nu));

		if (!nu)
			return -1;
		t->units = nu;
		t->cap = ncap;
	}
	if (t->n >= UINT32_MAX || u64map_put(&t->index, h, t->n + 1))
		return -1;
	t->units[t->n] = (struct ann_unit){ .name = name, .file = file, .firstline = firstline };
	return (long)t->n++;
}

/* Counts a sample of a stack (stamp) on a unit's line. 0 or -ENOMEM. */
static int line_hit(struct ann_table *t, uint32_t owner, int line, size_t stamp, uint64_t count, bool own)
{
	uint64_t key = (uint64_t)owner << 32 | (uint32_t)line;
	uint64_t *v = u64map_get(&t->line_index, key);
	struct ann_line *l;

	if (v) {
		l = &t->lines[*v - 1];
	} else {
		if (t->nlines == t->caplines) {
			size_t ncap = t->caplines ? t->caplines * 2 : 256;
			struct ann_line *nl = realloc(t->lines, ncap * sizeof(*nl));

			if (!nl)
				return -ENOMEM;
			t->lines = nl;
			t->caplines = ncap;
		}
		if (u64map_put(&t->line_index, key, t->nlines + 1))
			return -ENOMEM;
		l = &t->lines[t->nlines++];
		*l = (struct ann_line){ .owner = owner, .line = line };
	}
	if (l->stamp != stamp) {
		l->stamp = stamp;
		l->total += count;
	}
	if (own)
		l->own += count;
	return 0;
}

static int unit_hit(struct ann_table *t, const char *name, const char *file, int firstline, int line,
		    size_t stamp, uint64_t count, bool own)
{
	long i = unit_get(t, name, file, firstline);

	if (i < 0)
		return -ENOMEM;
	struct ann_unit *u = &t->units[i];

	if (u->stamp != stamp) {
		u->stamp = stamp;
		u->total += count;
	}
	if (own)
		u->own += count;
	return line >= 0 ? line_hit(t, (uint32_t)i, line, stamp, count, own) : 0;
}

static int cmp_line(const void *pa, const void *pb)
{
	const struct ann_line *a = pa, *b = pb;

	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	return (a->line > b->line) - (a->line < b->line);
}

/* Lines sorted by owner and number; each unit's range set. */
static void table_finish(struct ann_table *t)
{
	if (t->nlines)
		qsort(t->lines, t->nlines, sizeof(*t->lines), cmp_line);
	for (size_t i = 0; i < t->nlines;) {
		size_t j = i;

		while (j < t->nlines && t->lines[j].owner == t->lines[i].owner)
			j++;
		t->units[t->lines[i].owner].first = i;
		t->units[t->lines[i].owner].nlines = j - i;
		i = j;
	}
	u64map_free(&t->line_index); /* indices are stale after the sort */
	u64map_init(&t->line_index);
}

int annotation_build(struct annotation *a, const struct read_profile *rp)
{
	memset(a, 0, sizeof(*a));
	u64map_init(&a->funcs.index);
	u64map_init(&a->funcs.line_index);
	u64map_init(&a->files.index);
	u64map_init(&a->files.line_index);
	a->total = rp->prof.total;
	for (size_t i = 0; i < rp->prof.len; i++) {
		const struct profile_stack *s = &rp->prof.stacks[i];
		size_t stamp = i + 1;
		long innermost = -1;

		for (size_t j = 0; j < s->nframes; j++) {
			const struct frame_meta *m = frametab_meta(&rp->labels, s->frames[j]);

			if (m && m->kind == FRAME_PYTHON)
				innermost = (long)j;
		}
		if (innermost < 0)
			continue;
		a->python += s->count;
		for (size_t j = 0; j <= (size_t)innermost; j++) {
			const struct frame_meta *m = frametab_meta(&rp->labels, s->frames[j]);

			if (!m || m->kind != FRAME_PYTHON)
				continue;
			bool own = j == (size_t)innermost;
			int line = m->line >= 0 ? m->line : -1;

			if (unit_hit(&a->funcs, m->name ? m->name : s->frames[j], m->file, m->firstline, line, stamp,
				     s->count, own) ||
			    unit_hit(&a->files, NULL, m->file, -1, line, stamp, s->count, own)) {
				annotation_free(a);
				return -ENOMEM;
			}
		}
	}
	table_finish(&a->funcs);
	table_finish(&a->files);
	return 0;
}

/* ---- choosing functions ---------------------------------------------------- */

static const struct annotation *sort_ctx;

static int cmp_func(const void *pa, const void *pb)
{
	const struct ann_unit *a = &sort_ctx->funcs.units[*(const size_t *)pa];
	const struct ann_unit *b = &sort_ctx->funcs.units[*(const size_t *)pb];

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	if (a->own != b->own)
		return a->own > b->own ? -1 : 1;
	int c = strcmp(a->file, b->file);

	return c ? c : strcmp(a->name, b->name);
}

static bool name_matches(const char *name, const char *want)
{
	const char *dot = strrchr(name, '.');

	return !strcmp(name, want) || (dot && !strcmp(dot + 1, want));
}

static bool file_matches(const char *file, const char *want)
{
	size_t n = strlen(file), m = strlen(want);

	return !strcmp(file, want) || (n > m && file[n - m - 1] == '/' && !strcmp(file + n - m, want));
}

size_t *ann_pick_functions(const struct annotation *a, const char *function, const char *file, size_t max,
			   size_t *n)
{
	size_t *idx = malloc((a->funcs.n ? a->funcs.n : 1) * sizeof(*idx));

	*n = 0;
	if (!idx)
		return NULL;
	for (size_t i = 0; i < a->funcs.n; i++) {
		const struct ann_unit *u = &a->funcs.units[i];

		if ((!function || name_matches(u->name, function)) && (!file || file_matches(u->file, file)))
			idx[(*n)++] = i;
	}
	sort_ctx = a;
	qsort(idx, *n, sizeof(*idx), cmp_func);
	if (max && *n > max)
		*n = max;
	return idx;
}

/* ---- source files ---------------------------------------------------------- */

void ann_source_free(struct ann_source *src)
{
	free(src->data);
	free(src->line);
	free(src->line_len);
	memset(src, 0, sizeof(*src));
}

/* Reads path if it is a regular file small enough. 0 or -errno. */
static int read_regular(const char *path, char **data, size_t *len)
{
	/* O_NONBLOCK: a FIFO named by a hostile profile must not hang us */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
	} else if ((uint64_t)st.st_size > ANN_SOURCE_MAX) {
		rc = -EFBIG;
	} else {
		size_t want = (size_t)st.st_size, got = 0;
		char *buf = malloc(want + 1);

		if (!buf) {
			rc = -ENOMEM;
		} else {
			while (got < want) {
				ssize_t r = read(fd, buf + got, want - got);

				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0) {
					rc = r < 0 ? -errno : 0;
					break;
				}
				got += (size_t)r;
			}
			if (rc) {
				free(buf);
			} else {
				buf[got] = '\0';
				*data = buf;
				*len = got; /* a file that shrank meanwhile: what was there */
			}
		}
	}
	close(fd);
	return rc;
}

static int split_lines(struct ann_source *src)
{
	size_t n = 1;

	for (size_t i = 0; i < src->len; i++)
		n += src->data[i] == '\n';
	src->line = malloc(n * sizeof(*src->line));
	src->line_len = malloc(n * sizeof(*src->line_len));
	if (!src->line || !src->line_len)
		return -ENOMEM;
	size_t start = 0;

	src->nlines = 0;
	for (size_t i = 0; i <= src->len; i++) {
		if (i < src->len && src->data[i] != '\n')
			continue;
		if (i == src->len && start == src->len)
			break; /* no line after the last newline */
		size_t l = i - start;

		if (l && src->data[start + l - 1] == '\r')
			l--;
		src->line[src->nlines] = src->data + start;
		src->line_len[src->nlines++] = l;
		start = i + 1;
	}
	return 0;
}

static int try_load(struct ann_source *src, const char *path)
{
	if (strlen(path) >= sizeof(src->path))
		return -ENAMETOOLONG;
	int rc = read_regular(path, &src->data, &src->len);

	if (rc)
		return rc;
	snprintf(src->path, sizeof(src->path), "%s", path);
	if ((rc = split_lines(src)))
		ann_source_free(src);
	return rc;
}

int ann_source_load(struct ann_source *src, const char *path, const struct ann_remap *remaps, size_t nremaps)
{
	char cand[PATH_MAX];

	memset(src, 0, sizeof(*src));
	/* "<frozen importlib._bootstrap>", "<string>": no file */
	if (!path[0] || path[0] == '<')
		return -ENOENT;
	for (size_t i = 0; i < nremaps; i++) {
		const struct ann_remap *r = &remaps[i];
		int n;

		if (r->old) {
			size_t ol = strlen(r->old);

			/* at a component boundary: /srv/app=... does not take /srv/application */
			if (strncmp(path, r->old, ol) != 0 ||
			    (path[ol] != '/' && path[ol] != '\0' && !(ol && r->old[ol - 1] == '/')))
				continue;
			n = snprintf(cand, sizeof(cand), "%s%s", r->new_root, path + ol);
		} else {
			n = snprintf(cand, sizeof(cand), "%s%s%s", r->new_root, path[0] == '/' ? "" : "/", path);
		}
		if (n < 0 || (size_t)n >= sizeof(cand))
			continue;
		if (try_load(src, cand) == 0)
			return 0;
	}
	return try_load(src, path);
}

/* Does text (one line) start, after blanks, with kw then name then '(' ':' or ' '? */
static bool defines(const char *text, size_t len, const char *kw, const char *name, size_t name_len)
{
	size_t i = 0, kl = strlen(kw);

	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	if (len - i < kl + name_len + 1 || memcmp(text + i, kw, kl) != 0)
		return false;
	i += kl;
	if (memcmp(text + i, name, name_len) != 0)
		return false;
	char next = text[i + name_len];

	return next == '(' || next == ':' || next == ' ' || next == '[';
}

int ann_function_start(const struct ann_unit *fn, const struct ann_line *lines, const struct ann_source *src)
{
	int first = fn->nlines ? lines[0].line : 1;

	if (fn->firstline > 0)
		return fn->firstline < first ? fn->firstline : first;
	if (!src || !src->nlines || !fn->name || !strcmp(fn->name, "<module>"))
		return fn->name && !strcmp(fn->name, "<module>") ? 1 : first;
	const char *dot = strrchr(fn->name, '.');
	const char *name = dot ? dot + 1 : fn->name;
	size_t nl = strlen(name);

	/* a bounded look upwards: a function is rarely longer */
	for (int l = first; l >= 1 && l > first - 2000; l--) {
		if ((size_t)l > src->nlines)
			continue;
		const char *t = src->line[l - 1];
		size_t len = src->line_len[l - 1];

		if (defines(t, len, "def ", name, nl) || defines(t, len, "async def ", name, nl) ||
		    defines(t, len, "class ", name, nl))
			return l;
	}
	return first;
}

/* ---- text ------------------------------------------------------------------ */

/* Unsampled lines further than this from a sampled one (or the start) are
 * left out, a run of them shown as one "...". */
#define TEXT_CONTEXT 2

static void put_pct(FILE *f, const struct annotation *a, uint64_t n)
{
	if (n)
		fprintf(f, "%6.1f", ann_pct(a, n));
	else
		fputs("      ", f);
}

static void put_source_line(FILE *f, const struct annotation *a, const struct ann_line *l, int number,
			    const struct ann_source *src)
{
	uint64_t own = l ? l->own : 0, total = l ? l->total : 0;

	fputc(ann_pct(a, own) >= ANN_HOT_PCT ? '*' : ' ', f);
	put_pct(f, a, own);
	fputs("  ", f);
	put_pct(f, a, total);
	fprintf(f, "  %6d", number);
	if (src && number >= 1 && (size_t)number <= src->nlines) {
		fputs("  ", f);
		safetext_put(f, src->line[number - 1], src->line_len[number - 1], true);
	}
	fputc('\n', f);
}

/* Whether line number is within TEXT_CONTEXT of a sampled line or start. */
static bool near_sample(const struct ann_line *lines, size_t n, size_t *k, int number, int start)
{
	while (*k < n && lines[*k].line < number - TEXT_CONTEXT)
		(*k)++;
	return (number - start <= TEXT_CONTEXT && number >= start) ||
	       (*k < n && lines[*k].line <= number + TEXT_CONTEXT);
}

static void write_function(FILE *f, const struct annotation *a, const struct ann_unit *fn,
			   const struct ann_remap *remaps, size_t nremaps)
{
	const struct ann_line *lines = ann_unit_lines(&a->funcs, fn);
	struct ann_source src;
	bool have = ann_source_load(&src, fn->file, remaps, nremaps) == 0;
	int start = ann_function_start(fn, lines, have ? &src : NULL);

	fputs("\n", f);
	safetext_put(f, fn->name, strlen(fn->name), false);
	fputs(" (", f);
	safetext_put(f, fn->file, strlen(fn->file), false);
	fprintf(f, ":%d): total %.1f%%, own %.1f%% of %llu samples\n", start, ann_pct(a, fn->total),
		ann_pct(a, fn->own), (unsigned long long)a->total);

	/* the hottest lines first, so a long listing still says it at once */
	size_t top[3], ntop = 0;

	for (size_t i = 0; i < fn->nlines; i++) {
		size_t k = ntop;

		if (ntop < 3)
			ntop++;
		else if (lines[i].own <= lines[top[2]].own)
			continue;
		else
			k = 2;
		for (; k > 0 && lines[i].own > lines[top[k - 1]].own; k--)
			top[k] = top[k - 1];
		top[k] = i;
	}
	if (ntop && lines[top[0]].own) {
		fputs("  hottest lines:", f);
		for (size_t i = 0; i < ntop && lines[top[i]].own; i++)
			fprintf(f, "%s %d (own %.1f%%)", i ? "," : "", lines[top[i]].line, ann_pct(a, lines[top[i]].own));
		fputc('\n', f);
	}
	if (!have) {
		fputs("  (source not found: ", f);
		safetext_put(f, fn->file, strlen(fn->file), false);
		fputs("; lines with samples listed by number", f);
		if (!nremaps && fn->file[0] != '<')
			fputs("; --source-root remaps a path", f);
		fputs(")\n", f);
	} else if (strcmp(src.path, fn->file)) {
		fputs("  (source read from ", f);
		safetext_put(f, src.path, strlen(src.path), false);
		fputs(")\n", f);
	}
	fputs("   own%  total%    line\n", f);
	if (!have) {
		for (size_t i = 0; i < fn->nlines; i++)
			put_source_line(f, a, &lines[i], lines[i].line, NULL);
		ann_source_free(&src);
		return;
	}
	int end = fn->nlines ? lines[fn->nlines - 1].line + 1 : start;
	size_t k = 0, li = 0;
	bool gap = false;

	if ((size_t)end > src.nlines)
		end = (int)src.nlines;
	for (int number = start; number <= end; number++) {
		while (li < fn->nlines && lines[li].line < number)
			li++;
		const struct ann_line *l = li < fn->nlines && lines[li].line == number ? &lines[li] : NULL;

		if (!l && !near_sample(lines, fn->nlines, &k, number, start)) {
			if (!gap)
				fputs("                     ...\n", f);
			gap = true;
			continue;
		}
		gap = false;
		put_source_line(f, a, l, number, &src);
	}
	/* sampled lines past the end of the file (it changed since) */
	for (; li < fn->nlines; li++)
		if (lines[li].line > end)
			put_source_line(f, a, &lines[li], lines[li].line, NULL);
	ann_source_free(&src);
}

void ann_write_text(FILE *f, const struct annotation *a, const size_t *picked, size_t npicked,
		    const struct ann_remap *remaps, size_t nremaps, const char *profile_name)
{
	fputs("pyperf annotate: ", f);
	safetext_put(f, profile_name, strlen(profile_name), false);
	fprintf(f, ": %llu samples, %llu (%.1f%%) in Python code\n"
		"own%%: samples whose innermost Python frame is on the line; total%%: samples with the line anywhere "
		"in the stack; both of all samples; '*': %.0f%% own or more\n",
		(unsigned long long)a->total, (unsigned long long)a->python, ann_pct(a, a->python), ANN_HOT_PCT);
	for (size_t i = 0; i < npicked; i++)
		write_function(f, a, &a->funcs.units[picked[i]], remaps, nremaps);
}
