"""Every exception the extension raises on purpose. Each is a MemleakError,
which the one handler (gdb_backend._run) reports as a single `memleak:`
line; DeferredFailure comes after the command's output."""


class MemleakError(Exception):
    """A failure the user should see as one line, without a traceback."""


class ReadError(MemleakError):
    """Memory the table points to cannot be read (truncated core, bad pointer)."""

    def __init__(self, addr, size):
        super().__init__("cannot read %d bytes at 0x%x: truncated core?" % (size, addr))
        self.addr = addr
        self.size = size


class CorruptTable(MemleakError):
    """The table holds values no runtime writes."""

    def __init__(self, what):
        super().__init__("corrupt table: " + what)


class UsageError(MemleakError):
    """Bad command arguments."""


class NotLoaded(MemleakError):
    """memleak_introspect is in no symbol table gdb has."""

    def __init__(self):
        super().__init__("libmemleak.so is not loaded in this process: start the program with "
                         "LD_PRELOAD=.../libmemleak.so")


class SuppressionError(MemleakError):
    """A suppressions file that cannot be read or holds a malformed line."""


class ScanError(MemleakError):
    """The scanner is missing or refused its input."""


class DeferredFailure(MemleakError):
    """A command that failed after producing its output (`since
    --fail-over`): the output is written in full, then the failure is
    reported like any other."""

    def __init__(self, output, message):
        super().__init__(message)
        self.output = output


class LimitExceeded(DeferredFailure):
    """A limit the user set was exceeded (--fail-over): its own exit status."""


# Exit statuses, the same from the memleak command and from gdb -batch:
# a usage or input error, and a limit exceeded (--fail-over, --fail-on-leak).
EXIT_ERROR = 2
EXIT_LIMIT = 23
