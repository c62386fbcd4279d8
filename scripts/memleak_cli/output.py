"""What the user sees: gdb's output without its chatter, and the demo's headings."""

import os
import re
import selectors
import shlex
import sys

from .errors import Failure

# Of gdb's messages before the command, only those that explain a wrong
# answer later (a core cut short) are kept; the rest is attach chatter.
_WORTH_SHOWING = re.compile(r"truncated", re.I)


def relay(proc, marker, on_error, held_stderr=None):
    """Streams gdb's stdout and stderr after `marker` to the wrapper's own.

    gdb's own chatter (attach messages, the current frame) comes before the
    marker and is dropped; `on_error(stderr_text)` turns a failure there
    into a clear message (raised as Failure, gdb killed). stdout is held
    back until stderr's marker went by, so an error before the command
    never follows part of an answer. When `held_stderr` is a list, stderr
    after the marker goes there instead, for the caller to judge once gdb
    is done, and none of gdb's messages before it are shown. Returns
    stderr's text before the marker when gdb ended without printing it (it
    never ran the command), else None.
    """
    marker = marker.encode()
    streams = {proc.stdout: [b"", False, sys.stdout.buffer],
               proc.stderr: [b"", False, sys.stderr.buffer]}
    held_stdout = []
    sel = selectors.DefaultSelector()
    for stream in streams:
        sel.register(stream, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fileobj.fileno(), 65536)
                state = streams[key.fileobj]
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if state[1]:
                    if key.fileobj is proc.stdout and not streams[proc.stderr][1]:
                        held_stdout.append(data)
                    else:
                        state[2].write(data)
                        state[2].flush()
                    continue
                state[0] += data
                at = state[0].find(marker)
                if at < 0:
                    continue
                before, after = state[0][:at], state[0][at + len(marker):]
                state[1] = True
                if key.fileobj is proc.stderr:
                    text = before.decode("utf-8", "replace")
                    message = on_error(text)
                    if message:
                        proc.kill()
                        proc.wait()
                        raise Failure(message)
                    if held_stderr is not None:
                        held_stderr.append(after)
                        state[2] = _Collect(held_stderr)
                    else:
                        for line in text.splitlines():
                            if _WORTH_SHOWING.search(line):
                                state[2].write(("memleak: gdb: %s\n" % line.strip()).encode())
                        state[2].write(after)
                        state[2].flush()
                    out = streams[proc.stdout][2]
                    for chunk in held_stdout:
                        out.write(chunk)
                    held_stdout.clear()
                    out.flush()
                elif streams[proc.stderr][1]:
                    state[2].write(after)
                    state[2].flush()
                else:
                    held_stdout.append(after)
    finally:
        sel.close()
    err_state = streams[proc.stderr]
    if not err_state[1]:
        return err_state[0].decode("utf-8", "replace")
    for chunk in held_stdout:
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    return None


class _Collect:
    """A byte sink that keeps what it is given in a list."""

    def __init__(self, chunks):
        self.write = chunks.append

    def flush(self):
        pass


def error_line(text):
    sys.stdout.flush()
    sys.stderr.write("memleak: %s\n" % text)


def heading(step, text):
    sys.stdout.write("\n\033[1m== %s. %s\033[0m\n" % (step, text) if sys.stdout.isatty()
                     else "\n== %s. %s\n" % (step, text))
    sys.stdout.flush()


def show_command(words):
    sys.stdout.write("$ %s\n" % " ".join(shlex.quote(w) for w in words))
    sys.stdout.flush()
