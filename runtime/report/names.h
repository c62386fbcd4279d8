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

// True for the call operator of a lambda as the DWARF names it when the
// lambda was inlined: "operator()..." with no class before it.
bool is_lambda_call(const char *name);

// The name of lambda call operator `op` inlined into the function named
// `caller` (as demangled): "OWNER::{lambda}::OP", OWNER the function the
// lambda was written in: the caller, or the function named in the caller's
// template argument (`apply<fill()::<lambda(int)> >`). Written into `out`
// and returned; `op` when it does not fit.
const char *lambda_name(const char *op, const char *caller, char *out, size_t cap);

}  // namespace memleak::report
