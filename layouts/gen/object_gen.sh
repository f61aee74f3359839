#!/usr/bin/env bash
# Regenerates layouts/object_table.c (struct py_obj_layout per CPython
# version, layouts/object_layouts.h): layouts/gen/object_probe.c compiled
# against each interpreter's headers.
#
#   layouts/gen/object_gen.sh           regenerate in place
#   layouts/gen/object_gen.sh --check   diff against the committed table
#
# Sources: pyenv 3.8+ (not free-threaded), Debian's /usr/include/python3.N,
# Debian sid 3.13/3.14/3.15 unpacked by tests/helpers/sid-python.sh (SID_DIR).
# One entry per PY_VERSION_HEX, the first source found wins. Committed
# entries of versions whose headers are not here are kept as they are.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TABLE=$ROOT/layouts/object_table.c
CC=${CC:-cc}
check=0
[ "${1:-}" = --check ] && check=1

GEN=object_gen
. "$ROOT/layouts/gen/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/new"

# probe KIND LABEL INC DIR [cc args...] (gen_sources' callback)
probe() {
	local label=$2 inc=$3 out hex
	shift 4
	gen_compile "$ROOT/layouts/gen/object_probe.c" "$label" "$inc" "$@" || return 0
	out=$("$tmp/probe")
	hex=$(gen_version_hex "$out")
	[ -e "$tmp/new/$hex.inc" ] && return 0
	{
		echo "	/* CPython 0x$hex, $label */"
		printf '%s\n' "$out"
	} >"$tmp/new/$hex.inc"
}

gen_sources 8 probe
gen_keep_committed "$TABLE"
gen_table "$TABLE" object_layouts.h "struct py_obj_layout" py_obj_layouts $check
