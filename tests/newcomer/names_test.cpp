// The exit report's function names against the cases the gdb extension is
// held to too (tests/data/function_names.txt): one name for one frame.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "report/names.h"

namespace {

using memleak::report::clean_name;
using memleak::report::is_lambda_call;
using memleak::report::lambda_name;

TEST(Names, SameAsTheGdbExtension) {
    std::ifstream cases(MEMLEAK_NAME_CASES);
    ASSERT_TRUE(cases.good()) << MEMLEAK_NAME_CASES;
    std::string line;
    int checked = 0;
    while (std::getline(cases, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        const size_t tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        const size_t tab2 = line.find('\t', tab + 1);
        char out[4096];
        if (tab2 == std::string::npos) {
            const std::string name = line.substr(0, tab), expected = line.substr(tab + 1);
            EXPECT_EQ(std::string(clean_name(name.c_str(), out, sizeof out)), expected) << name;
        } else {
            const std::string op = line.substr(0, tab), caller = line.substr(tab + 1, tab2 - tab - 1),
                              expected = line.substr(tab2 + 1);
            ASSERT_TRUE(is_lambda_call(op.c_str())) << line;
            EXPECT_EQ(std::string(lambda_name(op.c_str(), caller.c_str(), out, sizeof out)), expected)
                << line;
        }
        ++checked;
    }
    EXPECT_GT(checked, 10);
}

TEST(Names, TooLongForTheBufferStaysAsItIs) {
    const char *name = "std::__cxx11::list<int, std::allocator<int> >::size() const";
    char out[8];
    EXPECT_EQ(clean_name(name, out, sizeof out), name);
    EXPECT_EQ(clean_name(nullptr, out, sizeof out), nullptr);
}

TEST(Names, UnchangedNamesAreReturnedThemselves) {
    const char *name = "app::copy_names()";
    char out[64];
    EXPECT_EQ(clean_name(name, out, sizeof out), name);
}

}  // namespace
