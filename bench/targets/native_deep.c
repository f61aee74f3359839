/* native_deep: a C extension for the `native` benchmark (bench/run.py).
 * run(depth, block) recurses depth C frames and then either spins (the
 * thread stays on a CPU: what the BPF unwinder samples) or blocks in
 * pause() (a thread the userspace unwinder can read the registers of from
 * /proc/PID/task/TID/syscall). Built by bench/run.py with the target
 * interpreter's Python.h; plain -O2, no frame pointers, as distributions
 * build extensions. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile int stop; /* never set: keeps the compiler from seeing an endless loop */

static __attribute__((noinline)) unsigned long bottom(int block)
{
	unsigned long i = 0;

	while (!stop) {
		if (block)
			pause();
		else
			sink += i++;
	}
	return i;
}

/* noinline and a volatile store after the call: every level keeps its own
 * frame (no tail call, no recursion turned into a loop). */
static __attribute__((noinline)) unsigned long down(int n, int block)
{
	unsigned long r = n <= 1 ? bottom(block) : down(n - 1, block);

	sink += r + (unsigned long)n;
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

static PyObject *native_deep_run(PyObject *self, PyObject *args)
{
	int depth, block;

	(void)self;
	if (!PyArg_ParseTuple(args, "ii", &depth, &block))
		return NULL;
	if (depth < 1 || depth > 10000) {
		PyErr_SetString(PyExc_ValueError, "depth must be 1..10000");
		return NULL;
	}
	down(depth, block); /* GIL held: the thread state stays current, as in a busy C call */
	Py_RETURN_NONE;
}

static PyMethodDef native_deep_methods[] = {
	{ "run", native_deep_run, METH_VARARGS, "run(depth, block): depth C frames, then spin or pause forever" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef native_deep_module = {
	PyModuleDef_HEAD_INIT, "native_deep", "deep C stacks for bench/run.py", -1, native_deep_methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_native_deep(void)
{
	return PyModule_Create(&native_deep_module);
}
