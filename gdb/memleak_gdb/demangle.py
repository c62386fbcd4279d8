"""C++ names of code without debug info, decoded as the exit report does.

For a frame in a library without debug info, gdb knows only the ELF
symbol, which for C++ is mangled (`_ZNSt7__cxx1112basic_string...`). The
runtime's exit report demangles such names with libstdc++'s
`__cxa_demangle`; the reader must show the same text, or one suppressions
file gives different verdicts at exit and on a core. Python's standard
library has no demangler, and gdb's `demangle` command and c++filt spell
the standard abbreviations out (`_ZNSs4_Rep9_S_createEmmRKSaIcE` becomes
`std::basic_string<char, ...>::_Rep::...` where `__cxa_demangle` writes
`std::string::_Rep::...`), so the reader calls that same `__cxa_demangle`
through ctypes: libstdc++ is loaded in gdb itself, and gdb already runs
the same demangler on every symbol it loads.

No gdb import; unit-tested on its own.
"""

import ctypes

# The Itanium C++ ABI prefix of every mangled name on Linux.
_PREFIX = "_Z"
# Longer names are not symbols a compiler wrote; decoding them is not tried.
MAX_NAME = 1 << 14
LIBSTDCXX = "libstdc++.so.6"


def is_mangled(name):
    return (isinstance(name, str) and len(name) > len(_PREFIX) and name.startswith(_PREFIX)
            and len(name) <= MAX_NAME and name.isprintable() and " " not in name)


def cxa_demangle(library=LIBSTDCXX):
    """A function from a mangled name to its decoded text (None when the
    name does not decode), through `__cxa_demangle` of `library`; None
    when that library or function is not there."""
    try:
        lib = ctypes.CDLL(library)
        fn = lib.__cxa_demangle
        free = ctypes.CDLL(None).free
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.POINTER(ctypes.c_int)]
    free.restype = None
    free.argtypes = [ctypes.c_void_p]

    def decode(name):
        status = ctypes.c_int(-1)
        text = fn(name.encode("utf-8", "surrogateescape"), None, None, ctypes.byref(status))
        if not text:
            return None
        try:
            if status.value != 0:
                return None
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            free(text)

    return decode


class Demangler:
    """Mangled names to readable ones, each name decoded once; any other
    name, or one that does not decode, comes back as it was.

    `decode(name)` returns the decoded text or None; None for `decode`
    itself (no demangler on this machine) leaves every name as it is.
    """

    def __init__(self, decode):
        self._decode = decode
        self._cache = {}

    def __call__(self, name):
        if self._decode is None or not is_mangled(name):
            return name
        found = self._cache.get(name)
        if found is None:
            decoded = self._decode(name)
            found = self._cache[name] = decoded if decoded else name
        return found
