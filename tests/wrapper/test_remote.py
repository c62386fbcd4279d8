"""`memleak remote`: every memleak command on a process behind a real
gdbserver on 127.0.0.1, in `target remote` and `target extended-remote`
mode, compared with a local attach of the same process."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import unittest

from harness import SERVICE_SOURCE, Service, WrapperTest, built, run, source_line, tempdir

HERE = os.path.dirname(os.path.abspath(__file__))


def proc_field(pid, name):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


class Gdbserver:
    """gdbserver on 127.0.0.1 at a port the kernel picks (`:0`)."""

    def __init__(self, *args):
        self.args = args
        self.proc = None
        self.address = None

    def __enter__(self):
        self.proc = subprocess.Popen(["gdbserver"] + list(self.args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = b""
        # os.read, not readline: a buffered reader would hide lines from select.
        while True:
            ready, _, _ = select.select([self.proc.stderr], [], [], 30)
            data = os.read(self.proc.stderr.fileno(), 4096) if ready else b""
            if not data:
                self.proc.kill()
                raise AssertionError("gdbserver did not start listening: %r" % seen)
            seen += data
            match = re.search(rb"Listening on port (\d+)\n", seen)
            if match:
                self.address = "127.0.0.1:%s" % match.group(1).decode()
                return self

    def running(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


class Held:
    """wrapper_hold under `memleak run`: COUNT live blocks, then nothing
    allocated until stdin closes, so two reads see the same table."""

    def __init__(self, count, program=None):
        self.count = count
        self.program = program

    def __enter__(self):
        hold = self.program or built("MEMLEAK_TEST_HOLD")
        self.wrapper = subprocess.Popen([os.path.join(HERE, "..", "..", "scripts", "memleak"),
                                         "run", "--", hold, str(self.count)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.wrapper.stdout.readline()
        match = re.search(r"ready pid (\d+)", line)
        if not match:
            self.wrapper.kill()
            raise AssertionError("hold did not start: %r %r" % (line, self.wrapper.stderr.read()))
        self.pid = int(match.group(1))
        return self

    def __exit__(self, *exc):
        self.wrapper.stdin.close()
        self.wrapper.wait(timeout=60)
        self.wrapper.stdout.close()
        self.wrapper.stderr.close()


def needs_gdbserver():
    if not shutil.which("gdbserver"):
        raise unittest.SkipTest("gdbserver is not installed (Debian: apt-get install gdbserver)")


class RemoteCommands(WrapperTest):
    @classmethod
    def setUpClass(cls):
        needs_gdbserver()

    def json_of(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return json.loads(result.stdout)

    def test_attach_mode_reads_the_same_as_a_local_attach(self):
        # 150000 blocks: more than one 2048-record chunk in every shard, so
        # the reader's chunked reads go through the remote protocol.
        with Held(150000) as held:
            local = self.json_of(run(["attach", str(held.pid), "dump", "--json"], timeout=300))
            with Gdbserver("--attach", "127.0.0.1:0", str(held.pid)) as server:
                remote = self.json_of(run(["remote", server.address, "dump", "--json"],
                                          timeout=300))
                self.assertEqual(server.wait_exit(), 0)  # detached: gdbserver --attach ends
            self.assertEqual(remote["pid"], held.pid)
            self.assertGreaterEqual(len(remote["allocations"]), 150000)
            self.assertEqual(remote, local)
            self.assertEqual(proc_field(held.pid, "TracerPid"), "0")
            self.assertNotIn(proc_field(held.pid, "State")[0], "tT")

    def test_every_command_in_extended_mode(self):
        hold_source = os.path.join(HERE, "hold.c")
        with Held(3000) as held, Gdbserver("--multi", "127.0.0.1:0") as server:
            def remote(*words, **kw):
                return run(["remote", "--extended", "--pid", str(held.pid), server.address]
                           + list(words), **kw)

            top = self.json_of(remote("top", "--json"))
            page = [g for g in top["groups"]
                    if any(f.get("function") == "page_block" for f in g["stack"])]
            self.assertEqual(len(page), 1, top)
            self.assertEqual((page[0]["count"], page[0]["bytes"]), (30, 30 * 4096))
            frame = [f for f in page[0]["stack"] if f.get("function") == "page_block"][0]
            self.assertEqual((os.path.basename(frame["file"]), frame["line"]),
                             ("hold.c", source_line(hold_source, "HOLD_PAGE")))
            self.assertEqual(frame["object"], os.path.realpath(built("MEMLEAK_TEST_HOLD")))

            stats = self.json_of(remote("stats", "--json"))
            self.assertEqual(stats["live_blocks"], sum(g["count"] for g in top["groups"]))

            mark = self.json_of(remote("mark", "held", "--json"))
            self.assertEqual(mark["name"], "held")
            since = self.json_of(remote("since", "held", "--json"))
            self.assertEqual(since["total_count"], 0)
            self.assertEqual(since["since"]["seq"], mark["seq"])

            dump = self.json_of(remote("dump", "--min-size", "4096", "--json"))
            pages = [a for a in dump["allocations"]
                     if any(f.get("function") == "page_block" for f in a["stack"])]
            self.assertEqual(len(pages), 30)
            self.assertTrue(all(a["size"] >= 4096 for a in dump["allocations"]))

            # No clock of the target here: a duration counts back from the
            # table's last change, and says so.
            text = remote("since", "1h", "1")
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("the last 1h before the table's last change", text.stdout)
            back = self.json_of(remote("since", "1h", "--json"))
            self.assertEqual(back["since"]["back_from"], "last_change")
            self.assertEqual(back["total_count"], stats["live_blocks"])

            failed = remote("since", "0", "--fail-over", "1")
            self.assertEqual(failed.returncode, 1)
            self.assertIn("memleak: grew by", failed.stderr)

            self.assertTrue(server.running())
            self.assertEqual(proc_field(held.pid, "TracerPid"), "0")

    def test_symbols_from_a_local_sysroot(self):
        with Service("--rate", "200") as service, \
                Gdbserver("--attach", "127.0.0.1:0", str(service.pid)) as server:
            result = run(["remote", "--sysroot", "/", server.address, "top", "--json"])
            top = self.json_of(result)
            frames = [f for g in self.frames_of(top, "bufpool_acquire") for f in g["stack"]
                      if f.get("function") == "bufpool_acquire"]
            self.assertTrue(frames, top)
            self.assertEqual(frames[0]["line"],
                             source_line(os.path.join(SERVICE_SOURCE, "buffer_pool.c"),
                                         "return buffer_new(capacity);"))
            self.assertEqual(server.wait_exit(), 0)
            # The service ran on: a local attach reads it after.
            self.assertEqual(run(["attach", str(service.pid), "stats"]).returncode, 0)


class StrippedOnTheTarget(WrapperTest):
    """The target runs a stripped program; --program gives gdb the local
    unstripped build of it."""

    @classmethod
    def setUpClass(cls):
        needs_gdbserver()
        if not shutil.which("strip"):
            raise unittest.SkipTest("strip is not installed")

    def test_symbols_from_a_local_copy(self):
        original = built("MEMLEAK_TEST_HOLD")
        stripped = os.path.join(tempdir(self), "hold")
        shutil.copy(original, stripped)
        subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
        line = source_line(os.path.join(HERE, "hold.c"), "HOLD_PAGE")
        with Held(100, program=stripped) as held, Gdbserver("--multi", "127.0.0.1:0") as server:
            def page_frames(*options):
                result = run(["remote", "--extended", "--pid", str(held.pid)] + list(options)
                             + [server.address, "top", "--json"])
                self.assertEqual(result.returncode, 0, result.stderr)
                return [f for g in json.loads(result.stdout)["groups"] for f in g["stack"]
                        if f.get("function") == "page_block"]
            self.assertEqual(page_frames(), [])
            frames = page_frames("--program", original)
            self.assertEqual([(os.path.basename(f["file"]), f["line"]) for f in frames],
                             [("hold.c", line)])


class RemoteErrors(WrapperTest):
    @classmethod
    def setUpClass(cls):
        needs_gdbserver()

    def test_nobody_listening(self):
        with Gdbserver("--multi", "127.0.0.1:0") as server:
            address = server.address
        self.assert_one_error_line(run(["remote", address]), "cannot connect to gdbserver at",
                                   "Connection refused")

    def test_not_an_address(self):
        self.assert_one_error_line(run(["remote", "localhost"]), "is not HOST:PORT")
        self.assert_one_error_line(run(["remote", "--pid", "12", "127.0.0.1:1"]),
                                   "--pid needs --extended")

    def test_extended_without_a_process(self):
        with Gdbserver("--multi", "127.0.0.1:0") as server:
            self.assert_one_error_line(run(["remote", "--extended", server.address]),
                                       "debugs no process", "--pid")
            self.assertTrue(server.running())

    def test_process_without_the_runtime_runs_on(self):
        plain = subprocess.Popen([built("MEMLEAK_TEST_HOLD"), "10"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            plain.stdout.readline()
            with Gdbserver("--multi", "127.0.0.1:0") as server:
                result = run(["remote", "--extended", "--pid", str(plain.pid), server.address])
                self.assert_one_error_line(result, "pid %d" % plain.pid,
                                           "does not run the memleak runtime")
                self.assertEqual(proc_field(plain.pid, "TracerPid"), "0")
        finally:
            plain.stdin.close()
            self.assertEqual(plain.wait(timeout=30), 0)
            plain.stdout.close()

    def test_no_such_process_on_the_target(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        with Gdbserver("--multi", "127.0.0.1:0") as server:
            self.assert_one_error_line(
                run(["remote", "--extended", "--pid", str(gone.pid), server.address]),
                "could not attach to pid %d" % gone.pid)

    def test_another_process_is_left_alone(self):
        with Held(10) as held, Gdbserver("--attach", "127.0.0.1:0", str(held.pid)) as server:
            result = run(["remote", "--extended", "--pid", str(held.pid + 100000),
                          server.address])
            self.assert_one_error_line(result, "debugs pid %d" % held.pid)
            # Only disconnected: gdbserver still holds its process for a reader.
            self.assertEqual(run(["remote", server.address, "stats"]).returncode, 0)


if __name__ == "__main__":
    unittest.main()
