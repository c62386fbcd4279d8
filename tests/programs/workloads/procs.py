"""Python threads and multiprocessing (fork and spawn start methods), with
a deterministic output: worker processes hash and sort chunks of data that
threads prepared, results come back through pipes and queues."""
import hashlib
import multiprocessing
import sys
import threading


def digest_chunk(args):
    seed, n = args
    data = [(seed * 7919 + i * 104729) % 1000003 for i in range(n)]
    data.sort()
    return seed, hashlib.sha256(repr(data).encode()).hexdigest()[:16], sum(data)


def prepare(out, k):
    out[k] = [(k, 20000 + 1000 * j) for j in range(4)]


def main():
    prepared = {}
    threads = [threading.Thread(target=prepare, args=(prepared, k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = [job for k in sorted(prepared) for job in prepared[k]]
    for method in ("fork", "spawn"):
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(2) as pool:
            results = pool.map(digest_chunk, jobs)
        for seed, h, total in results:
            print(method, seed, h, total)
        queue = ctx.Queue()
        procs = [ctx.Process(target=queue_worker, args=(queue, i)) for i in range(3)]
        for p in procs:
            p.start()
        got = sorted(queue.get() for _ in procs)
        for p in procs:
            p.join()
        print(method, "queue", got, [p.exitcode for p in procs])
    return 6


def queue_worker(queue, i):
    queue.put((i, digest_chunk((i, 5000))[1]))


if __name__ == "__main__":
    sys.exit(main())
