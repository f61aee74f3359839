/* speedscope writer and the JSON string escaper: exact output. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/frametab.h"
#include "output/json.h"
#include "output/profile.h"
#include "unit.h"
#include "output/writers.h"

static char *esc_stream(const char *s, size_t n)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	CHECK_EQ_INT(json_write_stringn(f, s, n), 0);
	fclose(f);
	return buf;
}

static void check_escape(const char *in, const char *want)
{
	char *a = json_escape(in), *b = esc_stream(in, strlen(in));

	CHECK_STR(a, want);
	CHECK_STR(b, want);
	free(a);
	free(b);
}

static void test_escape(void)
{
	check_escape("", "\"\"");
	check_escape("plain (app.py:3)", "\"plain (app.py:3)\"");
	check_escape("\"q\" \\b/", "\"\\\"q\\\" \\\\b/\"");
	check_escape("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	check_escape("<script>alert('x')</script>", "\"<script>alert('x')</script>\"");
	check_escape("a;b c;d 12", "\"a;b c;d 12\"");
	check_escape("caf\xc3\xa9 \xf0\x9f\x90\x8d", "\"caf\xc3\xa9 \xf0\x9f\x90\x8d\"");
	check_escape("bad \xff \xc3 \xed\xa0\x80 \xe2\x82", "\"bad \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\"");
	check_escape("\xef\xbf\xbd", "\"\xef\xbf\xbd\"");
	check_escape("\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\"");
	char *n = json_escape(NULL);

	CHECK_STR(n, "\"\"");
	free(n);
	n = esc_stream(NULL, 0);
	CHECK_STR(n, "\"\"");
	free(n);
}

/* The stream writer escapes in chunks; whatever falls on a chunk edge
 * (a 4-byte character, a truncated sequence, a control byte) must come out
 * exactly as the one-shot escaper has it. */
static void test_escape_chunk_edges(void)
{
	static const char *pieces[] = { "\xf0\x9f\x90\x8d", "\xe2\x82", "\n", "\xff", "\xc3\xa9", "\"" };

	for (size_t pi = 0; pi < sizeof(pieces) / sizeof(pieces[0]); pi++) {
		for (size_t pad = 1010; pad < 1030; pad++) {
			char s[4096];
			size_t len = 0;

			for (int rep = 0; rep < 3; rep++) {
				memset(s + len, 'a', pad);
				len += pad;
				memcpy(s + len, pieces[pi], strlen(pieces[pi]));
				len += strlen(pieces[pi]);
			}
			s[len] = '\0';
			char *a = json_escape(s), *b = esc_stream(s, len);

			CHECK(a && b && strcmp(a, b) == 0);
			free(a);
			free(b);
		}
	}
	/* Every byte 1..255, and a 10 KB name. */
	char all[256];

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	char *a = json_escape(all), *b = esc_stream(all, 255);

	CHECK(a && b && strcmp(a, b) == 0);
	static const char head[] = "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e";

	CHECK(a && strncmp(a, head, sizeof(head) - 1) == 0);
	CHECK(a && strstr(a, " !\\\"#$%&'()*+,-./0123456789:;<=>?@ABC") != NULL);
	CHECK(a && strstr(a, "xyz{|}~\\u007f\\ufffd\\ufffd") != NULL);
	free(a);
	free(b);
}

static char *write_ss(const struct profile *p, const struct frametab *ft, const struct profile_meta *m, int *err)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	*err = profile_write_speedscope(p, ft, m, f);
	fclose(f);
	return buf;
}

static void test_small_profile(void)
{
	struct frametab ft;
	struct profile p;
	int err;

	frametab_init(&ft);
	profile_init(&p);
	const char *mod = frametab_python(&ft, "<module>", "/app/x.py", 30, 1);
	const char *mainf = frametab_python(&ft, "main", "/app/x.py", 20, 18);
	const char *work = frametab_python(&ft, "work \"w\"", "/app/y.py", 5, 3);
	const char *nol = frametab_python(&ft, "noline", "/app/y.py", -1, -1);
	const char *trunc = frametab_pseudo(&ft, "[truncated: 1024+ frames]");
	const char *stray = "stray;label"; /* not from frametab: no meta */

	const char *s1[] = { mod, mainf, work };
	const char *s2[] = { trunc, work, nol };
	const char *s3[] = { stray };
	CHECK_EQ_INT(profile_add(&p, s1, 3, 7), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 3, 2), 0);
	CHECK_EQ_INT(profile_add(&p, s3, 1, 1), 0);
	struct profile_meta m = { .period_ns = 2004008, .start_unix_ns = 1, .duration_ns = 2,
				  .name = "pyperf: PID 42 (python3)" };
	char *out = write_ss(&p, &ft, &m, &err);

	CHECK_EQ_INT(err, 0);
	CHECK_STR(out,
		  "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		  "\"shared\":{\"frames\":[\n"
		  "{\"name\":\"<module>\",\"file\":\"/app/x.py\",\"line\":30},\n"
		  "{\"name\":\"main\",\"file\":\"/app/x.py\",\"line\":20},\n"
		  "{\"name\":\"work \\\"w\\\"\",\"file\":\"/app/y.py\",\"line\":5},\n"
		  "{\"name\":\"[truncated: 1024+ frames]\"},\n"
		  "{\"name\":\"noline\",\"file\":\"/app/y.py\"},\n"
		  "{\"name\":\"stray;label\"}\n"
		  "]},\n"
		  "\"profiles\":[{\"type\":\"sampled\",\"name\":\"pyperf: PID 42 (python3)\",\"unit\":\"nanoseconds\","
		  "\"startValue\":0,\"endValue\":20040080,\n"
		  "\"samples\":[\n"
		  "[0,1,2],\n"
		  "[3,2,4],\n"
		  "[5]\n"
		  "],\n"
		  "\"weights\":[14028056,4008016,2004008]}],\n"
		  "\"name\":\"pyperf: PID 42 (python3)\",\"activeProfileIndex\":0,\"exporter\":\"pyperf\"}\n");
	free(out);

	/* Unknown period: weights are sample counts, unit "none". */
	m.period_ns = 0;
	m.name = NULL;
	out = write_ss(&p, &ft, &m, &err);
	CHECK_EQ_INT(err, 0);
	CHECK(out && strstr(out, "\"name\":\"pyperf\",\"unit\":\"none\",\"startValue\":0,\"endValue\":10,") != NULL);
	CHECK(out && strstr(out, "\"weights\":[7,2,1]}]") != NULL);
	free(out);

	/* A total past 2^53 ns (exact as a double no more): counts instead. */
	m.period_ns = 1ull << 52;
	out = write_ss(&p, &ft, &m, &err);
	CHECK_EQ_INT(err, 0);
	CHECK(out && strstr(out, "\"unit\":\"none\",\"startValue\":0,\"endValue\":10,") != NULL);
	free(out);

	/* A failing stream is an error: /dev/full fails every write. */
	FILE *f = fopen("/dev/full", "w");

	CHECK(f != NULL);
	if (f) {
		/* Buffered: the failure shows at the final flush. */
		m.period_ns = 1000;
		CHECK_EQ_INT(profile_write_speedscope(&p, &ft, &m, f), -ENOSPC);
		fclose(f);
	}
	f = fopen("/dev/full", "w");
	if (f) {
		/* Unbuffered: the very first write fails, and so does a lone string. */
		setvbuf(f, NULL, _IONBF, 0);
		CHECK_EQ_INT(profile_write_speedscope(&p, &ft, &m, f), -ENOSPC);
		clearerr(f);
		CHECK_EQ_INT(json_write_string(f, "x"), -ENOSPC);
		fclose(f);
	}
	profile_free(&p);
	frametab_free(&ft);
}

static void test_empty_profile(void)
{
	struct frametab ft;
	struct profile p;
	struct profile_meta m = { .period_ns = 1000 };
	int err;

	frametab_init(&ft);
	profile_init(&p);
	char *out = write_ss(&p, &ft, &m, &err);

	CHECK_EQ_INT(err, 0);
	CHECK_STR(out, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		       "\"shared\":{\"frames\":[\n]},\n"
		       "\"profiles\":[{\"type\":\"sampled\",\"name\":\"pyperf\",\"unit\":\"nanoseconds\","
		       "\"startValue\":0,\"endValue\":0,\n\"samples\":[\n],\n\"weights\":[]}],\n"
		       "\"name\":\"pyperf\",\"activeProfileIndex\":0,\"exporter\":\"pyperf\"}\n");
	free(out);
	profile_free(&p);
	frametab_free(&ft);
}

/* Hostile names and files come out escaped, once each, in frame order. */
static void test_hostile_names(void)
{
	struct frametab ft;
	struct profile p;
	static char big[10 * 1024 + 1];
	int err;

	memset(big, 'n', sizeof(big) - 1);
	big[5000] = '\xff';
	const char *names[] = { "a;b\nc", "<script>", "q\"uo\\te", "\x01\xfe", big };
	const size_t nn = sizeof(names) / sizeof(names[0]);
	const char *labels[5];

	frametab_init(&ft);
	profile_init(&p);
	for (size_t i = 0; i < nn; i++)
		labels[i] = frametab_python(&ft, names[i], "dir\\\"f\".py", 1, 1);
	CHECK_EQ_INT(profile_add(&p, labels, nn, 3), 0);
	struct profile_meta m = { .period_ns = 10, .name = "ti\ntle" };
	char *out = write_ss(&p, &ft, &m, &err);

	CHECK_EQ_INT(err, 0);
	CHECK(out && strstr(out, "{\"name\":\"a;b\\nc\",\"file\":\"dir\\\\\\\"f\\\".py\",\"line\":1},\n") != NULL);
	CHECK(out && strstr(out, "{\"name\":\"<script>\",") != NULL);
	CHECK(out && strstr(out, "{\"name\":\"q\\\"uo\\\\te\",") != NULL);
	CHECK(out && strstr(out, "{\"name\":\"\\u0001\\ufffd\",") != NULL);
	CHECK(out && strstr(out, "nnnn\\ufffdnnnn") != NULL);
	CHECK(out && strstr(out, "\"samples\":[\n[0,1,2,3,4]\n]") != NULL);
	CHECK(out && strstr(out, "\"name\":\"ti\\ntle\",\"unit\"") != NULL);
	/* No raw control byte or invalid UTF-8 anywhere in the output. */
	CHECK(out && utf8_sanitized_len(out, strlen(out)) == strlen(out));
	for (size_t i = 0; out && out[i]; i++)
		if ((unsigned char)out[i] < 0x20 && out[i] != '\n')
			CHECK(!"raw control byte in output");
	free(out);
	profile_free(&p);
	frametab_free(&ft);
}

/* Python calling into C calling into the kernel: native frames are named
 * by symbol with the mapped file's path, kernel frames in file "[kernel]",
 * neither with a line. */
static void test_native_frames(void)
{
	struct frametab ft;
	struct profile p;
	int err;

	frametab_init(&ft);
	profile_init(&p);
	const char *mod = frametab_python(&ft, "<module>", "/app/x.py", 3, 1);
	const char *call = frametab_native(&ft, "PyObject_Call", "/usr/bin/python3.12", 0x1f2e30, "ab", false);
	const char *pack = frametab_python(&ft, "pack", "/app/x.py", 10, 9);
	const char *zc = frametab_native(&ft, "compress2", "/usr/lib/libz.so.1", 0x4a10, "", false);
	const char *zanon = frametab_native(&ft, "", "/usr/lib/libz.so.1", 0x7ff0, "", false);
	const char *kern = frametab_native(&ft, "do_syscall_64", "", 0xffffffff81e01234ull, "", true);
	const char *gc = frametab_pseudo(&ft, "[gc]");
	const char *s1[] = { mod, call, pack, zc, kern };
	const char *s2[] = { mod, call, pack, zc, zanon };
	const char *s3[] = { mod, gc };

	CHECK_EQ_INT(profile_add(&p, s1, 5, 5), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 5, 3), 0);
	CHECK_EQ_INT(profile_add(&p, s3, 2, 2), 0);
	struct profile_meta m = { .period_ns = 1000, .name = "n" };
	char *out = write_ss(&p, &ft, &m, &err);

	CHECK_EQ_INT(err, 0);
	CHECK_STR(out,
		  "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		  "\"shared\":{\"frames\":[\n"
		  "{\"name\":\"<module>\",\"file\":\"/app/x.py\",\"line\":3},\n"
		  "{\"name\":\"PyObject_Call\",\"file\":\"/usr/bin/python3.12\"},\n"
		  "{\"name\":\"pack\",\"file\":\"/app/x.py\",\"line\":10},\n"
		  "{\"name\":\"compress2\",\"file\":\"/usr/lib/libz.so.1\"},\n"
		  "{\"name\":\"do_syscall_64\",\"file\":\"[kernel]\"},\n"
		  "{\"name\":\"libz.so.1+0x7ff0\",\"file\":\"/usr/lib/libz.so.1\"},\n"
		  "{\"name\":\"[gc]\"}\n"
		  "]},\n"
		  "\"profiles\":[{\"type\":\"sampled\",\"name\":\"n\",\"unit\":\"nanoseconds\","
		  "\"startValue\":0,\"endValue\":10000,\n"
		  "\"samples\":[\n"
		  "[0,1,2,3,4],\n"
		  "[0,1,2,3,5],\n"
		  "[0,6]\n"
		  "],\n"
		  "\"weights\":[5000,3000,2000]}],\n"
		  "\"name\":\"n\",\"activeProfileIndex\":0,\"exporter\":\"pyperf\"}\n");
	free(out);
	profile_free(&p);
	frametab_free(&ft);
}

int main(void)
{
	test_escape();
	test_escape_chunk_edges();
	test_small_profile();
	test_empty_profile();
	test_hostile_names();
	test_native_frames();
	UNIT_DONE();
}
