"""Leak suppressions in LeakSanitizer's format, matched against stacks.

A suppressions file holds one `leak:PATTERN` per line; `#` starts a comment
line and blank lines are skipped. A stack is suppressed when PATTERN matches
the function name, the source file or the object (shared library or
executable path) of any of its frames. PATTERN matches as a substring; `*`
stands for any run of characters, a leading `^` anchors it at the start and
a trailing `$` at the end, as in LeakSanitizer, so a file written for
LSAN_OPTIONS=suppressions=... works here unchanged.

One difference: LeakSanitizer matches each piece between `*`s at its first
occurrence only, so `leak:ab$` misses "abab"; here a pattern matches
whenever some placement of its pieces does.

No gdb import: the wrapper validates files with it before starting anything.
"""

import re

from .errors import SuppressionError

KINDS = ("leak",)


def compile_pattern(pattern):
    """The regular expression equivalent of one LeakSanitizer pattern."""
    body = pattern
    head = ""
    tail = ""
    if body.startswith("^"):
        head = r"\A"
        body = body[1:]
    if body.endswith("$"):
        tail = r"\Z"
        body = body[:-1]
    pieces = [re.escape(piece) for piece in body.split("*")]
    return re.compile(head + ".*".join(pieces) + tail, re.DOTALL)


class Suppression:
    """One `leak:` line: the pattern as written, where it was, its matcher."""

    __slots__ = ("pattern", "source", "line", "regex")

    def __init__(self, pattern, source, line):
        self.pattern = pattern
        self.source = source
        self.line = line
        self.regex = compile_pattern(pattern)

    def matches(self, text):
        return bool(text) and self.regex.search(text) is not None


class Suppressions:
    """The patterns of one file, in file order."""

    def __init__(self, entries=(), source=None):
        self.entries = list(entries)
        self.source = source

    def __len__(self):
        return len(self.entries)

    @property
    def patterns(self):
        return [entry.pattern for entry in self.entries]

    def match(self, frames):
        """The pattern that suppresses the stack `frames`, or None: the
        innermost frame some pattern matches (its function, file or object)
        decides, and of the patterns matching it the first in the file, as in
        LeakSanitizer and the exit report (tests/suppressions holds the two
        to one case list).

        `frames` is any iterable of objects with `.function`, `.file` and
        `.object` (each a str or None); dicts with those keys work too.
        """
        for frame in frames:
            texts = [frame.get(key) if isinstance(frame, dict) else getattr(frame, key, None)
                     for key in ("function", "file", "object")]
            for entry in self.entries:
                if any(entry.matches(text) for text in texts):
                    return entry.pattern
        return None


def parse(text, source="<string>"):
    """Suppressions from the text of a file; `source` names it in errors."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, colon, pattern = line.partition(":")
        kind = kind.strip()
        pattern = pattern.strip()
        where = "%s:%d" % (source, number)
        if not colon:
            raise SuppressionError("%s: expected `leak:PATTERN`, got %r" % (where, line))
        if kind not in KINDS:
            raise SuppressionError("%s: unknown suppression type %r (only `leak:` is supported)"
                                   % (where, kind))
        if not pattern or pattern in ("^", "$", "^$"):
            raise SuppressionError("%s: empty pattern after `%s:`" % (where, kind))
        entries.append(Suppression(pattern, source, number))
    return Suppressions(entries, source)


def load(path):
    """Suppressions from the file at `path`; SuppressionError if unreadable or malformed."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SuppressionError("%s: cannot read suppressions: %s"
                               % (path, error.strerror or error)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise SuppressionError("%s:%d: not UTF-8 text" % (path, line)) from None
    return parse(text, str(path))
