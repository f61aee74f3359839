/* Text written so it cannot break a terminal or an HTML page (safetext.h). */
#include <stdint.h>

#include "util/safetext.h"
#include "util/utf8.h"

static void put(FILE *f, const char *str, size_t len, bool keep_tab, bool html)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t run = 0;

		/* plain printable ASCII in one write */
		while (i + run < len && s[i + run] >= 0x20 && s[i + run] < 0x7f &&
		       !(html && (s[i + run] == '&' || s[i + run] == '<' || s[i + run] == '>' || s[i + run] == '"' ||
				  s[i + run] == '\'')))
			run++;
		if (run) {
			fwrite(s + i, 1, run, f);
			i += run;
			continue;
		}
		if (html && c < 0x80 && c >= 0x20 && c != 0x7f) {
			fputs(c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;" : "&#39;", f);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (cp == UTF8_BAD) {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		if (n == 1 && c == '\t' && keep_tab)
			fputc('\t', f);
		else if (n == 1 && (c < 0x20 || c == 0x7f))
			fprintf(f, "\\x%02x", c);
		else
			fwrite(s + i, 1, n, f);
		i += n;
	}
}

void safetext_put(FILE *f, const char *s, size_t n, bool keep_tab)
{
	put(f, s, n, keep_tab, false);
}

void safetext_put_html(FILE *f, const char *s, size_t n)
{
	put(f, s, n, true, true);
}
