"""Real programs that nobody here wrote, run natively and then under the
runtime: stdout, stderr and exit status must be identical, and the exit
report must be well formed.

The runtime library comes from MEMLEAK_LIB; the SQL generator from
MEMLEAK_SQL_GEN (both set by ctest). Run one case with
    MEMLEAK_LIB=build/runtime/libmemleak.so MEMLEAK_SQL_GEN=bench/gen_sql.py \\
        python3 tests/programs/test_programs.py -v RealProgramsTest.test_git
"""
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import ld_preload  # noqa: E402  (tests/ld_preload.py)
WORKLOADS = os.path.join(HERE, "workloads")
PYTHON = "/usr/bin/python3"
RUN_TIMEOUT = 240


def first_difference(a, b):
    a_lines, b_lines = a.splitlines(), b.splitlines()
    for n, (x, y) in enumerate(zip(a_lines, b_lines), 1):
        if x != y:
            return "line %d: native %r, under runtime %r" % (n, x[:200], y[:200])
    return "native has %d lines, under runtime %d" % (len(a_lines), len(b_lines))


def unordered_lines(text):
    """make -j's output as a set: sorted lines without the progress figures."""
    return b"\n".join(sorted(re.sub(rb"^\[\s*\d+%\] ", b"", line) for line in text.splitlines()))


class Outcome:
    def __init__(self, proc):
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.returncode = proc.returncode


class RealProgramsTest(unittest.TestCase):
    def setUp(self):
        self.lib = os.environ.get("MEMLEAK_LIB", "")
        if not os.path.isfile(self.lib):
            self.fail("MEMLEAK_LIB=%r is not a file; set it to libmemleak.so" % self.lib)
        self.tmp = tempfile.mkdtemp(prefix="memleak-programs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        env = {k: v for k, v in os.environ.items()
               if k != "LD_PRELOAD" and not k.startswith("MEMLEAK_")}
        env.update(LC_ALL="C", PYTHONHASHSEED="0", TMPDIR=self.tmp)
        self.base_env = env

    def run_once(self, argv, env, stdin_path, prepare, cwd):
        if prepare:
            prepare()
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            proc = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, cwd=cwd or self.tmp,
                                  timeout=RUN_TIMEOUT)
        finally:
            if stdin_path:
                stdin.close()
        return Outcome(proc)

    def assert_same(self, native, traced, what, normalize=None):
        for stream in ("stdout", "stderr"):
            a, b = getattr(native, stream), getattr(traced, stream)
            if normalize:
                a, b = normalize(a), normalize(b)
            if a == b:
                continue
            try:
                detail = first_difference(a.decode(), b.decode())
            except UnicodeDecodeError:
                detail = "binary output: sha256 %s native, %s under runtime" % (
                    hashlib.sha256(a).hexdigest()[:16], hashlib.sha256(b).hexdigest()[:16])
            self.fail("%s: %s differs (%s)" % (what, stream, detail))
        self.assertEqual(native.returncode, traced.returncode,
                         "%s: exit status %d natively, %d under the runtime"
                         % (what, native.returncode, traced.returncode))

    def check_reports(self, report_dir, argv, expect_leaks):
        """Every process the runtime ran in wrote its exit report (so the
        runtime was loaded and active): empty when nothing was live at exit,
        else a header and a SUMMARY line that agree with each other and with
        the groups listed. A program known to leave blocks live at exit must
        have reported some."""
        names = sorted(os.listdir(report_dir))
        self.assertTrue(names, "%s: the runtime wrote no exit report in %s" % (argv[0], report_dir))
        live_blocks = 0
        for name in names:
            with open(os.path.join(report_dir, name), errors="replace") as f:
                text = f.read()
            if not text:
                continue
            where = "%s: report %s" % (argv[0], name)
            header = re.match(r"==(\d+)== memleak: (\d+) live blocks?", text)
            self.assertTrue(header, "%s starts %r" % (where, text[:200]))
            self.assertEqual("report.%s" % header.group(1), name, where)
            summary = re.search(r"^SUMMARY: memleak: (\d+) bytes in (\d+) blocks?$", text, re.M)
            classified = re.search(r"^SUMMARY: memleak: (\d+) bytes lost in (\d+) blocks \(.*\); "
                                   r"(\d+) bytes still reachable in (\d+) blocks$", text, re.M)
            self.assertTrue(summary or classified, "%s has no SUMMARY line:\n%s" % (where, text[-2000:]))
            if summary:
                total_bytes, total_blocks = int(summary.group(1)), int(summary.group(2))
            else:
                total_bytes = int(classified.group(1)) + int(classified.group(3))
                total_blocks = int(classified.group(2)) + int(classified.group(4))
            self.assertEqual(int(header.group(2)), total_blocks, where)
            self.assertGreater(total_blocks, 0, where)
            groups = [(int(b), int(n)) for b, n in
                      re.findall(r"^(\d+) bytes in (\d+) block\(s\)(?: [a-z ]+,)? allocated from:$",
                                 text, re.M)]
            self.assertTrue(groups, "%s lists no allocation stack" % where)
            self.assertLessEqual(sum(b for b, _ in groups), total_bytes, where)
            self.assertLessEqual(sum(n for _, n in groups), total_blocks, where)
            live_blocks += total_blocks
        if expect_leaks:
            self.assertGreater(live_blocks, 0, "%s: every exit report is empty (files: %s)"
                               % (argv[0], names))

    def check_program(self, argv, stdin_path=None, prepare=None, cwd=None, expect_leaks=True,
                      normalize=None):
        """`normalize(bytes)`, when given, is applied to both outputs before
        they are compared: for output whose order is not fixed natively
        either (make -j2)."""
        native = self.run_once(argv, self.base_env, stdin_path, prepare, cwd)

        env = dict(self.base_env, **ld_preload.variables(self.lib, self.base_env))
        traced = self.run_once(argv, env, stdin_path, prepare, cwd)
        self.assert_same(native, traced, "%s with LD_PRELOAD" % argv[0], normalize)

        report_dir = tempfile.mkdtemp(prefix="reports-", dir=self.tmp)
        env["MEMLEAK_REPORT"] = os.path.join(report_dir, "report.%p")
        # Still-reachable blocks listed too: every live block is in the report.
        env["MEMLEAK_REPORT_REACHABLE"] = "1"
        reported = self.run_once(argv, env, stdin_path, prepare, cwd)
        self.assert_same(native, reported, "%s with MEMLEAK_REPORT" % argv[0], normalize)
        self.check_reports(report_dir, argv, expect_leaks)
        return native

    def write_text_data(self, name, lines, seed):
        rnd = random.Random(seed)
        path = os.path.join(self.tmp, name)
        words = ["%s%d" % (w, n) for w in ("alpha", "beta", "gamma", "delta", "eps") for n in range(200)]
        with open(path, "w") as f:
            for _ in range(lines):
                f.write("%s %d %s %.3f\n" % (rnd.choice(words), rnd.randrange(10**6),
                                             rnd.choice(words), rnd.random() * 1000))
        return path

    def test_python3(self):
        out = self.check_program([PYTHON, os.path.join(WORKLOADS, "dicts.py")])
        self.assertEqual(out.returncode, 3)
        self.assertIn(b"json", out.stdout)

    def test_perl(self):
        out = self.check_program(["perl", os.path.join(WORKLOADS, "words.pl")])
        self.assertEqual(out.returncode, 4)
        self.assertIn(b"bigrams", out.stdout)

    def test_git(self):
        repo = os.path.join(self.tmp, "repo")
        out = self.check_program(
            ["bash", os.path.join(WORKLOADS, "git_session.sh"), repo],
            prepare=lambda: shutil.rmtree(repo, ignore_errors=True))
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn(b"merge feature", out.stdout)

    def test_sqlite3(self):
        script = os.path.join(self.tmp, "shop.sql")
        subprocess.run([PYTHON, os.environ["MEMLEAK_SQL_GEN"], "--rows", "20000",
                        "--output", script], check=True)
        db = os.path.join(self.tmp, "shop.db")

        def fresh_db():
            if os.path.exists(db):
                os.unlink(db)

        out = self.check_program(["sqlite3", db], stdin_path=script, prepare=fresh_db,
                                 expect_leaks=False)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn(b"rows|1000|500|20000|", out.stdout)

    def test_xz_threads(self):
        data = self.write_text_data("data.txt", 150000, 7)
        packed = self.check_program(["xz", "-T2", "-3", "--block-size=1MiB", "-c", data],
                                    expect_leaks=False)
        self.assertEqual(packed.returncode, 0, packed.stderr.decode(errors="replace"))
        xz_file = os.path.join(self.tmp, "data.txt.xz")
        with open(xz_file, "wb") as f:
            f.write(packed.stdout)
        unpacked = self.check_program(["xz", "-T2", "-d", "-c", xz_file], expect_leaks=False)
        with open(data, "rb") as f:
            self.assertEqual(unpacked.stdout, f.read())

    def test_sort_parallel(self):
        data = self.write_text_data("lines.txt", 200000, 11)
        out = self.check_program(["sort", "--parallel=2", "-S", "8M", "-k3,3", "-k2,2n", data],
                                 expect_leaks=False)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertEqual(out.stdout.count(b"\n"), 200000)

    def test_bash_pipeline(self):
        out = self.check_program(["bash", os.path.join(WORKLOADS, "pipeline.sh")])
        self.assertEqual(out.returncode, 5)
        self.assertIn(b"job 3 ", out.stdout)

    def test_python3_multiprocessing(self):
        out = self.check_program([PYTHON, os.path.join(WORKLOADS, "procs.py")],
                                 expect_leaks=False)
        self.assertEqual(out.returncode, 6, out.stderr.decode(errors="replace"))
        self.assertEqual(out.stdout.count(b"fork "), 17)
        self.assertEqual(out.stdout.count(b"spawn "), 17)
        self.assertIn(b"queue [(0, ", out.stdout)
        self.assertIn(b"[0, 0, 0]", out.stdout)

    def test_cmake_and_make(self):
        cmake, make = shutil.which("cmake"), shutil.which("make")
        if cmake is None or make is None:
            self.skipTest("cmake and make are not installed")
        source = os.path.join(WORKLOADS, "cmake_project")
        build = os.path.join(self.tmp, "build")

        def fresh():
            shutil.rmtree(build, ignore_errors=True)

        configured = self.check_program([cmake, "-S", source, "-B", build, "-G", "Unix Makefiles",
                                         "-DCMAKE_BUILD_TYPE=Release"],
                                        prepare=fresh, expect_leaks=False)
        self.assertEqual(configured.returncode, 0, configured.stderr.decode(errors="replace"))
        self.assertIn(b"Build files have been written to", configured.stdout)

        def clean():
            subprocess.run([make, "-C", build, "clean"], stdout=subprocess.DEVNULL, check=True,
                           timeout=RUN_TIMEOUT)

        # Two jobs finish in any order, natively too, and the progress
        # figures follow that order: the lines are compared as a set without
        # them, and the program built is run.
        built = self.check_program([make, "-C", build, "-j2", "--no-print-directory"],
                                   prepare=clean, expect_leaks=False, normalize=unordered_lines)
        self.assertEqual(built.returncode, 0, built.stderr.decode(errors="replace"))
        self.assertIn(b"Built target shapes", built.stdout)
        shapes = subprocess.run([os.path.join(build, "shapes")], stdout=subprocess.PIPE,
                                check=True, timeout=RUN_TIMEOUT).stdout
        self.assertIn(b"square      25.0000\n", shapes)

    def test_gxx(self):
        gxx = shutil.which("g++")
        if gxx is None:
            self.skipTest("g++ is not installed")
        source = os.path.join(self.tmp, "unit.cpp")
        with open(source, "w") as f:
            f.write(CXX_UNIT)
        # The assembly on stdout: the compiler's whole output, compared byte for byte.
        out = self.check_program([gxx, "-std=c++17", "-O2", "-g", "-S", "-o", "-", source],
                                 expect_leaks=False)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn(b"_ZN6ledger", out.stdout)

    def test_tar_gzip(self):
        top = os.path.join(self.tmp, "archive")
        out = self.check_program(["bash", os.path.join(WORKLOADS, "archive.sh"), top],
                                 expect_leaks=False)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn(b"extracted tree identical", out.stdout)
        self.assertIn(b"round trip identical", out.stdout)

    def test_gdb(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if shutil.which("gdb") is None or cc is None:
            self.skipTest("gdb and a C compiler are needed")
        source = os.path.join(WORKLOADS, "debugged.c")
        program = os.path.join(self.tmp, "debugged")
        subprocess.run([cc, "-g", "-O0", "-o", program, source], check=True, timeout=RUN_TIMEOUT)
        out = self.check_program(["bash", os.path.join(WORKLOADS, "gdb_session.sh"), program,
                                  source])
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn(b"Value returned is $3 = 55", out.stdout)
        self.assertIn(b"exited normally", out.stdout)


# Templates, the standard library and a virtual class: work for every pass
# of the compiler.
CXX_UNIT = r"""
#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

namespace ledger {
struct Entry {
    std::string account;
    long cents;
};

class Book {
public:
    virtual ~Book() = default;
    virtual void add(const Entry &e) { totals_[e.account] += e.cents; entries_.push_back(e); }
    std::string report() const {
        std::ostringstream out;
        for (const auto &[account, cents] : totals_)
            out << account << ' ' << cents / 100 << '.' << cents % 100 << '\n';
        return out.str();
    }
    long sum() const {
        return std::accumulate(entries_.begin(), entries_.end(), 0L,
                               [](long s, const Entry &e) { return s + e.cents; });
    }

private:
    std::map<std::string, long> totals_;
    std::vector<Entry> entries_;
};

std::unique_ptr<Book> make_book(const std::vector<std::string> &names) {
    auto book = std::make_unique<Book>();
    long n = 0;
    for (const auto &name : names)
        book->add({name, ++n * 1234});
    return book;
}
}  // namespace ledger

int main() {
    auto book = ledger::make_book({"rent", "food", "rent", "books"});
    return book->sum() == 12340 && !book->report().empty() ? 0 : 1;
}
"""


if __name__ == "__main__":
    unittest.main()
