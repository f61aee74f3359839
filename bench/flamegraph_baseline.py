#!/usr/bin/env python3
"""A deliberately simple flame graph writer, the baseline for
bench/flamegraph_bench.py: the straightforward way to do pyperf
flamegraph's job (read folded stacks, merge them in a trie of dicts, write
one SVG rect per frame at least --minwidth wide), without the SVG's script.

usage: flamegraph_baseline.py [--minwidth PX] < in.folded > out.svg
"""
import argparse
import html
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minwidth", type=float, default=0.1)
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args()

    root = [0, {}]  # [samples, {name: child}]
    for line in sys.stdin.buffer:
        stack, _, count = line.rstrip(b"\r\n").rpartition(b" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        root[0] += n
        node = root
        for name in stack.split(b";"):
            child = node[1].get(name)
            if child is None:
                child = node[1][name] = [0, {}]
            child[0] += n
            node = child

    total = root[0] or 1
    scale = (args.width - 20) / total
    out = []
    depth_max = 0
    todo = [(b"all", root, 0, 0)]
    while todo:
        name, node, x, depth = todo.pop()
        depth_max = max(depth_max, depth)
        label = html.escape(name.decode("utf-8", "replace"))
        out.append('<g><title>%s (%d samples, %.2f%%)</title><rect x="%.1f" y="%d" width="%.1f" '
                   'height="15"/></g>\n' % (label, node[0], 100.0 * node[0] / total, 10 + x * scale,
                                             depth, node[0] * scale))
        for child_name in sorted(node[1], reverse=True):
            child = node[1][child_name]
            if child[0] * scale >= args.minwidth:
                todo.append((child_name, child, x, depth + 1))
        # children are pushed right to left: recompute x offsets left to right
        offset = x
        for i in range(len(todo) - 1, -1, -1):
            n2, c2, _, d2 = todo[i]
            if d2 != depth + 1:
                break
            todo[i] = (n2, c2, offset, d2)
            offset += c2[0]
    height = (depth_max + 3) * 16
    w = sys.stdout.write
    w('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">\n'
      % (args.width, height))
    w("".join(out))
    w("</svg>\n")


if __name__ == "__main__":
    main()
