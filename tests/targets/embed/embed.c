/* A C program embedding CPython: main() -> run_script() -> PyRun_SimpleString
 * of a busy loop, so a test sees the C frames of the embedder below the
 * Python ones. Built by tests/e2e/test_native_record.py against a libpython
 * (shared or static). Prints "ready" (from Python) once the loop runs. */
#include <Python.h>
#include <stdio.h>

static const char script[] =
	"def embedded_spin(n):\n"
	"    total = 0\n"
	"    for i in range(n):\n"
	"        total += i * i\n"
	"    return total\n"
	"\n"
	"def embedded_main():\n"
	"    embedded_spin(1000)\n"
	"    print('ready', flush=True)\n"
	"    while True:\n"
	"        embedded_spin(100000)\n"
	"\n"
	"embedded_main()\n";

/* noinline, and the result kept in a volatile (no tail call): the test
 * looks for this frame between main and the Python ones. */
static __attribute__((noinline)) int run_script(void)
{
	volatile int rc = PyRun_SimpleString(script);
	return rc;
}

int main(void)
{
	Py_Initialize();
	int rc = run_script();
	if (Py_FinalizeEx() < 0)
		rc = 120;
	if (rc != 0)
		fprintf(stderr, "embed: the script failed\n");
	return rc != 0;
}
