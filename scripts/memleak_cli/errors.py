"""The wrapper's one kind of user-facing error."""


class Failure(Exception):
    """A user-facing error: printed as one `memleak:` line, exit status 2."""
