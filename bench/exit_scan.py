#!/usr/bin/env python3
"""The runtime's exit scan against the machine's memory bandwidth, same run.

Builds a heap of BLOCKS linked blocks under libmemleak.so, lets it exit with
MEMLEAK_REPORT set, and reads the report's `memleak: exit scan: checked N
bytes in T us (C us on the CPU)` line: the scan's rate is N / C. The
bandwidth is what one thread reads from memory as 64-bit words
(bench/exit_scan.c bandwidth), the scan's own access pattern, also per
second of CPU time, so the ratio holds on a machine other work shares.
Prints both and their ratio; the README quotes this output.

    python3 bench/exit_scan.py --prog build/bench/exit_scan --lib build/runtime/libmemleak.so
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

SCAN_RE = re.compile(r"^memleak: exit scan: checked (\d+) bytes in (\d+) us \((\d+) us on the CPU\)", re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prog", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--blocks", type=int, default=1000000)
    ap.add_argument("--bytes", type=int, default=1024, help="bytes per block")
    ap.add_argument("--bandwidth-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    out = subprocess.run([args.prog, "bandwidth", str(args.bandwidth_mib)], capture_output=True,
                         text=True, check=True).stdout
    bandwidth = float(re.search(r"read_bytes_per_s (\d+)", out).group(1))

    best = None
    with tempfile.TemporaryDirectory(prefix="memleak-exit-scan-") as tmp:
        for i in range(args.repeat):
            report = os.path.join(tmp, "report.%d" % i)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MEMLEAK_")}
            env.update(LD_PRELOAD=args.lib, MEMLEAK_REPORT=report)
            t0 = time.monotonic()
            subprocess.run([args.prog, "heap", str(args.blocks), str(args.bytes)], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            wall = time.monotonic() - t0
            with open(report) as f:
                m = SCAN_RE.search(f.read())
            if not m:
                sys.exit("no exit scan line in the report")
            checked, us, cpu_us = int(m.group(1)), int(m.group(2)), int(m.group(3))
            rate = checked / (cpu_us / 1e6)
            if best is None or rate > best[0]:
                best = (rate, checked, us, cpu_us, wall)
    rate, checked, us, cpu_us, wall = best
    print("exit scan: %d blocks of %d bytes, best of %d runs" % (args.blocks, args.bytes, args.repeat))
    print("  checked            %.1f MiB in %.3f s on the CPU, %.3f s from threads stopped "
          "to threads going on" % (checked / 2 ** 20, cpu_us / 1e6, us / 1e6))
    print("  scan rate          %.2f GB/s (CPU time)" % (rate / 1e9))
    print("  memory bandwidth   %.2f GB/s (one thread reading %d MiB as 64-bit words, CPU time)"
          % (bandwidth / 1e9, args.bandwidth_mib))
    print("  ratio              %.2f of the bandwidth" % (rate / bandwidth))
    print("  whole run          %.2f s (building the heap under the runtime, scan, report)" % wall)


if __name__ == "__main__":
    main()
