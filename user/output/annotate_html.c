/* pyperf annotate --html: one self-contained page (no external resource,
 * a Content-Security-Policy that forbids loading any): the files by total
 * share in a list, each file's source lines heat-coloured by own share.
 * Every name and source line is escaped (safetext_put_html); only numbers
 * the page makes itself go into ids and styles. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "output/annotate.h"
#include "util/safetext.h"

/* Sources longer than this many lines show only the lines near samples. */
#define HTML_FULL_LINES 3000
#define HTML_CONTEXT 8

static const char page_style[] =
	"*{box-sizing:border-box}"
	"body{margin:0;font:13px/1.35 system-ui,sans-serif;display:flex;height:100vh;color:#222}"
	"nav{width:34%;max-width:40em;overflow:auto;border-right:1px solid #ccc;padding:8px}"
	"main{flex:1;overflow:auto;padding:8px 12px}"
	"h1{font-size:16px;margin:0 0 4px}h2{font-size:14px;margin:4px 0;word-break:break-all}"
	".sum{color:#555;margin:0 0 8px}"
	"#files{border-collapse:collapse;width:100%}"
	"#files td,#files th{padding:1px 4px;text-align:right;white-space:nowrap}"
	"#files td.path{text-align:left;white-space:normal;word-break:break-all}"
	"#files tr.cur{background:#e6f0ff}"
	"#files a{color:#0645ad;text-decoration:none}"
	".note{background:#fff6d5;border:1px solid #e0c060;padding:4px 6px}"
	"table.src{border-collapse:collapse;font:12px/1.3 ui-monospace,monospace}"
	"table.src td{padding:0 6px;vertical-align:top}"
	"td.own,td.total,td.n{text-align:right;color:#555;white-space:pre}"
	"td.n{color:#999;border-right:1px solid #ddd}"
	"td.code{white-space:pre;tab-size:8}"
	"tr.hot td.own{color:#b00;font-weight:bold}"
	"tr.hottest{outline:2px solid #c00}"
	"tr.gap td{color:#999}";

static const char page_script[] =
	"(function(){"
	"var secs=document.querySelectorAll('section.file');"
	"var rows=document.querySelectorAll('#files tbody tr');"
	"function show(id){"
	"var found=false;"
	"for(var i=0;i<secs.length;i++){var on=secs[i].id===id;secs[i].hidden=!on;if(on)found=true;}"
	"if(!found&&secs.length){secs[0].hidden=false;id=secs[0].id;}"
	"for(var j=0;j<rows.length;j++)rows[j].classList.toggle('cur',rows[j].getAttribute('data-id')===id);"
	"var s=document.getElementById(id);var h=s&&s.querySelector('tr.hottest');"
	"if(h)h.scrollIntoView({block:'center'});}"
	"document.getElementById('files').addEventListener('click',function(e){"
	"var a=e.target.closest('a');if(!a)return;e.preventDefault();"
	"var id=a.getAttribute('href').slice(1);history.replaceState(null,'','#'+id);show(id);});"
	"window.addEventListener('hashchange',function(){show(location.hash.slice(1));});"
	"show(location.hash.slice(1));"
	"})();";

static const struct annotation *sort_ctx;

static int cmp_file(const void *pa, const void *pb)
{
	const struct ann_unit *a = &sort_ctx->files.units[*(const size_t *)pa];
	const struct ann_unit *b = &sort_ctx->files.units[*(const size_t *)pb];

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	if (a->own != b->own)
		return a->own > b->own ? -1 : 1;
	return strcmp(a->file, b->file);
}

static void html(FILE *f, const char *s)
{
	safetext_put_html(f, s, strlen(s));
}

static void pct_cell(FILE *f, const char *cls, const struct annotation *a, uint64_t n)
{
	if (n)
		fprintf(f, "<td class=\"%s\">%.1f</td>", cls, ann_pct(a, n));
	else
		fprintf(f, "<td class=\"%s\"></td>", cls);
}

/* One row; own heat relative to the page's hottest line (max_own). */
static void line_row(FILE *f, const struct annotation *a, size_t fi, const struct ann_line *l, int number,
		     const struct ann_source *src, uint64_t max_own, bool hottest)
{
	uint64_t own = l ? l->own : 0, total = l ? l->total : 0;
	bool hot = ann_pct(a, own) >= ANN_HOT_PCT;

	fprintf(f, "<tr id=\"f%zu-%d\"", fi, number);
	if (hot || hottest)
		fprintf(f, " class=\"%s%s\"", hot ? "hot" : "", hottest ? (hot ? " hottest" : "hottest") : "");
	if (own && max_own)
		fprintf(f, " style=\"background:rgba(230,40,20,%.2f)\"", 0.12 + 0.6 * (double)own / (double)max_own);
	else if (total)
		fputs(" style=\"background:rgba(255,200,0,0.15)\"", f);
	fputc('>', f);
	pct_cell(f, "own", a, own);
	pct_cell(f, "total", a, total);
	fprintf(f, "<td class=\"n\">%d</td><td class=\"code\">", number);
	if (src && number >= 1 && (size_t)number <= src->nlines)
		safetext_put_html(f, src->line[number - 1], src->line_len[number - 1]);
	fputs("</td></tr>\n", f);
}

static void file_section(FILE *f, const struct annotation *a, size_t fi, const struct ann_unit *u,
			 const struct ann_remap *remaps, size_t nremaps, uint64_t max_own)
{
	const struct ann_line *lines = ann_unit_lines(&a->files, u);
	struct ann_source src;
	bool have = ann_source_load(&src, u->file, remaps, nremaps) == 0;
	size_t hottest = SIZE_MAX;

	for (size_t i = 0; i < u->nlines; i++)
		if (lines[i].own && (hottest == SIZE_MAX || lines[i].own > lines[hottest].own))
			hottest = i;
	fprintf(f, "<section class=\"file\" id=\"f%zu\"><h2>", fi);
	html(f, u->file);
	fprintf(f, "</h2><p class=\"sum\">total %.1f%%, own %.1f%% of %llu samples</p>\n", ann_pct(a, u->total),
		ann_pct(a, u->own), (unsigned long long)a->total);
	if (!have) {
		fputs("<p class=\"note\">Source not found: ", f);
		html(f, u->file);
		fputs(" (lines with samples listed by number).</p>\n", f);
	} else if (strcmp(src.path, u->file)) {
		fputs("<p class=\"note\">Source read from ", f);
		html(f, src.path);
		fputs(".</p>\n", f);
	}
	fputs("<table class=\"src\"><tr><th>own%</th><th>total%</th><th>line</th><th></th></tr>\n", f);
	if (!have) {
		for (size_t i = 0; i < u->nlines; i++)
			line_row(f, a, fi, &lines[i], lines[i].line, NULL, max_own, i == hottest);
	} else {
		bool full = src.nlines <= HTML_FULL_LINES, gap = false;
		size_t li = 0;

		for (int number = 1; (size_t)number <= src.nlines; number++) {
			while (li < u->nlines && lines[li].line < number - HTML_CONTEXT)
				li++;
			bool near = li < u->nlines && lines[li].line <= number + HTML_CONTEXT;
			const struct ann_line *l = NULL;

			for (size_t k = li; k < u->nlines && lines[k].line <= number; k++)
				if (lines[k].line == number)
					l = &lines[k];
			if (!full && !near) {
				if (!gap)
					fputs("<tr class=\"gap\"><td></td><td></td><td class=\"n\">...</td><td></td></tr>\n", f);
				gap = true;
				continue;
			}
			gap = false;
			line_row(f, a, fi, l, number, &src, max_own, l && hottest != SIZE_MAX && l == &lines[hottest]);
		}
		/* sampled lines past the file's end (it changed since) */
		for (size_t i = 0; i < u->nlines; i++)
			if ((size_t)lines[i].line > src.nlines)
				line_row(f, a, fi, &lines[i], lines[i].line, NULL, max_own, i == hottest);
	}
	fputs("</table></section>\n", f);
	ann_source_free(&src);
}

int ann_write_html(FILE *f, const struct annotation *a, const struct ann_remap *remaps, size_t nremaps,
		   const char *profile_name, size_t max_files)
{
	size_t n = a->files.n, *order = malloc((n ? n : 1) * sizeof(*order));
	uint64_t max_own = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_ctx = a;
	qsort(order, n, sizeof(*order), cmp_file);
	size_t shown = max_files && n > max_files ? max_files : n;

	for (size_t i = 0; i < a->files.nlines; i++)
		if (a->files.lines[i].own > max_own)
			max_own = a->files.lines[i].own;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>pyperf annotate: ", f);
	html(f, profile_name);
	fprintf(f, "</title>\n<style>%s</style></head><body>\n<nav><h1>pyperf annotate</h1><p class=\"sum\">", page_style);
	html(f, profile_name);
	fprintf(f, ": %llu samples, %.1f%% in Python code. own%%: samples whose innermost Python frame is on the "
		"line; total%%: samples with the line anywhere in the stack; both of all samples. Red: own share "
		"(hot from %.0f%%).</p>\n", (unsigned long long)a->total, ann_pct(a, a->python), ANN_HOT_PCT);
	fputs("<table id=\"files\"><thead><tr><th>total%</th><th>own%</th><th>file</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < shown; i++) {
		const struct ann_unit *u = &a->files.units[order[i]];

		fprintf(f, "<tr data-id=\"f%zu\" data-total=\"%llu\" data-own=\"%llu\"><td>%.1f</td><td>%.1f</td>"
			"<td class=\"path\"><a href=\"#f%zu\">", i, (unsigned long long)u->total,
			(unsigned long long)u->own, ann_pct(a, u->total), ann_pct(a, u->own), i);
		html(f, u->file[0] ? u->file : "(no file)");
		fputs("</a></td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	if (shown < n)
		fprintf(f, "<p class=\"sum\">%zu more files with fewer samples not shown.</p>\n", n - shown);
	fputs("</nav>\n<main>\n", f);
	for (size_t i = 0; i < shown; i++)
		file_section(f, a, i, &a->files.units[order[i]], remaps, nremaps, max_own);
	fprintf(f, "</main>\n<script>%s</script>\n</body></html>\n", page_script);
	free(order);
	return ferror(f) ? -EIO : 0;
}
