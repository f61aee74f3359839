#!/usr/bin/env bash
# Regenerates layouts/layouts_table.c: compiles layouts/gen/probe.c against the
# headers of every CPython found here and collects the initializers it prints
# (py_layouts[], and py_layout_extents[] from `probe extents`).
#
#   layouts/gen/generate.sh            regenerate the table in place
#   layouts/gen/generate.sh --check    regenerate to a temp file, diff against
#                                      the committed table, exit 1 on a difference
#   options: --no-fetch  do not run tests/helpers/sid-python.sh fetch
#            --clean     drop committed entries for versions not found here
#                        (default: they are kept as they are)
#            -v          print each source as it is probed
#
# Sources: pyenv ($(pyenv root)/versions/3.N.*, N >= 8, not free-threaded),
# Debian's own /usr/include/python3.N (libpython3.N-dev), and Debian sid's
# 3.13/3.14/3.15 unpacked by tests/helpers/sid-python.sh into build/sid.
# One entry per PY_VERSION_HEX; the first source found for a version wins
# (pyenv, then Debian, then sid).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TABLE=$ROOT/layouts/layouts_table.c
CC=${CC:-cc}
check=0 fetch=1 clean=0 verbose=0
for a in "$@"; do
	case $a in
	--check) check=1 ;;
	--no-fetch) fetch=0 ;;
	--clean) clean=1 ;;
	-v) verbose=1 ;;
	*) echo "usage: $0 [--check] [--no-fetch] [--clean] [-v]" >&2; exit 2 ;;
	esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/new" "$tmp/old"

log() { [ $verbose = 1 ] && echo "generate: $*" >&2 || true; }

# probe <label> <include dir> [extra cc args...]: writes $tmp/new/<hex>.inc
probe() {
	local label=$1 inc=$2 out hex
	shift 2
	[ -f "$inc/Python.h" ] && [ -d "$inc/internal" ] || { log "skip $label: no internal headers in $inc"; return 0; }
	if grep -qs '^#define Py_GIL_DISABLED 1' "$inc/pyconfig.h"; then
		log "skip $label: free-threaded"
		return 0
	fi
	if ! "$CC" -std=c11 -O0 -w -DPy_BUILD_CORE -I"$inc" -I"$inc/internal" "$@" -I"$ROOT/bpf" \
		"$ROOT/layouts/gen/probe.c" -o "$tmp/probe" 2>"$tmp/cc.log"; then
		echo "generate: probe does not compile against $label ($inc):" >&2
		head -20 "$tmp/cc.log" >&2
		exit 1
	fi
	out=$("$tmp/probe") || { echo "generate: probe failed for $label" >&2; exit 1; }
	hex=$(printf '%s\n' "$out" | sed -n 's/.*\.version_hex = 0x\([0-9a-f]\{8\}\).*/\1/p')
	[ -n "$hex" ] || { echo "generate: no version in probe output for $label" >&2; exit 1; }
	if [ -e "$tmp/new/$hex.inc" ]; then
		log "skip $label: version $hex already probed"
		return 0
	fi
	log "$label: $hex"
	case $label in "Debian sid"*) echo "$hex" >>"$tmp/fromsid" ;; esac
	# Name the source in the entry's first comment line.
	printf '%s\n' "$out" | sed "1s|^\t/\* CPython \([^ ]*\) headers|\t/* CPython \1 headers, $label|" >"$tmp/new/$hex.inc"
	"$tmp/probe" extents >"$tmp/new/$hex.ext" || { echo "generate: probe extents failed for $label" >&2; exit 1; }
	echo "$hex" >>"$tmp/found"
}

: >"$tmp/found"
: >"$tmp/fromsid"

# 1. pyenv
if command -v pyenv >/dev/null 2>&1; then
	pyroot=$(pyenv root)
else
	pyroot=${PYENV_ROOT:-$HOME/.pyenv}
fi
for d in $(ls -d "$pyroot"/versions/3.* 2>/dev/null | sort -V); do
	name=$(basename "$d")
	[[ $name =~ ^3\.([0-9]+)\.[0-9]+$ ]] || { log "skip pyenv $name"; continue; }
	minor=${BASH_REMATCH[1]}
	[ "$minor" -ge 8 ] || continue
	probe "pyenv" "$d/include/python3.$minor"
done

# 2. Debian's own development headers (Debian's pyconfig.h includes the
# multiarch one from /usr/include, which is on the default search path).
for inc in $(ls -d /usr/include/python3.* 2>/dev/null | sort -V); do
	[[ $(basename "$inc") =~ ^python3\.([0-9]+)$ ]] || continue
	[ "${BASH_REMATCH[1]}" -ge 8 ] || continue
	pkg=$(dpkg -S "$inc/internal" 2>/dev/null | head -1 | cut -d: -f1 || true)
	probe "Debian ${pkg:-/usr/include}" "$inc"
done

# 3. Debian sid, unpacked under build/sid.
SIDPY=$ROOT/tests/helpers/sid-python.sh
if [ $fetch = 1 ]; then
	"$SIDPY" fetch >"$tmp/sid.log" 2>&1 || echo "generate: warning: $(tail -1 "$tmp/sid.log")" >&2
fi
for v in $("$SIDPY" versions 2>/dev/null); do
	inc=$("$SIDPY" path "$v")
	sidroot=${inc%/include/python$v}
	deb=$(cat "${SID_DIR:-$ROOT/build/sid}/stamp-$v" 2>/dev/null || echo "?")
	# -idirafter: the multiarch pyconfig.h under the unpacked usr/include,
	# searched after the system's own headers.
	probe "Debian sid libpython$v-dev $deb" "$inc" -idirafter "$sidroot/include"
done

# Entries of the committed table, one file per version (between the entry's
# "/* CPython" comment line and its closing "},"), and the one-line entries
# of py_layout_extents[].
if [ -f "$TABLE" ]; then
	awk -v dir="$tmp/old" '
		/^\t\/\* CPython / { buf = $0 "\n"; inent = 1; next }
		inent { buf = buf $0 "\n" }
		inent && /version_hex = 0x/ { match($0, /0x[0-9a-f]+/); hex = substr($0, RSTART + 2, 8) }
		inent && /^\t},$/ { printf "%s", buf > (dir "/" hex ".inc"); close(dir "/" hex ".inc"); inent = 0 }
		/^\t\{ \.version_hex = 0x[0-9a-f]+, \.runtime_size = / {
			match($0, /0x[0-9a-f]+/); hex = substr($0, RSTART + 2, 8)
			print > (dir "/" hex ".ext"); close(dir "/" hex ".ext")
		}
	' "$TABLE"
fi

# Merge: regenerated entries replace committed ones; committed entries for
# versions not found here stay (unless --clean).
if [ $clean = 0 ]; then
	for f in "$tmp"/old/*.inc "$tmp"/old/*.ext; do
		[ -e "$f" ] || continue
		[ -e "$tmp/new/${f##*/}" ] || cp "$f" "$tmp/new/"
	done
fi

n=$(ls "$tmp"/new/*.inc 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || { echo "generate: no CPython headers found" >&2; exit 1; }

if [ $check = 1 ]; then
	[ -f "$TABLE" ] || { echo "generate --check: $TABLE does not exist" >&2; exit 1; }
	# sid moves on to new patch releases by itself: a sid version missing from
	# the table is reported, not a failure (py_layout_find falls back to the
	# nearest patch release; on 3.13+ the debug offsets refine it at attach).
	while read -r hex; do
		[ -e "$tmp/old/$hex.inc" ] && continue
		echo "generate --check: note: sid's 0x$hex is not in the table (run layouts/gen/generate.sh to add it)" >&2
		rm -f "$tmp/new/$hex.inc" "$tmp/new/$hex.ext"
	done <"$tmp/fromsid"
fi

# Every layout entry has its extents (an old table without them: regenerate).
for f in "$tmp"/new/*.inc; do
	[ -e "${f%.inc}.ext" ] && continue
	echo "generate: no extents for $(basename "${f%.inc}") (its headers are not here: regenerate where they are, or --clean)" >&2
	exit 1
done

{
	echo "/* SPDX-License-Identifier: MIT */"
	echo "/*"
	echo " * generated by layouts/gen/generate.sh, do not edit."
	echo " * One entry per CPython version whose headers were probed (layouts/gen/probe.c),"
	echo " * sorted by version_hex. See layouts/layouts.h."
	echo " */"
	echo '#include "layouts.h"'
	echo
	echo "const struct py_layout py_layouts[] = {"
	for f in $(ls "$tmp"/new/*.inc | sort); do cat "$f"; done
	echo "};"
	echo
	echo "const unsigned py_layouts_count = sizeof(py_layouts) / sizeof(py_layouts[0]);"
	echo
	echo "/* Sizes of the structures the offsets above point into, per version. */"
	echo "const struct py_layout_extent py_layout_extents[] = {"
	for f in $(ls "$tmp"/new/*.ext | sort); do cat "$f"; done
	echo "};"
	echo
	echo "const unsigned py_layout_extents_count = sizeof(py_layout_extents) / sizeof(py_layout_extents[0]);"
} >"$tmp/table.c"

if [ $check = 1 ]; then
	if ! diff -u "$TABLE" "$tmp/table.c" >"$tmp/diff"; then
		echo "generate --check: layouts/layouts_table.c differs from the headers installed here:" >&2
		cat "$tmp/diff" >&2
		exit 1
	fi
	echo "generate --check: OK ($(wc -l <"$tmp/found") versions probed here: $(sed 's/^/0x/' "$tmp/found" | paste -sd' '))"
	exit 0
fi
cp "$tmp/table.c" "$TABLE"
echo "generate: wrote $TABLE ($n entries, $(wc -l <"$tmp/found") probed here)"
