#!/usr/bin/env bash
# Debian unstable (sid) CPython interpreters and headers, without touching the
# system: a private apt configuration (own sources, lists, cache and an empty
# dpkg status), `apt-get download`, `dpkg-deb -x` into build/sid/root.
#
#   sid-python.sh fetch [--refresh]   download + unpack (idempotent); prints what
#                                     it has; exit 0 if at least one version is
#                                     there, 3 (one-line reason) if impossible
#   sid-python.sh versions            the unpacked versions, one per line ("3.14")
#   sid-python.sh path 3.14           the headers dir (.../include/python3.14)
#   sid-python.sh exe 3.14            the unpacked ELF executable (for symbols)
#   sid-python.sh run 3.14 ARGS...    run that interpreter with the unpacked
#                                     glibc loader and libraries
#   sid-python.sh fetch-austin        sid's austin (a sampling profiler the
#                                     benchmarks compare with) into the same root
#   sid-python.sh austin ARGS...      run it with the unpacked loader
#
# Versions: SID_PYTHON_VERSIONS (default "3.13 3.14 3.15"; sid's 3.13 is a later
# patch release than pyenv's). Output dir: SID_DIR (default <repo>/build/sid).
# Mirror: SID_MIRROR, else the Debian mirror of the machine's own apt sources.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SID=${SID_DIR:-$ROOT/build/sid}
UNPACK=$SID/root
APTDIR=$SID/apt
VERSIONS=${SID_PYTHON_VERSIONS:-3.13 3.14 3.15}
ARCH_TRIPLET=x86_64-linux-gnu

die() { echo "sid-python: $*" >&2; exit "${2:-1}"; }
impossible() { echo "sid-python: cannot fetch: $*" >&2; exit 3; }

# The mirror host the machine's own apt sources use (deb822 or one-line form).
mirror() {
	local f uri
	[ -n "${SID_MIRROR:-}" ] && { echo "$SID_MIRROR"; return; }
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return; }
	done
	echo "http://deb.debian.org/debian"
}

APT_OPTS=()
setup_apt() {
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || impossible "no $keyring (install debian-archive-keyring)"
	command -v apt-get >/dev/null || impossible "apt-get not found"
	command -v dpkg-deb >/dev/null || impossible "dpkg-deb not found"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/etc" "$SID/debs"
	[ -e "$APTDIR/status" ] || : >"$APTDIR/status"
	cat >"$APTDIR/etc/sid.sources" <<-EOF
		Types: deb
		URIs: $(mirror)
		Suites: sid
		Components: main
		Signed-By: $keyring
	EOF
	APT_OPTS=(
		-o "Dir::Etc::SourceList=$APTDIR/etc/sid.sources"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::Etc::Preferences=/dev/null"
		-o "Dir::Etc::PreferencesParts=/dev/null"
		-o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::Cache=$APTDIR/cache"
		-o "Dir::State::status=$APTDIR/status"
		-o "APT::Architectures=amd64"
		-o "Acquire::Languages=none"
		-o "Acquire::Check-Valid-Until=false"
		-o "Debug::NoLocking=true"
	)
}

# Candidate version of a package in the private sid lists, or nothing.
candidate() {
	apt-cache "${APT_OPTS[@]}" policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

stamp() { echo "$SID/stamp-$1"; }

have() { [ -s "$(stamp "$1")" ] && [ -x "$UNPACK/usr/bin/python$1" ]; }

# What the interpreters need at run time beyond the system's libraries
# (sid's python3.14 needs glibc >= 2.42: the unpacked loader and libc are used).
RUNTIME_PKGS=(libc6 libexpat1 zlib1g libzstd1 libffi8 libssl3t64 liblzma5 libbz2-1.0
	libgcc-s1 libuuid1 libsqlite3-0 libncursesw6 libtinfo6 libreadline8t64 libmpdec4)

unpack_debs() {
	local d
	for d in "$@"; do
		dpkg-deb -x "$d" "$UNPACK" || die "dpkg-deb -x $d failed"
	done
}

cmd_fetch() {
	local refresh=0 v missing=() got=() p cand pkgs debs
	[ "${1:-}" = --refresh ] && refresh=1
	for v in $VERSIONS; do
		if [ $refresh = 0 ] && have "$v"; then got+=("$v"); else missing+=("$v"); fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		mkdir -p "$SID"
		# One fetch at a time (tests may run it concurrently); then re-check.
		exec 9>"$SID/lock"
		flock 9
		if [ $refresh = 0 ]; then
			local still=()
			for v in "${missing[@]}"; do
				if have "$v"; then got+=("$v"); else still+=("$v"); fi
			done
			missing=("${still[@]}")
		fi
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		setup_apt
		if [ $refresh = 1 ] || [ -z "$(ls "$APTDIR/lists" 2>/dev/null | grep -v partial || true)" ]; then
			apt-get "${APT_OPTS[@]}" -qq update >"$SID/update.log" 2>&1 || true
			# apt-get update exits 0 on some fetch failures: look for the index.
			ls "$APTDIR"/lists/*_sid_main_binary-amd64_Packages* >/dev/null 2>&1 ||
				impossible "apt-get update of sid failed: $(grep -E '^(E|W):' "$SID/update.log" | head -1)"
		fi
		mkdir -p "$UNPACK"
		# The run-time libraries once (unless already unpacked and not refreshing).
		if [ $refresh = 1 ] || [ ! -s "$SID/stamp-runtime" ]; then
			pkgs=()
			for p in "${RUNTIME_PKGS[@]}"; do
				[ -n "$(candidate "$p")" ] && pkgs+=("$p")
			done
			(cd "$SID/debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" -qq download "${pkgs[@]}") \
				>"$SID/download.log" 2>&1 ||
				impossible "apt-get download of sid runtime libraries failed: $(grep -E '^(E|W):' "$SID/download.log" | head -1)"
			unpack_debs "$SID"/debs/*.deb
			rm -f "$SID"/debs/*.deb
			echo "${pkgs[*]}" >"$SID/stamp-runtime"
		fi
		for v in "${missing[@]}"; do
			cand=$(candidate "python$v-minimal")
			if [ -z "$cand" ]; then
				echo "sid-python: python$v is not in sid" >&2
				continue
			fi
			pkgs=()
			for p in "python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" "libpython$v" "libpython$v-dev"; do
				[ -n "$(candidate "$p")" ] && pkgs+=("$p")
			done
			(cd "$SID/debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" -qq download "${pkgs[@]}") \
				>"$SID/download.log" 2>&1 || {
				echo "sid-python: download of python$v failed: $(grep -E '^(E|W):' "$SID/download.log" | head -1)" >&2
				continue
			}
			debs=("$SID"/debs/*.deb)
			unpack_debs "${debs[@]}"
			rm -f "$SID"/debs/*.deb
			# The static libpython archives (tens of MB each) are of no use here.
			find "$UNPACK" -name "libpython$v*.a" -delete
			echo "$cand" >"$(stamp "$v")"
			got+=("$v")
		done
	fi
	[ ${#got[@]} -gt 0 ] || impossible "none of $VERSIONS could be fetched from sid"
	for v in $(printf '%s\n' "${got[@]}" | sort -V); do
		echo "python$v $(cat "$(stamp "$v")") headers=$(headers "$v") exe=$UNPACK/usr/bin/python$v"
	done
}

headers() { echo "$UNPACK/usr/include/python$1"; }

need() {
	[ -n "${1:-}" ] || die "missing version argument (e.g. 3.14)" 2
	have "$1" || die "python$1 from sid is not fetched; run: $0 fetch" 4
}

loader() {
	local l
	for l in "$UNPACK/usr/lib/$ARCH_TRIPLET/ld-linux-x86-64.so.2" "$UNPACK/lib/$ARCH_TRIPLET/ld-linux-x86-64.so.2" \
		"$UNPACK/usr/lib64/ld-linux-x86-64.so.2" "$UNPACK/lib64/ld-linux-x86-64.so.2"; do
		[ -e "$l" ] && { echo "$l"; return; }
	done
	die "no unpacked ld-linux-x86-64.so.2 under $UNPACK; run: $0 fetch --refresh"
}

cmd_run() {
	local v=${1:-}
	need "$v"
	shift
	local libs="$UNPACK/usr/lib/$ARCH_TRIPLET:$UNPACK/lib/$ARCH_TRIPLET:/usr/lib/$ARCH_TRIPLET:/lib/$ARCH_TRIPLET"
	PYTHONHOME="$UNPACK/usr" exec "$(loader)" --library-path "$libs" --argv0 "$UNPACK/usr/bin/python$v" \
		"$UNPACK/usr/bin/python$v" "$@"
}

# Only for bench/run.py: austin, as a user of Debian gets it.
cmd_fetch_austin() {
	[ -s "$SID/stamp-austin" ] && [ -x "$UNPACK/usr/bin/austin" ] && { echo "austin $(cat "$SID/stamp-austin")"; return; }
	mkdir -p "$SID"
	exec 9>"$SID/lock"
	flock 9
	setup_apt
	if [ -z "$(ls "$APTDIR/lists" 2>/dev/null | grep -v partial || true)" ]; then
		apt-get "${APT_OPTS[@]}" -qq update >"$SID/update.log" 2>&1 || true
	fi
	local cand
	cand=$(candidate austin)
	[ -n "$cand" ] || impossible "austin is not in sid (or apt-get update failed: $SID/update.log)"
	# sid's austin needs sid's glibc: its loader and libc come along
	(cd "$SID/debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" -qq download austin libc6) >"$SID/download.log" 2>&1 ||
		impossible "apt-get download austin failed: $(grep -E '^(E|W):' "$SID/download.log" | head -1)"
	mkdir -p "$UNPACK"
	unpack_debs "$SID"/debs/*.deb
	rm -f "$SID"/debs/*.deb
	echo "$cand" >"$SID/stamp-austin"
	echo "austin $cand"
}

cmd_austin() {
	[ -x "$UNPACK/usr/bin/austin" ] || die "austin from sid is not fetched; run: $0 fetch-austin" 4
	local libs="$UNPACK/usr/lib/$ARCH_TRIPLET:$UNPACK/lib/$ARCH_TRIPLET:/usr/lib/$ARCH_TRIPLET:/lib/$ARCH_TRIPLET"
	exec "$(loader)" --library-path "$libs" --argv0 austin "$UNPACK/usr/bin/austin" "$@"
}

case "${1:-}" in
fetch) shift; cmd_fetch "$@" ;;
fetch-austin) cmd_fetch_austin ;;
austin) shift; cmd_austin "$@" ;;
versions)
	for v in $VERSIONS; do have "$v" && echo "$v"; done
	exit 0
	;;
path) need "${2:-}"; headers "$2" ;;
exe) need "${2:-}"; echo "$UNPACK/usr/bin/python$2" ;;
run) shift; cmd_run "$@" ;;
*)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
