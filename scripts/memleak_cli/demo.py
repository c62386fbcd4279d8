"""`memleak demo`: the guided tour on the bundled leaky service."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import commands, launch
from .errors import Failure
from .layout import gdb_path
from .output import heading, show_command


def ensure_built(layout):
    service = layout.demo_service()
    runtime = layout.runtime(required=False)
    if runtime and os.path.isfile(service):
        return runtime, service
    if layout.installed:
        raise Failure("the demo service is not installed (%s)" % service)
    cmake = shutil.which("cmake")
    if not cmake:
        raise Failure("cmake not found; install it to build the runtime and the demo service")
    heading(0, "Building the runtime and the demo service into %s" % layout.build)
    steps = []
    if not os.path.isfile(os.path.join(layout.build, "CMakeCache.txt")):
        steps.append([cmake, "-S", layout.source, "-B", layout.build,
                      "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    steps.append([cmake, "--build", layout.build, "-j2",
                  "--target", "memleak", "memleak-demo-service"])
    for step in steps:
        show_command(step)
        result = subprocess.run(step, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = result.stdout.decode("utf-8", "replace").splitlines()[-40:]
            sys.stdout.write("\n".join(tail) + "\n")
            raise Failure("the build failed (command and its last lines above)")
    return layout.runtime(), service


def tour(opts, layout):
    gdb_path()
    runtime, service = ensure_built(layout)
    me = "memleak"
    workdir = tempfile.mkdtemp(prefix="memleak-demo-")
    log_path = os.path.join(workdir, "service.log")
    pause = opts.seconds

    heading(1, "Start a leaky service with the runtime preloaded")
    print("The service answers fake requests; it caches every session forever, interns a\n"
          "header that is unique per request, and forgets to return a buffer to its pool\n"
          "on the error path. `memleak run` preloads libmemleak.so, which records every\n"
          "live block with its allocation stack.")
    show_command([me, "run", "--", service])
    with open(log_path, "wb") as log:
        child = subprocess.Popen([service], env=launch.preload_env(runtime),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    status = 1
    try:
        deadline = time.time() + 10
        while time.time() < deadline and child.poll() is None:
            with open(log_path, "rb") as log:
                if b"pid" in log.read():
                    break
            time.sleep(0.05)
        if child.poll() is not None:
            raise Failure("the demo service exited early; its output:\n%s"
                          % open(log_path, errors="replace").read())
        pid = child.pid
        print("service running as pid %d; letting it serve requests for %g s..." % (pid, pause))
        time.sleep(pause)

        heading(2, "What holds memory right now: memleak top")
        print("Live blocks grouped by allocation stack, largest first; gdb reads the table\n"
              "from the process's memory, the process only pauses for the read.")
        read_live(layout, me, pid, ["top", "5"])

        heading(3, "Set a mark, let it run, and see what grew since")
        print("top lists everything live, one-time tables included; `since` keeps only blocks\n"
              "allocated after a point (a mark, a sequence number, or a duration like 5m):\n"
              "what is still growing.")
        read_live(layout, me, pid, ["mark", "demo"])
        print("letting it run %g s more..." % pause)
        time.sleep(pause)
        read_live(layout, me, pid, ["since", "demo", "5"])

        heading(4, "Take a core file and read the same from it")
        core = os.path.join(workdir, "core.%d" % pid)
        print("A core holds the runtime's table too, so the same commands work on it later,\n"
              "on another machine, after the process is gone.")
        show_command(["gcore", "-o", os.path.join(workdir, "core"), str(pid)])
        take_core(pid, core)
        print("wrote %s (%.1f MiB)" % (core, os.path.getsize(core) / 1048576.0))
        read_core(layout, me, service, core, ["top", "5"])
        read_core(layout, me, service, core, ["since", "demo", "5"])

        heading(5, "A flame graph of live memory")
        flame = os.path.join(workdir, "flame.svg")
        print("All live memory as a tree of stacks, callers below callees, widths proportional\n"
              "to bytes; in a browser, hover for details and click a frame to zoom.")
        show_command([me, "core", service, core, "top", "1", "--svg", flame])
        status = commands.cmd_core(argparse.Namespace(program=service, core=core, force=False,
                                                      command=["top", "1", "--svg", flame]),
                                   layout)
        if status != 0 or not os.path.isfile(flame):
            raise Failure("the flame graph was not written")
        print("wrote %s: open it in a browser" % flame)

        heading(6, "Stop the service")
        child.send_signal(signal.SIGTERM)
        status = child.wait(timeout=30)
        with open(log_path, errors="replace") as log:
            last = [line for line in log.read().splitlines() if line.strip()]
        print("exit status %d%s" % (status, (": " + last[-1]) if last else ""))
        print("\nNext: `memleak run -- ./your-program`, then `memleak attach PID`, "
              "`memleak attach PID since 5m`,\n`memleak attach PID top --svg flame.svg` "
              "or `memleak core ./your-program core` (see `memleak --help`).")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if opts.keep:
            print("kept the core, the flame graph and the service's log in %s" % workdir)
        else:
            print("(removed the core file; `memleak demo --keep` keeps it)")
            for name in os.listdir(workdir):
                if name != "flame.svg":
                    os.unlink(os.path.join(workdir, name))
            if not os.listdir(workdir):
                os.rmdir(workdir)
    return 0 if status == 0 else 1


def read_live(layout, me, pid, words):
    show_command([me, "attach", str(pid)] + words)
    status = commands.cmd_attach(argparse.Namespace(pid=str(pid), command=words), layout)
    if status != 0:
        raise Failure("`memleak attach %d %s` failed (status %d)" % (pid, " ".join(words), status))


def read_core(layout, me, prog, core, words):
    show_command([me, "core", prog, core] + words)
    status = commands.cmd_core(argparse.Namespace(program=prog, core=core, force=False,
                                                  command=words), layout)
    if status != 0:
        raise Failure("`memleak core ... %s` failed (status %d)" % (" ".join(words), status))


def take_core(pid, core):
    gcore = shutil.which("gcore")
    if gcore:
        argv = [gcore, "-o", core[:core.rfind(".")], str(pid)]
    else:
        argv = [gdb_path(), "-nx", "-batch", "-p", str(pid), "-ex", "gcore " + core]
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    if result.returncode != 0 or not os.path.isfile(core):
        tail = result.stdout.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise Failure("gcore failed%s" % (": " + tail[0] if tail else ""))
