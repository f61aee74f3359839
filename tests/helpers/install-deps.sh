#!/usr/bin/env bash
# Installs the Debian packages pyperf needs to build and test, when missing.
set -euo pipefail
pkgs=(clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config make gcc python3 python3.11 python3.11-dev tmux util-linux)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "${missing[@]}" >&2
fi
"$(dirname "${BASH_SOURCE[0]}")/install-browser.sh" # chromium + playwright-core for the flame graph browser test; never fails
"$(dirname "${BASH_SOURCE[0]}")/install-go.sh" # golang-go for the pprof format tests (go tool pprof); never fails
