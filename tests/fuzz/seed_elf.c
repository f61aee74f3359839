/* SPDX-License-Identifier: MIT */
/*
 * A tiny program the Makefile builds in several shapes (executable, PIE with
 * exported symbols, shared object, stripped) as seeds for fuzz_elfsym: it
 * has what pyperf looks for in an interpreter, so the fuzzer starts from
 * files where every lookup succeeds (_PyRuntime in a .PyRuntime section,
 * Py_Version, a PY_VERSION string).
 */
#include <stdint.h>

__attribute__((section(".PyRuntime"), used)) char _PyRuntime[64] = "xdebugpy";
__attribute__((used)) const uint32_t Py_Version = 0x030c04f0;
__attribute__((used)) const char py_version_string[] = "3.12.4";

int main(void)
{
	return (int)(_PyRuntime[0] + Py_Version + py_version_string[0]) & 1;
}
