"""A dict- and list-heavy Python workload with a deterministic output.

Builds large dicts and lists, sorts, groups, round-trips through json, and
runs the same work in threads, printing checksums of every stage so that
any corrupted or lost object shows up as a different line.
"""
import hashlib
import json
import sys
import threading


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield state >> 33


def digest(obj):
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_records(n, seed):
    rnd = lcg(seed)
    records = []
    for i in range(n):
        r = next(rnd)
        records.append({
            "id": i,
            "name": "user%06d" % (r % 1000003),
            "group": "g%02d" % (r % 37),
            "score": (r % 100000) / 7.0,
            "tags": ["t%d" % ((r >> k) % 50) for k in range(r % 6)],
        })
    return records


def group_stats(records):
    groups = {}
    for rec in records:
        g = groups.setdefault(rec["group"], {"count": 0, "total": 0.0, "tags": {}})
        g["count"] += 1
        g["total"] += rec["score"]
        for t in rec["tags"]:
            g["tags"][t] = g["tags"].get(t, 0) + 1
    return {k: [v["count"], round(v["total"], 3), sorted(v["tags"].items())]
            for k, v in groups.items()}


def churn(n, seed):
    """Random replacement in a working set of lists and strings."""
    rnd = lcg(seed)
    slots = [None] * 5000
    acc = 0
    for _ in range(n):
        r = next(rnd)
        i = r % len(slots)
        old = slots[i]
        if old is not None:
            acc = (acc + len(old) + sum(len(s) for s in old[:3])) % 1000000007
        slots[i] = ["x" * (r % 300)] * (1 + r % 20) + [str(r)] * (r % 5)
    return acc


def main():
    records = build_records(50000, 1)
    print("records", len(records), digest(records[:1000]))

    by_score = sorted(records, key=lambda rec: (rec["score"], rec["id"]))
    print("sorted", by_score[0]["id"], by_score[-1]["id"], digest([r["id"] for r in by_score]))

    stats = group_stats(records)
    print("groups", len(stats), digest(stats))

    text = json.dumps(records)
    back = json.loads(text)
    print("json", len(text), back == records)

    index = {rec["name"]: rec for rec in records}
    words = sorted(index)
    print("index", len(index), words[0], words[-1])

    results = [None] * 4

    def worker(k):
        results[k] = churn(30000, 100 + k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("threads", results)

    print("to stderr", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
