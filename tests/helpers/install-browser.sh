#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium and the npm
# packages playwright-core and speedscope (pinned in tests/browser/package.json,
# installed in tests/browser/node_modules).
# Never fails the caller: when something cannot be installed (not root, no
# network, npm registry unreachable) it says so and the browser test skips
# with a message naming what is missing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
browser_dir="$here/../browser"

warn() { echo "install-browser: $*" >&2; }

install_debian() {
	if [ "$(id -u)" != 0 ]; then
		warn "missing $*; run as root or: sudo apt-get install $*  (the browser test will skip)"
		return 1
	fi
	warn "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	# An install can fail on a stale package list; refresh once and retry.
	apt-get install -y -qq "$@" >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq "$@" >&2; }
}

if [ ! -x /usr/bin/chromium ]; then
	install_debian chromium || warn "could not install chromium (the browser test will skip)"
fi

if ! command -v npm >/dev/null 2>&1; then
	install_debian nodejs npm || warn "could not install npm (the browser test will skip)"
fi

if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] ||
	[ ! -f "$browser_dir/node_modules/speedscope/package.json" ]; then
	if command -v npm >/dev/null 2>&1; then
		warn "installing playwright-core and speedscope in tests/browser"
		# Bounded: an unreachable registry must not hang the test run.
		(cd "$browser_dir" && timeout 180 npm install --no-audit --no-fund --loglevel=error \
			--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 >&2) ||
			warn "npm install failed (registry unreachable?); the browser test will skip"
	fi
fi
exit 0
