/* SPDX-License-Identifier: MIT */
/*
 * Test helper for tests/e2e/test_dump.py: reads objects of a live Python
 * process with user/python/pyobj.c and prints them as JSON, so the test can
 * compare them with what the target itself says they are.
 *
 *   pyobj_read PID value ADDR         the object at ADDR
 *   pyobj_read PID attr ADDR NAME     its instance attribute NAME
 *   pyobj_read PID module NAME        the address of sys.modules[NAME]
 *
 * JSON: None null, bool, int {"int": "decimal"}, float number, str string,
 * bytes {"bytes": "hex"}, list [...], tuple {"tuple": [...]}, dict
 * {"dict": [[k, v], ...]}, set and frozenset {"set": [...]}, anything else
 * {"type": "tp_name"}; containers to depth 4, 64 items.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/json.h"
#include "python/pyobj.h"

#define MAX_ITEMS 64

static void render(const struct pyobj_reader *r, uint64_t obj, int depth);

struct each {
	const struct pyobj_reader *r;
	int depth;
	bool first;
};

static bool dict_item(void *ctx, uint64_t k, uint64_t v)
{
	struct each *e = ctx;

	fputs(e->first ? "[" : ", [", stdout);
	e->first = false;
	render(e->r, k, e->depth + 1);
	fputs(", ", stdout);
	render(e->r, v, e->depth + 1);
	fputs("]", stdout);
	return true;
}

static bool set_item(void *ctx, uint64_t k)
{
	struct each *e = ctx;

	fputs(e->first ? "" : ", ", stdout);
	e->first = false;
	render(e->r, k, e->depth + 1);
	return true;
}

static void render(const struct pyobj_reader *r, uint64_t obj, int depth)
{
	char tp[128], text[4096];
	int64_t n, i;
	double d;
	uint8_t bytes[256];
	uint64_t items[MAX_ITEMS];
	struct each e = { .r = r, .depth = depth, .first = true };

	if (depth > 4 || !pyobj_type_name(r, obj, tp, sizeof(tp))) {
		fputs("\"?\"", stdout);
		return;
	}
	if (!strcmp(tp, "NoneType")) {
		fputs("null", stdout);
	} else if (!strcmp(tp, "bool") && pyobj_long(r, obj, &i)) {
		fputs(i ? "true" : "false", stdout);
	} else if (pyobj_long_decimal(r, obj, text, sizeof(text))) {
		printf("{\"int\": \"%s\"}", text);
	} else if (pyobj_float(r, obj, &d)) {
		printf("%.17g", d);
	} else if (pyobj_str(r, obj, text, sizeof(text), NULL)) {
		json_write_string(stdout, text);
	} else if (pyobj_bytes(r, obj, bytes, sizeof(bytes), &n)) {
		fputs("{\"bytes\": \"", stdout);
		for (int64_t k = 0; k < n && k < (int64_t)sizeof(bytes); k++)
			printf("%02x", bytes[k]);
		fputs("\"}", stdout);
	} else if ((n = pyobj_seq(r, obj, items, MAX_ITEMS)) >= 0) {
		bool tuple = pyobj_is_instance(r, obj, "tuple");

		fputs(tuple ? "{\"tuple\": [" : "[", stdout);
		for (int64_t k = 0; k < n && k < MAX_ITEMS; k++) {
			fputs(k ? ", " : "", stdout);
			render(r, items[k], depth + 1);
		}
		fputs(tuple ? "]}" : "]", stdout);
	} else if (pyobj_is_instance(r, obj, "dict")) {
		fputs("{\"dict\": [", stdout);
		pyobj_dict_each(r, obj, dict_item, &e, MAX_ITEMS);
		fputs("]}", stdout);
	} else if (pyobj_is_instance(r, obj, "set") || pyobj_is_instance(r, obj, "frozenset")) {
		fputs("{\"set\": [", stdout);
		pyobj_set_each(r, obj, set_item, &e, MAX_ITEMS);
		fputs("]}", stdout);
	} else {
		fputs("{\"type\": ", stdout);
		json_write_string(stdout, tp);
		fputs("}", stdout);
	}
}

int main(int argc, char **argv)
{
	struct py_target t;
	struct pyobj_reader r;
	struct memsrc m;
	char err[512];
	uint64_t v;

	if (argc < 4) {
		fprintf(stderr, "usage: pyobj_read PID value ADDR | attr ADDR NAME | module NAME\n");
		return 2;
	}
	if (py_target_open(atoi(argv[1]), &t, err, sizeof(err))) {
		fprintf(stderr, "pyobj_read: %s\n", err);
		return 1;
	}
	m = memsrc_pid(t.pid);
	if (pyobj_reader_init(&r, &m, &t, err, sizeof(err))) {
		fprintf(stderr, "pyobj_read: %s\n", err);
		return 1;
	}
	if (!strcmp(argv[2], "module")) {
		printf("0x%" PRIx64 "\n", pyobj_module(&r, argv[3]));
		return 0;
	}
	v = strtoull(argv[3], NULL, 0);
	if (!strcmp(argv[2], "attr")) {
		if (argc < 5 || !pyobj_getattr(&r, v, argv[4], &v)) {
			fprintf(stderr, "pyobj_read: no attribute\n");
			return 1;
		}
	}
	render(&r, v, 0);
	putchar('\n');
	return 0;
}
