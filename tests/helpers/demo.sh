#!/usr/bin/env bash
# make demo: run the bundled workload, profile it for a few seconds by PID,
# write demo.svg (and demo.folded) in the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
	echo "demo: pyperf needs root (BPF and perf events): run 'sudo make demo'" >&2
	exit 1
fi
python=$(command -v python3.11 || command -v python3)
"$python" tests/targets/demo_app.py > /tmp/pyperf-demo.$$ 2>&1 &
app=$!
trap 'kill $app 2>/dev/null || true; rm -f /tmp/pyperf-demo.$$' EXIT
# Wait until the workload has started (it prints "ready"), at most 10 s.
for _ in $(seq 100); do
	grep -q ready /tmp/pyperf-demo.$$ && break
	kill -0 $app 2>/dev/null || { cat /tmp/pyperf-demo.$$ >&2; exit 1; }
	sleep 0.1
done
echo "demo: profiling $python tests/targets/demo_app.py (PID $app) for 5 seconds"
build/pyperf record -p "$app" -d 5 -F 199 -o demo.folded
build/pyperf flamegraph --title "pyperf demo: tests/targets/demo_app.py" -o demo.svg demo.folded
echo "demo: open demo.svg in a browser (click to zoom, Ctrl-F to search); folded stacks in demo.folded"
