// The exit report's suppressions matcher on the shared case list
// (cases.txt), the way write_report applies it: frames innermost first,
// and for each frame the first pattern of the file that matches its
// function, file or object.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "report/suppressions.h"
#include "report/writer.h"

namespace {

struct Frame {
    std::string function, file, object;
};

struct Case {
    std::string name;
    std::vector<std::string> patterns;  // as written after `leak:`
    std::vector<Frame> frames;
    std::string expect;  // a pattern, or "none"
};

std::string field(const std::string &s) { return s == "-" ? std::string() : s; }

std::vector<Case> read_cases() {
    std::ifstream in(MEMLEAK_SUPPRESSION_CASES);
    EXPECT_TRUE(in.good()) << MEMLEAK_SUPPRESSION_CASES;
    std::vector<Case> cases;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        if (line.rfind("case ", 0) == 0) {
            cases.push_back(Case{line.substr(5), {}, {}, ""});
        } else if (line.rfind("leak:", 0) == 0) {
            cases.back().patterns.push_back(line.substr(5));
        } else if (line.rfind("frame ", 0) == 0) {
            const std::string rest = line.substr(6);
            const size_t a = rest.find(" | "), b = rest.find(" | ", a + 3);
            cases.back().frames.push_back(Frame{
                field(rest.substr(0, a)), field(rest.substr(a + 3, b - a - 3)), field(rest.substr(b + 3))});
        } else if (line.rfind("expect ", 0) == 0) {
            cases.back().expect = line.substr(7);
        } else {
            ADD_FAILURE() << "unknown line in the case list: " << line;
        }
    }
    return cases;
}

const char *text(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

TEST(SuppressionCases, TheExitReportGivesEachStackItsVerdict) {
    const std::vector<Case> cases = read_cases();
    ASSERT_GT(cases.size(), 20u);
    char dir[] = "/tmp/memleak-supp-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/cases.supp";
    for (const Case &c : cases) {
        {
            std::ofstream out(path);
            for (const std::string &p : c.patterns)
                out << "leak:" << p << "\n";
        }
        memleak::report::Suppressions supp;
        memleak::report::Writer err(STDERR_FILENO);
        ASSERT_TRUE(supp.load(path.c_str(), err)) << c.name;
        int hit = -1;
        for (const Frame &f : c.frames) {
            hit = supp.match(text(f.function), text(f.file), text(f.object));
            if (hit >= 0)
                break;
        }
        EXPECT_EQ(hit < 0 ? std::string("none") : c.patterns.at(static_cast<size_t>(hit)), c.expect)
            << c.name;
    }
    unlink(path.c_str());
    rmdir(dir);
}

}  // namespace
