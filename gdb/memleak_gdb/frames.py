"""How a stack reads: function names as users write them, the frames
below `main` and below a thread's start routine left out, and runs of
standard-library and libc frames folded into the one the program called.

Every output (text, JSON, folded stacks, SVG) shows the frames these
functions return, so a frame has one name everywhere. Suppressions are
matched against the whole stack before any of this (commands.py).

No gdb import: unit-tested on plain frames.
"""

import os
import re


# libstdc++'s spelled-out standard types, as users write them.
_STD_NAMES = [
    ("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >",
     "std::string"),
    ("std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"),
    ("std::__cxx11::", "std::"),
]
# A space before a closing ">" ("std::vector<std::string >", "> >"), left by
# the aliases above and by demanglers; not after "operator", "-", "=", "<".
_SPACE_BEFORE_CLOSE = re.compile(r"(?<!operator)(?<![-=<]) +>")
# glibc's internal aliases of public functions: __GI___strdup is strdup,
# __GI___libc_malloc is malloc, __GI__IO_fopen stays _IO_fopen.
_GLIBC_ALIAS = re.compile(r"^__GI_(?:__libc_|__(?=[a-z]))?")


def clean_name(name):
    """A function name as users write it; None stays None."""
    if not name:
        return name
    if "std::" in name:
        for long, short in _STD_NAMES:
            name = name.replace(long, short)
    if " >" in name:
        name = _SPACE_BEFORE_CLOSE.sub(">", name)
    if name.startswith("__GI_"):
        name = _GLIBC_ALIAS.sub("", name)
    return name


# "NAME(ARGS)[ const]::<lambda(" in a template argument: where a lambda
# passed to that template was written.
_LAMBDA_OWNER = re.compile(r"([\w:~]+\([^()]*\)(?: const)?)::<lambda\(")


def is_lambda_call(name):
    """A lambda's call operator as named when inlined: its class has no
    name, so gdb and the DWARF call it "operator()" with nothing before."""
    return bool(name) and name.startswith("operator()")


def lambda_name(op, caller):
    """The name of lambda call operator `op` inlined into the function
    named `caller`: "OWNER::{lambda}::OP", OWNER the function the lambda
    was written in: the caller, unless the caller is a template
    instantiated for the lambda (`apply<fill()::<lambda(int)> >`), whose
    argument names it. The exit report names it the same way."""
    owner = clean_name(caller)
    m = _LAMBDA_OWNER.search(owner)
    return "%s::{lambda}::%s" % (m.group(1) if m else owner, op)


# The C runtime's start-up and the thread library's start routine: what is
# outward of `main` and of a thread's own function.
BELOW_MAIN = frozenset((
    "_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main",
    "__libc_start_main_alias_2", "start_thread", "clone", "__clone", "clone3", "__clone3",
    "__clone_internal", "thread_start",
))


def _below_main(frame):
    name = frame.function
    if name is None:
        return False
    return name.split("(", 1)[0] in BELOW_MAIN


def hide_below_main(frames):
    """The frames up to `main` or a thread's start routine: the outermost
    run of start-up frames is dropped (a stack of start-up frames alone is
    kept, so nothing is left without a stack)."""
    end = len(frames)
    while end > 0 and _below_main(frames[end - 1]):
        end -= 1
    return frames[:end] if end > 0 else frames


_LIBRARY_PREFIXES = ("std::", "__gnu_cxx::", "__cxxabiv1::", "operator new", "operator delete")
_LIBRARY_OBJECTS = re.compile(r"^(libc|libstdc\+\+|libm|libgcc_s|ld-linux[-\w]*|libpthread)"
                              r"[.-]")
_GLIBC_INTERNAL = re.compile(r"^(__GI_|_IO_|__libc_|_dl_|__strdup|__strndup)")


def is_library(frame):
    """A frame of the C++ standard library or of libc, by name or object."""
    name = frame.function or ""
    if name.startswith(_LIBRARY_PREFIXES) or _GLIBC_INTERNAL.match(name):
        return True
    obj = frame.object
    return bool(obj) and _LIBRARY_OBJECTS.match(os.path.basename(obj)) is not None


def fold_library(frames):
    """Each run of library frames becomes its outermost frame, the one the
    program called, carrying how many frames it stands for (`folded`).
    Returns a list of (frame, folded) pairs, folded 0 for frames kept as
    they were."""
    out = []
    run = []
    for f in frames:
        if is_library(f):
            run.append(f)
            continue
        if run:
            out.append((run[-1], len(run)))
            run = []
        out.append((f, 0))
    if run:
        out.append((run[-1], len(run)))
    return out


class View:
    """How the commands show stacks: below-main frames hidden unless
    `show_below_main`, library runs folded when `fold`."""

    def __init__(self, show_below_main=False, fold=False):
        self.show_below_main = show_below_main
        self.fold = fold

    def frames(self, raw):
        """Presented frames for raw symbolized frames: names cleaned, a
        folded run as its outermost frame with `folded` set to its length."""
        frames = [f._replace(function=clean_name(f.function)) for f in raw]
        if not self.show_below_main:
            frames = hide_below_main(frames)
        if self.fold:
            return [f._replace(folded=n) for f, n in fold_library(frames)]
        return frames

    def key(self, shown, depth):
        """The grouping key of presented frames cut at `depth`: frames
        outside the libraries are counted when folding (so `--depth 1` is
        the program's own call site), every frame otherwise. Returns
        (key, frames kept)."""
        kept = []
        outside = 0
        for f in shown:
            kept.append(f)
            if not f.folded:
                outside += 1
                if outside >= depth:
                    break
        # A folded run's pc depends on where inside the library the
        # allocation happened; its name is what the user sees.
        key = tuple((f.function, None) if f.folded else (f.function, f.pc) for f in kept)
        return key, kept
