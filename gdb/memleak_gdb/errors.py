"""The one exception type the commands report, as a single `memleak:` line."""


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
