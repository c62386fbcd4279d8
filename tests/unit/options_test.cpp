#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include "core/options.h"

namespace memleak {
namespace {

std::map<std::string, std::string> g_env;

const char *fake_getenv(const char *name) {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
}

// Parses g_env and returns what went to the error fd.
std::string parse(Options *o) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    parse_options(o, fake_getenv, fds[1]);
    close(fds[1]);
    std::string err;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        err.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    return err;
}

TEST(Options, MissingValuesKeepTheDefaults) {
    g_env.clear();
    Options o;
    o.depth = 5;  // parse_options sets every option, not only those present
    EXPECT_EQ(parse(&o), "");
    Options d;
    EXPECT_EQ(o.depth, d.depth);
    EXPECT_EQ(o.depth, 32u);
    EXPECT_EQ(o.report_groups, d.report_groups);
    EXPECT_EQ(o.report_frames, d.report_frames);
    EXPECT_EQ(o.exitcode, d.exitcode);
    EXPECT_STREQ(o.report, "");
    EXPECT_STREQ(o.suppressions, "");
}

TEST(Options, ValidValuesAreTaken) {
    g_env = {{"MEMLEAK_DEPTH", "64"},
             {"MEMLEAK_REPORT", "/tmp/r.%p"},
             {"MEMLEAK_REPORT_GROUPS", "3"},
             {"MEMLEAK_REPORT_FRAMES", "256"},
             {"MEMLEAK_SUPPRESSIONS", "supp.txt"},
             {"MEMLEAK_EXITCODE", "23"}};
    Options o;
    EXPECT_EQ(parse(&o), "");
    EXPECT_EQ(o.depth, 64u);
    EXPECT_STREQ(o.report, "/tmp/r.%p");
    EXPECT_EQ(o.report_groups, 3u);
    EXPECT_EQ(o.report_frames, 256u);
    EXPECT_STREQ(o.suppressions, "supp.txt");
    EXPECT_EQ(o.exitcode, 23);
}

TEST(Options, InvalidNumberKeepsDefaultWithOneLine) {
    g_env = {{"MEMLEAK_DEPTH", "12abc"}};
    Options o;
    const std::string err = parse(&o);
    EXPECT_EQ(o.depth, 32u);
    EXPECT_EQ(err, "memleak: ignoring MEMLEAK_DEPTH=12abc (expected an integer in 1..256); keeping 32\n");
}

TEST(Options, OutOfRangeKeepsDefault) {
    for (const char *bad : {"0", "257", "-1", "", "99999999999999999999999"}) {
        g_env = {{"MEMLEAK_DEPTH", bad}, {"MEMLEAK_EXITCODE", "256"}};
        Options o;
        const std::string err = parse(&o);
        EXPECT_EQ(o.depth, 32u) << bad;
        EXPECT_EQ(o.exitcode, 0) << bad;
        EXPECT_NE(err.find("MEMLEAK_DEPTH"), std::string::npos) << bad;
        EXPECT_NE(err.find("MEMLEAK_EXITCODE=256"), std::string::npos) << bad;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << bad;
    }
}

TEST(Options, BoundsAreInclusive) {
    g_env = {{"MEMLEAK_DEPTH", "1"}, {"MEMLEAK_EXITCODE", "255"}};
    Options o;
    EXPECT_EQ(parse(&o), "");
    EXPECT_EQ(o.depth, 1u);
    EXPECT_EQ(o.exitcode, 255);
}

TEST(Options, TooLongPathIsRefused) {
    g_env = {{"MEMLEAK_REPORT", std::string(5000, 'x')}};
    Options o;
    const std::string err = parse(&o);
    EXPECT_STREQ(o.report, "");
    EXPECT_NE(err.find("MEMLEAK_REPORT"), std::string::npos);
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1);
}

TEST(Options, HelpListsEveryOption) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    write_option_help(fds[1]);
    close(fds[1]);
    char buf[8192];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    const std::string help(buf, n > 0 ? static_cast<size_t>(n) : 0);
    for (const char *name :
         {"MEMLEAK_DEPTH", "MEMLEAK_REPORT", "MEMLEAK_REPORT_GROUPS", "MEMLEAK_REPORT_FRAMES",
          "MEMLEAK_SUPPRESSIONS", "MEMLEAK_EXITCODE", "MEMLEAK_HELP"})
        EXPECT_NE(help.find(name), std::string::npos) << name;
}

}  // namespace
}  // namespace memleak
