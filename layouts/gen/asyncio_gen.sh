#!/usr/bin/env bash
# Regenerates layouts/asyncio_table.c (struct py_async_layout per CPython
# version, layouts/asyncio_layouts.h): layouts/gen/asyncio_probe.c compiled
# against each interpreter's headers, plus (3.11-3.13) the private TaskObj
# offsets read from the DWARF of that build's _asyncio extension with gdb
# (`ptype /o TaskObj`; pyenv builds keep their debug info). 3.14+ publish
# the task offsets in the process (_AsyncioDebug): none are stored for them.
#
#   layouts/gen/asyncio_gen.sh           regenerate in place
#   layouts/gen/asyncio_gen.sh --check   diff against the committed table
#
# Sources: pyenv 3.11+ (not free-threaded), Debian sid 3.14/3.15 unpacked by
# tests/helpers/sid-python.sh (SID_DIR). One entry per PY_VERSION_HEX.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TABLE=$ROOT/layouts/asyncio_table.c
CC=${CC:-cc}
check=0
[ "${1:-}" = --check ] && check=1

GEN=asyncio_gen
. "$ROOT/layouts/gen/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/new"

# task_fields <_asyncio .so>: the TaskObj initializer lines, from DWARF.
task_fields() {
	local so=$1 out
	command -v gdb >/dev/null || { echo "asyncio_gen: gdb is needed to read TaskObj from $so" >&2; exit 1; }
	out=$(gdb -nx -batch -ex 'ptype /o TaskObj' "$so" 2>/dev/null) || true
	printf '%s\n' "$out" | awk '
		function f(name, key) { if ($0 ~ ("[*]" name ";") || $0 ~ (" " name ";")) { split($0, a, /[ \t]+/); off[key] = a[2] } }
		{ f("task_loop", "loop"); f("task_state", "state"); f("task_fut_waiter", "fut_waiter");
		  f("task_coro", "coro"); f("task_name", "name"); f("task_callback0", "callback0");
		  f("task_callbacks", "callbacks") }
		/total size/ { match($0, /[0-9]+/); size = substr($0, RSTART, RLENGTH) }
		END {
			n = split("loop state fut_waiter coro name callback0 callbacks", k, " ")
			for (i = 1; i <= n; i++) if (!(k[i] in off)) { print "missing " k[i] > "/dev/stderr"; exit 1 }
			if (size == "") { print "missing size" > "/dev/stderr"; exit 1 }
			printf "\t  .task_size = %s, .task_loop = %s, .task_state = %s, .task_fut_waiter = %s,\n", size, off["loop"], off["state"], off["fut_waiter"]
			printf "\t  .task_coro = %s, .task_name = %s, .task_callback0 = %s, .task_callbacks = %s,\n", off["coro"], off["name"], off["callback0"], off["callbacks"]
		}'
}

# probe KIND LABEL INC DIR [cc args...] (gen_sources' callback). 3.11-3.13
# need the DWARF of the build's _asyncio extension: pyenv's, not Debian's.
probe() {
	local kind=$1 label=$2 inc=$3 dir=$4 so="" out hex
	shift 4
	case $kind in
	pyenv) so=$(ls "$dir"/lib/python3.*/lib-dynload/_asyncio.cpython-*.so 2>/dev/null | head -1 || true) ;;
	debian) return 0 ;;
	sid) [[ $dir =~ ^3\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 14 ] || return 0 ;;
	esac
	gen_compile "$ROOT/layouts/gen/asyncio_probe.c" "$label" "$inc" "$@" || return 0
	out=$("$tmp/probe")
	hex=$(gen_version_hex "$out")
	[ -e "$tmp/new/$hex.inc" ] && return 0
	{
		echo "	/* CPython 0x$hex, $label */"
		printf '%s\n' "$out"
		if [ $((16#$hex)) -lt $((16#030e0000)) ]; then
			[ -n "$so" ] && [ -f "$so" ] || { echo "asyncio_gen: no _asyncio extension for $label" >&2; exit 1; }
			task_fields "$so" || { echo "asyncio_gen: no TaskObj in the DWARF of $so" >&2; exit 1; }
		else
			echo "	  .task_size = PY_OFF_NONE, .task_loop = 16, .task_state = PY_OFF_NONE, .task_fut_waiter = PY_OFF_NONE,"
			echo "	  .task_coro = PY_OFF_NONE, .task_name = PY_OFF_NONE, .task_callback0 = 24, .task_callbacks = 40,"
		fi
		echo "	},"
	} >"$tmp/new/$hex.inc"
}

gen_sources 11 probe
gen_table "$TABLE" asyncio_layouts.h "struct py_async_layout" py_async_layouts $check
