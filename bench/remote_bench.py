#!/usr/bin/python3
"""Times `memleak top` on a process behind gdbserver against a local attach.

Runs reader_bench (200,000 live blocks from 1,000 stacks by default) under
`memleak run`, starts `gdbserver --multi` on 127.0.0.1, then times, each
in a fresh `memleak` command and in the same run: a local attach, the same
process through gdbserver (`remote --extended --pid`) with the target's
files fetched through the connection, and with them read from this
machine (`--sysroot /`), so the cost of the memory reads is apart from
the cost of the file transfers. Wall-clock seconds, median of --repeat
runs, and each as a ratio to the local attach.

  bench/remote_bench.py --prog build/bench/reader_bench [--blocks N] [--repeat N]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEMLEAK = REPO / "scripts" / "memleak"


def timed(argv):
    start = time.monotonic()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=900)
    wall = time.monotonic() - start
    if result.returncode != 0 or "memleak top:" not in result.stdout:
        sys.exit("remote_bench: failed (exit %d): %s\n%s"
                 % (result.returncode, " ".join(argv), result.stderr[-2000:]))
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prog", required=True, help="the built reader_bench program")
    ap.add_argument("--blocks", type=int, default=200000)
    ap.add_argument("--stacks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is kept")
    args = ap.parse_args()

    prog = subprocess.Popen([str(MEMLEAK), "run", "--", args.prog, str(args.blocks),
                             str(args.stacks)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    server = None
    try:
        line = prog.stdout.readline().decode().split()
        if not line or line[0] != "ready":
            sys.exit("remote_bench: the workload did not start")
        # `memleak run` runs the program as its only child.
        children = subprocess.run(["pgrep", "-P", str(prog.pid)], stdout=subprocess.PIPE,
                                  text=True).stdout.split()
        if len(children) != 1:
            sys.exit("remote_bench: cannot tell the workload's pid (%s)" % children)
        pid = int(children[0])
        server = subprocess.Popen(["gdbserver", "--multi", "127.0.0.1:0"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        match = None
        while match is None:
            text = server.stderr.readline()
            if not text:
                sys.exit("remote_bench: gdbserver did not start")
            match = re.search(r"Listening on port (\d+)", text)
        address = "127.0.0.1:" + match.group(1)
        print("workload: %s blocks from %s stacks, pid %d; gdbserver at %s"
              % (line[1], line[2], pid, address), flush=True)
        cases = [
            ("local attach", [str(MEMLEAK), "attach", str(pid), "top"]),
            ("gdbserver, files through it", [str(MEMLEAK), "remote", "--extended", "--pid",
                                             str(pid), address, "top"]),
            ("gdbserver, --sysroot /", [str(MEMLEAK), "remote", "--extended", "--pid",
                                        str(pid), "--sysroot", "/", address, "top"]),
        ]
        results = []
        for name, argv in cases:
            walls = [timed(argv) for _ in range(args.repeat)]
            results.append((name, statistics.median(walls)))
            print("  %-30s %6.2f s" % (name, results[-1][1]), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        prog.terminate()  # forwarded to the workload
        prog.wait()
    base = results[0][1]
    print("\nload average at the end: %.1f %.1f %.1f on %d CPUs"
          % (*os.getloadavg(), os.cpu_count()))
    print("%-30s %8s %9s" % ("memleak top", "wall s", "x local"))
    for name, wall in results:
        print("%-30s %8.2f %9.2f" % (name, wall, wall / base))


if __name__ == "__main__":
    main()
