/* cbmod: a C extension whose call(f, *args) calls f from C, so a test sees
 * Python -> C -> Python in one native stack. Built by the test with the
 * interpreter's own Python.h (tests/e2e/test_native_record.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* noinline and work after the call: the frame stays on the stack while f
 * runs (no tail call, no inlining into the module's method table glue). */
static __attribute__((noinline)) PyObject *cbmod_call(PyObject *self, PyObject *args)
{
	(void)self;
	Py_ssize_t n = PyTuple_Size(args);
	if (n < 1) {
		PyErr_SetString(PyExc_TypeError, "call(f, *args): f missing");
		return NULL;
	}
	PyObject *f = PyTuple_GetItem(args, 0);
	PyObject *rest = PyTuple_GetSlice(args, 1, n);
	if (rest == NULL)
		return NULL;
	PyObject *result = PyObject_CallObject(f, rest);
	Py_DECREF(rest);
	return result;
}

static PyMethodDef cbmod_methods[] = {
	{ "call", cbmod_call, METH_VARARGS, "call(f, *args): f(*args), called from C" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef cbmod_module = {
	PyModuleDef_HEAD_INIT, "cbmod", "calls Python back from C", -1, cbmod_methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_cbmod(void)
{
	return PyModule_Create(&cbmod_module);
}
