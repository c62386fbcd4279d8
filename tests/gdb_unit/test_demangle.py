"""The reader's C++ demangling: libstdc++'s own __cxa_demangle, as the exit
report uses, checked against binutils' c++filt on every C++ symbol
libstdc++ exports, and on names that are not mangled or not valid."""

import os
import shutil
import subprocess
import unittest

import image  # noqa: F401
from memleak_gdb import demangle

LIBSTDCXX_PATHS = ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
                   "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6")


def decoder(test):
    decode = demangle.cxa_demangle()
    if decode is None:
        test.skipTest("%s with __cxa_demangle is not installed" % demangle.LIBSTDCXX)
    return decode


class KnownNamesTest(unittest.TestCase):
    def test_names_decode_as_libstdcxx_writes_them(self):
        names = demangle.Demangler(decoder(self))
        self.assertEqual(
            names("_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE12_M_constructEmc"),
            "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"
            "::_M_construct(unsigned long, char)")
        # The standard abbreviations stay short, as in the exit report
        # (gdb's `demangle` and plain c++filt spell them out).
        self.assertEqual(names("_ZNSs4_Rep9_S_createEmmRKSaIcE"),
                         "std::string::_Rep::_S_create(unsigned long, unsigned long, "
                         "std::allocator<char> const&)")
        self.assertEqual(names("_ZN3foo3barEv.cold"), "foo::bar() [clone .cold]")
        self.assertEqual(names("_Znwm"), "operator new(unsigned long)")

    def test_other_names_come_back_unchanged(self):
        names = demangle.Demangler(decoder(self))
        for name in (None, "", "malloc", "main", "_Z", "_Zfoo", "_ZN3foo", "__libc_start_main",
                     "_ZN3foo3barEv bad", "_Z1f\n", "_Z1f" + "P" * 16000 + "v",
                     "_Z" + "N1a" * 5000 + "E", "_Z1f" + "P" * 20000 + "v"):
            with self.subTest(name=(name or "")[:40]):
                self.assertEqual(names(name), name)

    def test_without_a_demangler_names_are_kept(self):
        self.assertIsNone(demangle.cxa_demangle("libno-such-library.so.0"))
        names = demangle.Demangler(None)
        self.assertEqual(names("_Znwm"), "_Znwm")

    def test_each_name_is_decoded_once(self):
        decode = decoder(self)
        asked = []

        def counting(name):
            asked.append(name)
            return decode(name)

        names = demangle.Demangler(counting)
        for _ in range(3):
            self.assertEqual(names("_ZdlPv"), "operator delete(void*)")
            self.assertEqual(names("_Zfoo"), "_Zfoo")
            self.assertEqual(names("free"), "free")
        self.assertEqual(asked, ["_ZdlPv", "_Zfoo"])


class AgreesWithCxxfiltTest(unittest.TestCase):
    def test_every_exported_libstdcxx_symbol(self):
        names = demangle.Demangler(decoder(self))
        library = next((p for p in LIBSTDCXX_PATHS if os.path.isfile(p)), None)
        nm, cxxfilt = shutil.which("nm"), shutil.which("c++filt")
        if library is None or nm is None or cxxfilt is None:
            self.skipTest("needs libstdc++.so.6 and binutils' nm and c++filt")
        listing = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                                 stdout=subprocess.PIPE, text=True, timeout=60).stdout
        symbols = sorted({line.split()[-1].split("@")[0] for line in listing.splitlines()
                          if line.split() and line.split()[-1].startswith("_Z")})
        self.assertGreater(len(symbols), 1000, "libstdc++ exports thousands of C++ symbols")
        # -i: without the implementation details (the abbreviations spelled
        # out) that __cxa_demangle leaves out too.
        decoded = subprocess.run([cxxfilt, "-i"], input="\n".join(symbols) + "\n", check=True,
                                 stdout=subprocess.PIPE, text=True, timeout=60).stdout.splitlines()
        self.assertEqual(len(decoded), len(symbols))
        differ = [(s, names(s), d) for s, d in zip(symbols, decoded) if names(s) != d]
        self.assertEqual(differ, [])
        self.assertFalse(any(names(s).startswith("_Z") for s in symbols))


if __name__ == "__main__":
    unittest.main()
