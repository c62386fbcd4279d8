#!/usr/bin/env python3
"""Runs each workload natively and under each leak tool, N times, in the
same run and interleaved, and prints a Markdown table of the median
wall-time and peak-RSS ratios against the native run of the same round.

Tools: memleak (LD_PRELOAD libmemleak.so, MEMLEAK_DEPTH=32, recording
only), memleak+report (the same plus MEMLEAK_REPORT, the exit report),
heaptrack as a user runs it (`heaptrack -o FILE PROG`: the recording run,
with heaptrack's interpreter alongside; its analysis step is not timed),
heaptrack -r (raw recording only, interpretation deferred and not timed),
valgrind memcheck --leak-check=full, and LeakSanitizer with full unwinding
on a clang build of churn (its ratios are against that clang build without
the sanitizer).

Plain heaptrack runs under a 4 GiB address-space limit. heaptrack 1.4's
interpreter can grow without bound, to std::bad_alloc, on a program that
makes tens of thousands of distinct (size, stack) pairs, because its hash
of that pair clusters them; the limit makes such a run fail quickly, and be
reported as failed, instead of exhausting the machine's memory.

Peak RSS is ru_maxrss from wait4 (for a tool that runs the program as a
child, the largest process). Every run has a time limit (--timeout); one
that exceeds it is killed and reported.

With --baseline DIR (the build directory of another version, e.g. of the
commit before a change), every memleak tool also runs with that build's
libmemleak.so in the same rounds, on the same workload binaries: a change's
cost as two ratios against the same native runs.

    bench/compare.py [--build DIR] [--reps N] [--rows N] [--ops N]
                     [--tools LIST] [--workloads LIST] [--baseline DIR] [--output FILE]
"""
import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import signal
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = ["memleak", "memleak+report", "heaptrack", "heaptrack-raw", "valgrind", "lsan"]
HEAPTRACK_AS_LIMIT_KIB = 4 * 1024 * 1024
WORKLOADS = ["churn-1t", "churn-2t", "sqlite3"]
TITLES = {
    "memleak": "memleak (depth 32)",
    "memleak+report": "memleak + exit report",
    "heaptrack": "heaptrack",
    "heaptrack-raw": "heaptrack -r",
    "valgrind": "valgrind memcheck",
    "lsan": "LSan (full unwind)",
}


class Run:
    """One execution: wall seconds, peak RSS in KiB, exit status, stdout."""

    def __init__(self, wall, rss_kib, status, stdout):
        self.wall = wall
        self.rss_kib = rss_kib
        self.status = status
        self.stdout = stdout


def execute(argv, env, stdin_path, scratch, timeout):
    out_path = os.path.join(scratch, "stdout")
    err_path = os.path.join(scratch, "stderr")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, stdin_path or os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True,
                          setsigdef=[signal.SIGPIPE])
    timed_out = []

    def kill_group():
        timed_out.append(True)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill_group)
    timer.start()
    _, wstatus, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    timer.cancel()
    if timed_out:
        print("compare: %s killed after %d s" % (shlex.join(argv), timeout), file=sys.stderr)
    with open(out_path, "rb") as f:
        stdout = f.read()
    status = os.waitstatus_to_exitcode(wstatus)
    if status != 0:
        with open(err_path, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        print("compare: %s exited with %d:\n%s" % (shlex.join(argv), status, tail), file=sys.stderr)
    return Run(wall, usage.ru_maxrss, status, stdout)


class Workload:
    def __init__(self, name, argv, stdin_path=None, before=None, lsan_argv=None, clang_argv=None):
        self.name = name
        self.argv = argv
        self.stdin_path = stdin_path
        self.before = before
        self.lsan_argv = lsan_argv
        self.clang_argv = clang_argv


BASELINE = "@baseline"


def title(tool):
    if tool.endswith(BASELINE):
        return TITLES[tool[:-len(BASELINE)]] + ", baseline build"
    return TITLES[tool]


def tool_command(tool, workload, lib, scratch, baseline_lib=None):
    """The (argv, extra environment) of a workload under a tool, or None
    when the tool does not apply to it. A memleak tool named with
    @baseline runs with the baseline build's library."""
    if tool.endswith(BASELINE):
        tool, lib = tool[:-len(BASELINE)], baseline_lib
    argv = workload.argv
    if tool == "native":
        return argv, {}
    if tool == "memleak":
        return argv, {"LD_PRELOAD": lib, "MEMLEAK_DEPTH": "32"}
    if tool == "memleak+report":
        return argv, {"LD_PRELOAD": lib, "MEMLEAK_DEPTH": "32",
                      "MEMLEAK_REPORT": os.path.join(scratch, "memleak-report.%p")}
    if tool == "heaptrack":
        limited = ["bash", "-c", 'ulimit -v %d && exec "$@"' % HEAPTRACK_AS_LIMIT_KIB, "heaptrack"]
        return limited + ["heaptrack", "-o", os.path.join(scratch, "heaptrack")] + argv, {}
    if tool == "heaptrack-raw":
        return ["heaptrack", "-r", "-o", os.path.join(scratch, "heaptrack")] + argv, {}
    if tool == "valgrind":
        return ["valgrind", "--leak-check=full"] + argv, {}
    if tool == "lsan":
        if not workload.lsan_argv:
            return None
        return workload.lsan_argv, {"LSAN_OPTIONS": "fast_unwind_on_malloc=0"}
    if tool == "clang-native":
        return workload.clang_argv, {}
    raise ValueError(tool)


def clean_scratch(scratch):
    for name in os.listdir(scratch):
        if name.startswith(("heaptrack", "memleak-report")):
            os.unlink(os.path.join(scratch, name))


def build(build_dir, want_lsan):
    if not os.path.isfile(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       check=True, stdout=subprocess.DEVNULL)
    targets = ["memleak", "churn"] + (["churn_lsan_pair"] if want_lsan else [])
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target"] + targets, check=True,
                   stdout=subprocess.DEVNULL)


def fmt_ratio(values):
    return "%.2f×" % statistics.median(values) if values else "n/a"


def tool_version(tool):
    commands = {"heaptrack": ["heaptrack", "--version"], "valgrind": ["valgrind", "--version"],
                "lsan": ["clang++", "--version"], "sqlite3": ["sqlite3", "--version"]}
    try:
        out = subprocess.run(commands[tool], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError):
        return "not found"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    parser.add_argument("--reps", type=int, default=5, help="repetitions, median taken (default 5)")
    parser.add_argument("--rows", type=int, default=80000, help="sqlite3 workload rows (default 80000)")
    parser.add_argument("--ops", type=int, default=1000000, help="churn operations (default 1000000)")
    parser.add_argument("--live", type=int, default=100000, help="churn working set (default 100000)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per run (default 900)")
    parser.add_argument("--no-build", action="store_true", help="use the build directory as it is")
    parser.add_argument("--baseline", help="build directory of another version: its libmemleak.so runs "
                        "as a further tool in the same rounds")
    parser.add_argument("--output", help="also write the Markdown to this file")
    args = parser.parse_args()

    tools = [t for t in args.tools.split(",") if t]
    workload_names = [w for w in args.workloads.split(",") if w]
    for t in tools:
        if t not in TOOLS:
            parser.error("unknown tool %r" % t)
    for w in workload_names:
        if w not in WORKLOADS:
            parser.error("unknown workload %r" % w)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    for t, exe in (("heaptrack", "heaptrack"), ("valgrind", "valgrind")):
        if t in tools and not shutil.which(exe):
            parser.error("%s is not installed (scripts/install-deps installs it)" % exe)

    build_dir = os.path.abspath(args.build)
    want_lsan = "lsan" in tools and any(w.startswith("churn") for w in workload_names)
    if not args.no_build:
        build(build_dir, want_lsan)
    lib = os.path.join(build_dir, "runtime", "libmemleak.so")
    churn = os.path.join(build_dir, "bench", "churn")
    baseline_lib = None
    if args.baseline:
        baseline_lib = os.path.join(os.path.abspath(args.baseline), "runtime", "libmemleak.so")
        tools += [t + BASELINE for t in tools if t.startswith("memleak")]
    for path in [lib, churn] + ([baseline_lib] if baseline_lib else []):
        if not os.path.isfile(path):
            sys.exit("compare: %s is missing; build first" % path)

    scratch = tempfile.mkdtemp(prefix="memleak-bench-")
    try:
        sql = os.path.join(scratch, "workload.sql")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_sql.py"), "--rows", str(args.rows),
                        "--output", sql], check=True)
        db = os.path.join(scratch, "workload.db")

        def fresh_db():
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.unlink(db + suffix)

        churn_args = ["--ops", str(args.ops), "--live", str(args.live)]
        lsan_bin = os.path.join(build_dir, "bench", "churn_lsan")
        clang_bin = os.path.join(build_dir, "bench", "churn_clang")
        have_lsan = want_lsan and os.path.isfile(lsan_bin) and os.path.isfile(clang_bin)
        workloads = []
        for threads, name in ((1, "churn-1t"), (2, "churn-2t")):
            extra = ["--threads", str(threads)] + churn_args
            workloads.append(Workload(name, [churn] + extra,
                                      lsan_argv=[lsan_bin] + extra if have_lsan else None,
                                      clang_argv=[clang_bin] + extra if have_lsan else None))
        workloads.append(Workload("sqlite3", ["sqlite3", db], stdin_path=sql, before=fresh_db))
        workloads = [w for w in workloads if w.name in workload_names]

        base_env = {k: v for k, v in os.environ.items()
                    if k != "LD_PRELOAD" and not k.startswith(("MEMLEAK_", "LSAN_", "HEAPTRACK"))}
        base_env["LC_ALL"] = "C"

        # results[workload][tool]: (wall ratio, rss ratio) of each successful
        # run; failed[workload][tool]: exit statuses of the others.
        results = {w.name: {t: [] for t in tools} for w in workloads}
        failed = {w.name: {t: [] for t in tools} for w in workloads}
        native = {w.name: [] for w in workloads}
        mismatches = []
        failures = []
        for rep in range(args.reps):
            for w in workloads:
                order = ["native"] + tools + (["clang-native"] if w.clang_argv and "lsan" in tools else [])
                runs = {}
                for tool in order:
                    cmd = tool_command(tool, w, lib, scratch, baseline_lib)
                    if cmd is None:
                        continue
                    argv, extra = cmd
                    if w.before:
                        w.before()
                    clean_scratch(scratch)
                    run = execute(argv, dict(base_env, **extra), w.stdin_path, scratch, args.timeout)
                    runs[tool] = run
                    print("rep %d %-9s %-15s %7.2f s %8d KiB" % (rep + 1, w.name, tool, run.wall, run.rss_kib),
                          file=sys.stderr)
                if runs["native"].status != 0 or runs.get("clang-native", runs["native"]).status != 0:
                    sys.exit("compare: the native run of %s failed" % w.name)
                native[w.name].append(runs["native"])
                for tool in tools:
                    if tool not in runs:
                        continue
                    base = runs["clang-native"] if tool == "lsan" else runs["native"]
                    run = runs[tool]
                    if run.status != 0:
                        failed[w.name][tool].append(run.status)
                        failures.append("%s under %s: exit status %d (rep %d)" % (w.name, tool, run.status, rep + 1))
                        continue
                    same = run.stdout == base.stdout if not tool.startswith("heaptrack") else base.stdout in run.stdout
                    if not same:
                        mismatches.append("%s under %s (rep %d)" % (w.name, tool, rep + 1))
                    results[w.name][tool].append((run.wall / base.wall, run.rss_kib / base.rss_kib))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    command = "bench/compare.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = []
    lines.append("Median of %d runs; each cell is wall-time ratio / peak-RSS ratio against the native run "
                 "of the same round (LSan: against the same clang build without the sanitizer)." % args.reps)
    lines.append("")
    header = ["workload", "native wall", "native peak RSS"] + [title(t) for t in tools]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for w in workloads:
        nat = native[w.name]
        cells = [w.name, "%.2f s" % statistics.median(r.wall for r in nat),
                 "%.0f MiB" % (statistics.median(r.rss_kib for r in nat) / 1024)]
        for t in tools:
            pairs = results[w.name][t]
            bad = failed[w.name][t]
            cell = "n/a"
            if pairs:
                cell = "%s / %s" % (fmt_ratio([p[0] for p in pairs]), fmt_ratio([p[1] for p in pairs]))
            if bad:
                cell = ("%s, " % cell if pairs else "") + "%d of %d runs failed (exit %s)" % (
                    len(bad), len(bad) + len(pairs), ",".join(str(b) for b in sorted(set(bad))))
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    peers = [t for t in ("heaptrack", "heaptrack-raw") if t in tools]
    if "memleak" in tools and peers:
        lines.append("Targets: memleak's slowdown (time ratio - 1) at most half of heaptrack's; "
                     "memleak's peak RSS at most 1.5× native.")
        lines.append("")
        for w in workloads:
            if not results[w.name]["memleak"]:
                lines.append("- %s: memleak failed" % w.name)
                continue
            mt = statistics.median(p[0] for p in results[w.name]["memleak"])
            mr = statistics.median(p[1] for p in results[w.name]["memleak"])
            verdicts = []
            for peer in peers:
                if not results[w.name][peer]:
                    verdicts.append("%s failed" % TITLES[peer])
                    continue
                ht = statistics.median(p[0] for p in results[w.name][peer])
                verdicts.append("vs %s +%.0f%%: %s" % (TITLES[peer], (ht - 1) * 100,
                                                       "met" if (mt - 1) <= (ht - 1) / 2 else "NOT met"))
            lines.append("- %s: slowdown +%.0f%% (%s); peak RSS %.2f×: %s" % (
                w.name, (mt - 1) * 100, "; ".join(verdicts), mr, "met" if mr <= 1.5 else "NOT met"))
        lines.append("")

    lines.append("Command: `%s` (%s, %d cores, Python %s)" % (
        command.strip(), platform.platform(), os.cpu_count(), platform.python_version()))
    lines.append("")
    lines.append("Workloads:")
    for w in workloads:
        shown = [os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in w.argv]
        if w.name == "sqlite3":
            shown = ["sqlite3", "workload.db"]
        stdin = " < (gen_sql.py --rows %d)" % args.rows if w.stdin_path else ""
        lines.append("- %s: `%s%s`" % (w.name, shlex.join(shown), stdin))
    lines.append("")
    versions = ["%s: %s" % (t, tool_version(t)) for t in ("heaptrack", "valgrind", "lsan", "sqlite3")
                if t in tools or (t == "sqlite3" and "sqlite3" in workload_names)]
    if versions:
        lines.append("Versions: " + "; ".join(versions))
    if mismatches:
        lines.append("")
        lines.append("OUTPUT DIFFERS FROM NATIVE: " + ", ".join(mismatches))
    if failures:
        lines.append("")
        lines.append("Failed runs: " + "; ".join(failures))

    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    ours_failed = any(f.split(" under ")[1].startswith("memleak") for f in failures)
    return 1 if mismatches or ours_failed else 0


if __name__ == "__main__":
    sys.exit(main())
