#!/usr/bin/env bash
# Installs Debian's golang-go when `go` is missing: the pprof format tests
# read pyperf's output with the real `go tool pprof`.
# Never fails the caller: when Go cannot be installed (not root, no network)
# it says so and the pprof tests skip with a message naming what is missing.
set -uo pipefail

warn() { echo "install-go: $*" >&2; }

if command -v go >/dev/null 2>&1 || [ -x /usr/lib/go/bin/go ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	warn "missing golang-go; run as root or: sudo apt-get install golang-go  (the pprof tests will skip)"
	exit 0
fi
warn "installing golang-go"
export DEBIAN_FRONTEND=noninteractive
# An install can fail on a stale package list; refresh once and retry.
# Bounded: an unreachable mirror must not hang the test run.
timeout 900 apt-get install -y -qq golang-go >&2 ||
	{ timeout 300 apt-get update -qq >&2 && timeout 900 apt-get install -y -qq golang-go >&2; } ||
	warn "could not install golang-go (the pprof tests will skip)"
exit 0
