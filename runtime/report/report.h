// The live-block report: what MEMLEAK_REPORT writes at exit and what
// memleak_report() writes on demand. It reads the table only through the
// exported `memleak_introspect`, as an out-of-process reader would.
#pragma once

#include <cstdint>

#include "memleak/abi.h"

namespace memleak::report {

// Called from the runtime's destructor with the re-entrancy guard set.
// Does nothing unless MEMLEAK_REPORT or MEMLEAK_EXITCODE is set; may end
// the process with _exit(MEMLEAK_EXITCODE) when unsuppressed blocks remain.
void exit_report();

struct Settings {
    unsigned groups = 20;                 // stacks shown
    unsigned frames = 32;                 // frames shown per stack
    const char *suppressions = nullptr;   // file of leak: lines, or null
    bool at_exit = false;                 // wording, and silence when nothing is live
};

struct Totals {
    uint64_t bytes = 0, blocks = 0;                        // not suppressed
    uint64_t suppressed_bytes = 0, suppressed_blocks = 0;
};

// Writes the report for the table behind `ix` to `fd`. Returns 0, or the
// errno of the failed write.
int write_report(const memleak_introspect *ix, int fd, const Settings &settings, Totals *totals);

}  // namespace memleak::report
