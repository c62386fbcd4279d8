"""Cost of the scanner through its Python binding, as the gdb extension pays
it: 1,000,000 blocks given as address and size lists, memory as 1 MiB
chunks of bytes (as read from a core), classified with predecessors.

Usage: python3 bench/scan_binding_bench.py [--blocks N] [--lib PATH]
(default 1000000 blocks, build/gdb/libmemleak-scan.so). Prints process CPU
time per step and the time of the scan itself inside classify().
"""

import argparse
import array
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gdb"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=1000000)
    parser.add_argument("--lib", default=os.path.join(HERE, "..", "build", "gdb", "libmemleak-scan.so"))
    args = parser.parse_args()
    os.environ["MEMLEAK_SCAN_LIB"] = os.path.abspath(args.lib)
    from memleak_gdb import scan

    rng = random.Random(7)
    base = 0x7F0000000000
    t0 = time.process_time()
    sizes = [16 * (1 + rng.randrange(4)) for _ in range(args.blocks)]
    addresses = []
    at = base + 16
    for s in sizes:
        addresses.append(at)
        at += s + 16
    # Every block holds a pointer to a random block and one to the next;
    # the rest is zeros and small numbers.
    words = array.array("Q", bytes(at - base))
    for i, (a, s) in enumerate(zip(addresses, sizes)):
        w = (a - base) // 8
        words[w] = addresses[rng.randrange(args.blocks)]
        if s >= 32 and i + 1 < args.blocks:
            words[w + 1] = addresses[i + 1]
    heap = words.tobytes()
    roots_data = array.array("Q", [addresses[0]] + [addresses[rng.randrange(args.blocks)]
                                                    for _ in range(999)]).tobytes()
    built = time.process_time() - t0

    scanner = scan.load()
    t = time.process_time()
    blocks = scan.pack_blocks(addresses, sizes)
    t_pack = time.process_time() - t
    t = time.process_time()
    chunk = 1 << 20
    segments = [scan.Segment(0x1000, roots_data)]
    segments += [scan.Segment(base + off, heap[off:off + chunk]) for off in range(0, len(heap), chunk)]
    roots = [scan.Root(0x1000, len(roots_data), scan.ROOT_DATA, 0)]
    t_segments = time.process_time() - t
    t = time.process_time()
    result = scanner.classify(blocks, segments, roots, predecessors=True)
    t_classify = time.process_time() - t
    t = time.process_time()
    kinds = {name: result.blocks[name] for name in scan.KIND_NAMES.values()}
    chain = result.chain(args.blocks // 2)
    t_read = time.process_time() - t

    print("blocks %d, heap %.0f MB (built in %.1f s), scanned %.0f MB; classes %s"
          % (args.blocks, len(heap) / 1e6, built, result.scanned_bytes / 1e6, kinds))
    print("CPU: pack_blocks %.3f s, segments %.3f s, classify %.3f s, totals and one chain "
          "(%d links) %.3f s; total %.3f s"
          % (t_pack, t_segments, t_classify, len(chain), t_read,
             t_pack + t_segments + t_classify + t_read))


if __name__ == "__main__":
    main()
