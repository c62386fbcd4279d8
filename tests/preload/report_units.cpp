// The report's pure parts: the writer's number formats, the suppression
// pattern language (LeakSanitizer's: substring, `*`, `^`, `$`) and the
// suppression file's diagnostics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "report/suppressions.h"
#include "report/writer.h"

namespace {

using memleak::report::pattern_match;
using memleak::report::Suppressions;
using memleak::report::Writer;

// Runs `fill` on a Writer over a pipe and returns what it wrote.
template <typename F>
std::string written(F fill) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    {
        Writer w(fds[1]);
        fill(w);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    return out;
}

TEST(ReportWriter, Numbers) {
    EXPECT_EQ(written([](Writer &w) { w.dec(0).ch(' ').dec(18446744073709551615ull); }),
              "0 18446744073709551615");
    EXPECT_EQ(written([](Writer &w) { w.hex(0).ch(' ').hex(0x55d0c0a0119dull).ch(' ').hex(~0ull); }),
              "0 55d0c0a0119d ffffffffffffffff");
}

TEST(ReportWriter, HumanSizes) {
    auto human = [](uint64_t v) { return written([v](Writer &w) { w.human(v); }); };
    EXPECT_EQ(human(0), "0 bytes");
    EXPECT_EQ(human(1), "1 byte");
    EXPECT_EQ(human(1023), "1023 bytes");
    EXPECT_EQ(human(1024), "1.0 KiB");
    EXPECT_EQ(human(1536), "1.5 KiB");
    EXPECT_EQ(human(1024 * 1024 - 1), "1.0 MiB");  // rounds up into the next unit
    EXPECT_EQ(human(3u << 20), "3.0 MiB");
    EXPECT_EQ(human(5ull << 40), "5.0 TiB");
    EXPECT_EQ(human(~0ull), "16.0 EiB");
}

TEST(ReportWriter, LongOutputIsNotCut) {
    std::string big(10000, 'x');
    EXPECT_EQ(written([&](Writer &w) { w.str(big.c_str()).str("end"); }), big + "end");
}

TEST(ReportWriter, FailedWriteIsReported) {
    Writer w(-1);
    w.str("lost");
    EXPECT_FALSE(w.flush());
    EXPECT_EQ(w.error(), EBADF);
}

bool match(const char *pattern, const char *text) { return pattern_match(pattern, strlen(pattern), text); }

TEST(ReportPatterns, SubstringByDefault) {
    EXPECT_TRUE(match("alloc", "leak_calloc"));
    EXPECT_TRUE(match("leak_calloc", "leak_calloc"));
    EXPECT_FALSE(match("callocx", "leak_calloc"));
    EXPECT_FALSE(match("alloc", ""));
    EXPECT_FALSE(match("alloc", nullptr));
}

TEST(ReportPatterns, Anchors) {
    EXPECT_TRUE(match("^leak", "leak_calloc"));
    EXPECT_FALSE(match("^calloc", "leak_calloc"));
    EXPECT_TRUE(match("calloc$", "leak_calloc"));
    EXPECT_FALSE(match("leak$", "leak_calloc"));
    EXPECT_TRUE(match("^leak_calloc$", "leak_calloc"));
    EXPECT_FALSE(match("^leak_calloc$", "leak_calloc2"));
    EXPECT_FALSE(match("^leak_calloc$", "xleak_calloc"));
}

TEST(ReportPatterns, Wildcards) {
    EXPECT_TRUE(match("str*up", "__GI___strdup"));
    EXPECT_TRUE(match("^std::*::allocate", "std::__new_allocator<int>::allocate(unsigned long)"));
    EXPECT_FALSE(match("^std::*::allocate$", "std::__new_allocator<int>::allocate(unsigned long)"));
    EXPECT_TRUE(match("a*b*c", "xaybzc"));
    EXPECT_FALSE(match("a*b*c", "xcybza"));
    EXPECT_TRUE(match("*", "anything"));
    EXPECT_TRUE(match("^*$", "anything"));
    EXPECT_TRUE(match("lib*.so*", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    // The end anchor applies after the last `*` even when an earlier
    // occurrence of the last segment would do for a plain substring.
    EXPECT_TRUE(match("a*c$", "acxc"));
    EXPECT_FALSE(match("^a*ab$", "ab"));
}

std::string load_error(const char *contents, bool *ok, size_t *count) {
    char path[] = "/tmp/memleak-supp-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, contents, strlen(contents)), static_cast<ssize_t>(strlen(contents)));
    close(fd);
    Suppressions supp;
    std::string err = written([&](Writer &w) { *ok = supp.load(path, w); });
    *count = supp.count();
    unlink(path);
    const std::string prefix = std::string("memleak: MEMLEAK_SUPPRESSIONS=") + path + ": ";
    if (err.compare(0, prefix.size(), prefix) == 0)
        err = err.substr(prefix.size());
    return err;
}

TEST(ReportSuppressions, CommentsBlanksAndPatterns) {
    bool ok;
    size_t count;
    EXPECT_EQ(
        load_error("# header\n\n  leak:foo  \r\nleak:^bar$\n\t# indented comment\nleak:baz", &ok, &count),
        "");
    EXPECT_TRUE(ok);
    EXPECT_EQ(count, 3u);
}

TEST(ReportSuppressions, MatchNamesThePattern) {
    char path[] = "/tmp/memleak-supp-XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "leak:^main$\nleak:libfoo.so\n";
    ASSERT_EQ(write(fd, text, sizeof text - 1), static_cast<ssize_t>(sizeof text - 1));
    close(fd);
    Suppressions supp;
    Writer err(STDERR_FILENO);
    ASSERT_TRUE(supp.load(path, err));
    unlink(path);
    EXPECT_EQ(supp.match("main", nullptr, nullptr), 0);
    EXPECT_EQ(supp.match("domain", "/src/main.c", "/bin/prog"), -1);
    EXPECT_EQ(supp.match(nullptr, nullptr, "/opt/lib/libfoo.so.1"), 1);
}

TEST(ReportSuppressions, MalformedFilesAreOneLineAndNoPatterns) {
    bool ok;
    size_t count;
    EXPECT_EQ(load_error("leak:a\nrace:b\n", &ok, &count),
              "line 2: expected `leak:PATTERN`, got `race:b`; no suppressions applied\n");
    EXPECT_FALSE(ok);
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(load_error("\n\nleak:\n", &ok, &count),
              "line 3: empty pattern in `leak:`; no suppressions applied\n");
    EXPECT_FALSE(ok);
    EXPECT_EQ(load_error("leak:^$\n", &ok, &count),
              "line 1: empty pattern in `leak:^$`; no suppressions applied\n");
    EXPECT_EQ(load_error("leak:ok\nleak: ^\n", &ok, &count),
              "line 2: empty pattern in `leak: ^`; no suppressions applied\n");
    EXPECT_EQ(load_error("leakfoo\n", &ok, &count),
              "line 1: expected `leak:PATTERN`, got `leakfoo`; no suppressions applied\n");
}

TEST(ReportSuppressions, UnreadableFile) {
    Suppressions supp;
    std::string err = written([&](Writer &w) { EXPECT_FALSE(supp.load("/nonexistent/supp", w)); });
    EXPECT_EQ(err,
              "memleak: MEMLEAK_SUPPRESSIONS=/nonexistent/supp: cannot read: No such file or directory; "
              "no suppressions applied\n");
    err = written([&](Writer &w) { EXPECT_FALSE(supp.load("/tmp", w)); });
    EXPECT_EQ(
        err,
        "memleak: MEMLEAK_SUPPRESSIONS=/tmp: cannot read: not a regular file or a FIFO; no suppressions applied\n");
}

}  // namespace
