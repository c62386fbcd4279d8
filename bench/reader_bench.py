#!/usr/bin/python3
"""Times the gdb reader on a large table, live and on a core.

Runs reader_bench (1,000,000 live blocks from 1,000 stacks by default)
with libmemleak.so preloaded, takes a core with gcore, then measures, each
in a fresh batch gdb: merely opening the core (or attaching), `memleak top`
and `memleak dump --json --output F`. Times are wall-clock seconds; each
command is also given as a ratio to opening the same target in the same
run, so the figures compare across machines. Memory is gdb's peak
resident set (from wait4 of that gdb alone).

  bench/reader_bench.py --prog build/bench/reader_bench \\
      --lib build/runtime/libmemleak.so [--blocks N] [--stacks N] [--repeat N]
"""

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"top": 3.0, "dump": 10.0, "leaks": 5.0}
LIVE_TARGETS = {"leaks": 10.0}
MEMORY_TARGET_MIB = {"top": 1024, "dump": 1024, "leaks": 1536}


def run_measured(argv, timeout):
    """Wall seconds, peak RSS in MiB of that process alone, and its output."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    chunks = []
    deadline = start + timeout
    fd = proc.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            os.wait4(proc.pid, 0)
            sys.exit(f"reader_bench: timed out after {timeout} s: {' '.join(argv)}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    output = b"".join(chunks).decode(errors="replace")
    if proc.returncode != 0 or "Traceback" in output or "\nmemleak:" in "\n" + output:
        sys.exit(f"reader_bench: failed (exit {proc.returncode}): {' '.join(argv)}\n"
                 f"{output[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, output


def gdb_argv(gdb, target, extension, command=None):
    argv = [gdb, "-nx", "-batch", *target]
    if extension:
        argv += ["-x", str(extension)]
    if command:
        argv += ["-ex", command]
    return argv


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prog", required=True, help="the built reader_bench program")
    ap.add_argument("--lib", required=True, help="libmemleak.so")
    ap.add_argument("--gdb-script", default=str(REPO / "gdb" / "memleak.py"))
    ap.add_argument("--gdb", default=shutil.which("gdb") or "gdb")
    ap.add_argument("--blocks", type=int, default=1000000)
    ap.add_argument("--stacks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per figure; the median is kept")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per gdb run")
    ap.add_argument("--workdir", help="where the core and dump go (default: a temporary dir)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="memleak-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LD_PRELOAD=str(Path(args.lib).resolve()))
    t0 = time.monotonic()
    prog = subprocess.Popen([args.prog, str(args.blocks), str(args.stacks)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        line = prog.stdout.readline().decode().split()
        if not line or line[0] != "ready":
            sys.exit(f"reader_bench: the workload did not start (exit {prog.poll()})")
        workload_s = time.monotonic() - t0
        print(f"workload: {line[1]} blocks from {line[2]} stacks, {int(line[3]) / 2**20:.1f} MiB "
              f"requested; built in {workload_s:.1f} s under the runtime", flush=True)

        core = workdir / "reader_bench.core"
        gcore_s, _, _ = run_measured(
            gdb_argv(args.gdb, ["-p", str(prog.pid)], None, f"gcore {core}"), args.timeout)
        print(f"gcore: {gcore_s:.1f} s, {core.stat().st_size / 2**20:.0f} MiB", flush=True)

        stats_file = workdir / "stats.json"
        run_measured(gdb_argv(args.gdb, [args.prog, str(core)], args.gdb_script,
                              f"memleak stats --json --output {stats_file}"), args.timeout)
        stats = json.loads(stats_file.read_text())
        print(f"table in the core: {stats.get('live_blocks', '?')} live blocks, "
              f"{stats.get('distinct_stacks', '?')} distinct stacks", flush=True)

        dump_file = workdir / "dump.json"
        targets = {"core": [args.prog, str(core)], "live": ["-p", str(prog.pid)]}
        cases = [("open", None, None),
                 ("top", args.gdb_script, "memleak top"),
                 ("leaks", args.gdb_script, "memleak leaks"),
                 ("dump", args.gdb_script, f"memleak dump --json --output {dump_file}")]
        results = {}
        for kind, target in targets.items():
            for name, ext, command in cases:
                walls, rsss = [], []
                for _ in range(args.repeat):
                    wall, rss, _ = run_measured(gdb_argv(args.gdb, target, ext, command),
                                                args.timeout)
                    walls.append(wall)
                    rsss.append(rss)
                results[(kind, name)] = (statistics.median(walls), max(rsss))
                print(f"  {kind:4} {name:4} {results[(kind, name)][0]:7.2f} s "
                      f"{results[(kind, name)][1]:7.0f} MiB", flush=True)
                if name == "dump":
                    results[(kind, "dump_mib")] = dump_file.stat().st_size / 2**20
    finally:
        prog.kill()
        prog.wait()

    print()
    print("load average at the end: %.1f %.1f %.1f on %d CPUs"
          % (*os.getloadavg(), os.cpu_count()))
    print(f"{'target':6} {'command':5} {'wall s':>8} {'x open':>7} {'gdb MiB':>8}  goal")
    rows = []
    for kind in targets:
        base = results[(kind, "open")][0]
        for name, _, _ in cases:
            wall, rss = results[(kind, name)]
            goal = ""
            limit = (LIVE_TARGETS if kind == "live" else {}).get(name, TARGETS.get(name))
            if limit is not None:
                ok = wall < limit and rss < MEMORY_TARGET_MIB[name]
                goal = (f"< {limit:.0f} s, < {MEMORY_TARGET_MIB[name]} MiB: "
                        f"{'met' if ok else 'MISSED'}")
            print(f"{kind:6} {name:5} {wall:8.2f} {wall / base:7.1f} {rss:8.0f}  {goal}")
            rows.append({"target": kind, "command": name, "wall_s": round(wall, 3),
                         "ratio_to_open": round(wall / base, 2), "gdb_peak_mib": round(rss, 1)})
        print(f"{kind:6} dump JSON: {results[(kind, 'dump_mib')]:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"blocks": args.blocks, "stacks": args.stacks,
                                               "workload_s": round(workload_s, 2),
                                               "gcore_s": round(gcore_s, 2), "runs": rows},
                                              indent=2) + "\n")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
