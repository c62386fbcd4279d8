// Function names as users write them, the same in the exit report as in
// the gdb extension (gdb/memleak_gdb/frames.py, clean_name): libstdc++'s
// spelled-out std::string and std::__cxx11:: shortened, no space before a
// closing '>', and glibc's internal __GI_ aliases under their public names.
#pragma once

#include <cstddef>

namespace memleak::report {

// `name` cleaned into `out` (of `cap` bytes) and returned; `name` itself
// when nothing changes or the result does not fit. Null stays null.
const char *clean_name(const char *name, char *out, size_t cap);

}  // namespace memleak::report
