/* A program that becomes Python late: it sleeps, then dlopens libpython
 * and runs a busy loop in it. Its executable never names Python, and is the
 * same before and after libpython is mapped (as for a program started by
 * naming the dynamic loader, or an embedder loading a Python plugin late).
 *   late_python LIBPYTHON DELAY_MS SECONDS
 * Prints "late_cpu SECONDS", its CPU time, as it ends. Built by
 * tests/e2e/test_record.py; run with PYTHONHOME set. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: late_python LIBPYTHON DELAY_MS SECONDS\n");
		return 2;
	}
	long ms = atol(argv[2]);
	struct timespec delay = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&delay, NULL);
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		fprintf(stderr, "late_python: %s\n", dlerror());
		return 1;
	}
	void (*initialize)(void) = (void (*)(void))dlsym(lib, "Py_Initialize");
	int (*run)(const char *) = (int (*)(const char *))dlsym(lib, "PyRun_SimpleString");
	if (!initialize || !run) {
		fprintf(stderr, "late_python: no Py_Initialize or PyRun_SimpleString in %s\n", argv[1]);
		return 1;
	}
	char script[512];
	snprintf(script, sizeof(script),
		 "import time\n"
		 "def late_spin(seconds):\n"
		 "    end = time.monotonic() + seconds\n"
		 "    while time.monotonic() < end:\n"
		 "        pass\n"
		 "late_spin(%g)\n"
		 "print('late_cpu %%.3f' %% time.process_time(), flush=True)\n",
		 atof(argv[3]));
	initialize();
	return run(script) != 0;
}
