"""Argument parsing for the memleak commands: pure functions, no gdb.

One table (OPTIONS) describes every command's options; it feeds the parser,
the TAB completion and the help text, so they cannot disagree.
"""

import difflib
import glob
import os
import re
import shlex

from . import abi
from .errors import UsageError

SUBCOMMANDS = ("top", "dump", "since", "leaks", "why", "who", "mark", "stats")

# Valgrind's leak classes as memleak spells them, most serious first, and
# the shorter names valgrind's --show-leak-kinds takes.
LEAK_KINDS = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
_KIND_ALIASES = {"definite": "definitely_lost", "indirect": "indirectly_lost",
                 "possible": "possibly_lost", "reachable": "still_reachable"}

# Blocks `dump` prints as text unless --limit says otherwise.
DUMP_TEXT_LIMIT = 50

# kind: "flag" (no value), "int" (1 or more), "count" (0 or more), "size",
# "choice", "kinds" (comma-separated choices), "file".
_COMMON = {
    "--json": ("flag", None, "print JSON (the format in docs/design.md) instead of text"),
    "--output": ("file", None, "write the output to FILE instead of the terminal"),
}
_STACKS = {
    "--show-below-main": ("flag", None, "also show the frames below main and below a thread's "
                                        "start routine (_start, start_thread, clone3, ...)"),
    "--fold": ("flag", None, "fold each run of C++ standard library and libc frames into the "
                             "one the program called; --depth then counts the program's frames"),
}
_TOP = {
    "--by": ("choice", ("bytes", "count"), "order groups by live bytes (default) or block count"),
    "--depth": ("int", None, "group by the innermost D return addresses instead of the whole stack"),
    "--folded": ("flag", None, "print collapsed stacks (flame graph input) instead of the table"),
    "--svg": ("file", None, "also write a flame graph of the groups to FILE"),
    "--suppressions": ("file", None, "report stacks matching a pattern of FILE separately "
                                     "(matched against the whole stack)"),
}
_TOP.update(_STACKS)
_DUMP = {
    "--min-size": ("size", None, "only blocks of at least this size (e.g. 4096, 1MiB)"),
    "--limit": ("count", None, "print at most N blocks (text: %d unless told; 0: all)"
                % DUMP_TEXT_LIMIT),
    "--suppressions": _TOP["--suppressions"],
}
_KIND = {
    "--kind": ("kinds", LEAK_KINDS, "only blocks of these leak classes (KIND[,KIND]; also "
               "definite, indirect, possible, reachable)"),
}
_TOP.update(_KIND)
_DUMP.update(_KIND)
_DUMP.update(_STACKS)
_SINCE = dict(_TOP)
_SINCE.update(_DUMP)
_SINCE.update({
    "--dump": ("flag", None, "list the blocks (like dump) instead of grouping them"),
    "--fail-over": ("size", None, "fail (non-zero exit in gdb -batch) if growth exceeds this size"),
})

_LEAKS = {k: v for k, v in _TOP.items() if k not in ("--folded", "--svg", "--kind")}
_LEAKS["--all"] = ("flag", None, "list still-reachable blocks too, not only their total")
_WHO = {"--limit": ("int", None, "list at most N references (default 100)")}

OPTIONS = {
    "top": dict(_TOP, **_COMMON),
    "dump": dict(_DUMP, **_COMMON),
    "since": dict(_SINCE, **_COMMON),
    "leaks": dict(_LEAKS, **_COMMON),
    "why": dict(_COMMON),
    "who": dict(_WHO, **_COMMON),
    "mark": dict(_COMMON),
    "stats": dict(_COMMON),
}

# Positional arguments, in order: (name, required, kind).
POSITIONAL = {
    "top": [("N", False, "int")],
    "dump": [],
    "since": [("POINT", True, "str"), ("N", False, "int")],
    "leaks": [("N", False, "int")],
    "why": [("ADDR", True, "str")],
    "who": [("ADDR", True, "str")],
    "mark": [("NAME", False, "str")],
    "stats": [],
}

_DEFAULTS = {
    "json": False, "output": None, "by": "bytes", "depth": None, "folded": False, "svg": None,
    "suppressions": None, "min_size": 0, "limit": None, "dump": False, "fail_over": None,
    "n": 20, "point": None, "name": None, "kind": None, "all": False, "addr": None,
    "show_below_main": False, "fold": False,
}

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kb": 1000, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1000 ** 2, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1000 ** 3, "gib": 1 << 30,
    "t": 1 << 40, "tb": 1000 ** 4, "tib": 1 << 40,
}


class Args:
    """Parsed arguments: one attribute per option, defaults filled in."""

    def __init__(self, command, **values):
        self.command = command
        self.__dict__.update(_DEFAULTS)
        self.__dict__.update(values)
        # What the user gave, as opposed to defaults (`top N --folded`).
        self.given = frozenset(values)

    def __repr__(self):
        items = sorted((k, v) for k, v in self.__dict__.items())
        return "Args(%s)" % ", ".join("%s=%r" % kv for kv in items)


def parse_size(text):
    """'4096', '10MiB', '1.5k' -> bytes. Binary units for k/M/G, decimal for kB/MB/GB."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise UsageError("bad size %r (examples: 4096, 64KiB, 10MiB, 1GiB)" % text)
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]) if "." in m.group(1) \
        else int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


def parse_kinds(option, text):
    """'definitely_lost,possible' -> ('definitely_lost', 'possibly_lost'), in
    LEAK_KINDS order."""
    chosen = set()
    for word in text.split(","):
        word = word.strip()
        kind = _KIND_ALIASES.get(word, word)
        if kind not in LEAK_KINDS:
            raise UsageError("%s takes %s (or definite, indirect, possible, reachable), got %r"
                             % (option, ",".join(LEAK_KINDS), word))
        chosen.add(kind)
    return tuple(k for k in LEAK_KINDS if k in chosen)


def parse_address(text):
    """'0x7f00', '12345' -> int, or None when `text` is no number (an
    expression the debugger must evaluate)."""
    t = text.strip()
    try:
        value = int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        return None
    return value if 0 <= value < 1 << 64 else None


def _parse_int(option, text, low=0):
    if not re.fullmatch(r"\d+", text):
        raise UsageError("%s needs a number, got %r" % (option, text))
    value = int(text)
    if value < low:
        raise UsageError("%s must be at least %d" % (option, low))
    return value


def did_you_mean(word, choices):
    """"; did you mean X?" for the nearest of `choices` to a mistyped word, or ""."""
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return "; did you mean %s?" % near[0] if near else ""


def unknown_command(word):
    return UsageError("unknown command %r%s (commands: %s)"
                      % (word, did_you_mean(word, SUBCOMMANDS), ", ".join(SUBCOMMANDS)))


def _split(argstring):
    try:
        return shlex.split(argstring)
    except ValueError as e:
        raise UsageError("cannot split arguments: %s" % e) from None


def parse(command, argstring):
    """Parses the argument string gdb passes to `memleak COMMAND`."""
    if command not in OPTIONS:
        raise unknown_command(command)
    table = OPTIONS[command]
    positional = POSITIONAL[command]
    values = {}
    positionals = []
    words = _split(argstring)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("--") and len(word) > 2:
            name, eq, inline = word.partition("=")
            if name not in table:
                raise UsageError("%s: unknown option %s%s (options: %s)"
                                 % (command, name, did_you_mean(name, table),
                                    " ".join(sorted(table))))
            kind, choices, _ = table[name]
            key = name[2:].replace("-", "_")
            if kind == "flag":
                if eq:
                    raise UsageError("%s takes no value" % name)
                values[key] = True
                continue
            if eq:
                value = inline
            else:
                if i >= len(words):
                    raise UsageError("%s needs a value" % name)
                value = words[i]
                i += 1
            if kind == "int":
                values[key] = _parse_int(name, value, 1)
            elif kind == "count":
                values[key] = _parse_int(name, value, 0)
            elif kind == "size":
                values[key] = parse_size(value)
            elif kind == "choice":
                if value not in choices:
                    raise UsageError("%s must be one of %s, got %r" % (name, "|".join(choices), value))
                values[key] = value
            elif kind == "kinds":
                values[key] = parse_kinds(name, value)
            else:
                if not value:
                    raise UsageError("%s needs a file name" % name)
                values[key] = value
        else:
            positionals.append(word)
    if len(positionals) > len(positional):
        if not positional:
            raise UsageError("%s takes no argument %r" % (command, positionals[0]))
        raise UsageError("%s takes %s, got %s" % (
            command, " ".join(p[0] for p in positional), " ".join(positionals)))
    for i, (pname, required, kind) in enumerate(positional):
        if i >= len(positionals):
            if required:
                raise UsageError("%s needs %s" % (command, pname))
            continue
        word = positionals[i]
        values[pname.lower()] = _parse_int(pname, word, 1) if kind == "int" else word
    if command == "leaks" and "n" not in values:
        values["n"] = None  # every loss record, as valgrind prints them
    if command == "who" and "limit" not in values:
        values["limit"] = 100
    args = Args(command, **values)
    if command == "since":
        _check_since(args)
    if command == "mark" and args.name is not None:
        _check_mark_name(args.name)
    if args.folded and args.json:
        raise UsageError("--folded and --json are two different outputs: pick one")
    return args


def _check_since(args):
    if args.dump and (args.folded or args.svg):
        raise UsageError("--folded and --svg group blocks, --dump lists them: pick one")


def _check_mark_name(name):
    raw = name.encode("utf-8")
    if not raw or len(raw) >= abi.MARK_NAME_SIZE:
        raise UsageError("mark name must be 1 to %d bytes" % (abi.MARK_NAME_SIZE - 1))
    if "\0" in name:
        raise UsageError("mark name cannot hold a NUL byte")


def complete(command, text, word):
    """Completion for `memleak COMMAND`: returns (candidates, wants_file).

    `text` is everything after the command name, `word` the part of the
    last token gdb will replace (gdb breaks words at '-' too, so for
    "--de" word is "de"); candidates complete `word`. After an option that
    takes a file, the caller should complete file names (wants_file True)."""
    table = OPTIONS.get(command, {})
    word = word or ""
    token = text.split(" ")[-1] if text and not text[-1].isspace() else ""
    before = text[: len(text) - len(token)].split()
    cut = len(token) - len(word)

    def fit(candidates):
        return sorted(c[cut:] for c in candidates if c.startswith(token))

    if before and before[-1] in table:
        kind, choices, _ = table[before[-1]]
        if kind == "file":
            return fit(_file_candidates(token)), True
        if kind == "choice":
            return fit(choices), False
        if kind == "kinds":
            head, _, _ = token.rpartition(",")
            prefix = head + "," if head else ""
            return fit(prefix + c for c in choices), False
        if kind != "flag":
            return [], False
    used = set(w.split("=")[0] for w in before)
    return fit(o for o in table if o not in used), False


def _file_candidates(token):
    """Paths starting with `token`, directories with a trailing '/'."""
    paths = glob.glob(glob.escape(os.path.expanduser(token)) + "*")
    if token.startswith("~"):
        home = os.path.expanduser("~")
        paths = ["~" + p[len(home):] for p in paths]
    return [p + "/" if os.path.isdir(os.path.expanduser(p)) else p for p in paths]


def options_help(command):
    """The option lines of a command's help text, from OPTIONS."""
    lines = []
    for name, (kind, choices, text) in sorted(OPTIONS[command].items()):
        metavar = {"flag": "", "int": " N", "count": " N", "size": " BYTES", "file": " FILE",
                   "choice": " " + "|".join(choices or ()), "kinds": " KIND[,KIND]"}[kind]
        if name == "--depth":
            metavar = " D"
        lines.append("  %-24s %s" % (name + metavar, text))
    return "\n".join(lines)
