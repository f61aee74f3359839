# A small, CPU-busy "application" for `make demo`: parsing, templating,
# sorting and a little numeric work, in classes and plain functions.
import json
import random
import re
import threading

WORD = re.compile(r"[a-z]+")


class Inventory:
    def __init__(self, n):
        rnd = random.Random(42)
        self.items = [{"id": i, "name": "item%d" % i, "price": rnd.random() * 100,
                       "tags": ["t%d" % rnd.randrange(20) for _ in range(5)]} for i in range(n)]

    def to_json(self):
        return json.dumps(self.items)

    def reload(self, text):
        self.items = json.loads(text)

    def most_expensive(self, k):
        return sorted(self.items, key=lambda it: it["price"], reverse=True)[:k]


def render_report(items):
    lines = []
    for it in items:
        lines.append("%-10s %8.2f %s" % (it["name"], it["price"], ",".join(it["tags"])))
    return "\n".join(lines)


def count_words(text):
    counts = {}
    for w in WORD.findall(text):
        counts[w] = counts.get(w, 0) + 1
    return counts


def primes_below(n):
    sieve = bytearray([1]) * n
    out = []
    for i in range(2, n):
        if sieve[i]:
            out.append(i)
            for j in range(i * i, n, i):
                sieve[j] = 0
    return out


def request_loop():
    inv = Inventory(2000)
    while True:
        text = inv.to_json()
        inv.reload(text)
        report = render_report(inv.most_expensive(200))
        count_words(report)


def background_job():
    while True:
        primes_below(50000)


if __name__ == "__main__":
    threading.Thread(target=background_job, name="background", daemon=True).start()
    print("ready", flush=True)
    request_loop()
