// The live-block report: what MEMLEAK_REPORT writes at exit and what
// memleak_report() writes on demand. It reads the table from the exported
// `memleak_introspect` with the table reader (memleak/table_reader.h) over
// this process's memory, as an out-of-process reader would, except that it
// takes each shard's lock around the shard's copy (a reader outside the
// process cannot) and reads the stacks' return addresses in place.
//
//   ==PID== memleak: 3 live blocks (1.5 KiB) at exit, in 2 stacks
//   1024 bytes in 1 block(s) allocated from:
//       #0 0x55d0c0a0119d in make_buffer /src/leak.c:12
//       #1 0x55d0c0a011c0 in helper /src/util.h:7 (inlined)
//       #2 0x55d0c0a011c0 in main /src/leak.c:30
//       #3 0x7f0e4c02324a in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x2724a)
//   <blank line after each stack>
//   ... 5 more stacks (300 bytes in 7 blocks) not shown (MEMLEAK_REPORT_GROUPS=20)
//   Suppressed: 64 bytes in 2 blocks (by 1 pattern)
//   SUMMARY: memleak: 1324 bytes in 3 blocks
//
// Stacks come largest first. Frames sharing a pc are one call site seen
// through inlining: the "(inlined)" one was expanded into the next, which
// shows the line of that expansion. A frame without line information shows
// its symbol, if any, and object+offset (what addr2line takes). Lines
// starting `memleak:` are notes (a bad suppression file, shards read while
// changing, dropped records). At exit nothing at all is written when no
// block is live; the last line is always the SUMMARY otherwise.
#pragma once

#include <cstdint>

#include "core/options.h"
#include "memleak/abi.h"

namespace memleak::report {

// Called from the runtime's destructor with the re-entrancy guard set.
// Does nothing unless MEMLEAK_REPORT or MEMLEAK_EXITCODE is set; may end
// the process with _exit(MEMLEAK_EXITCODE) when unsuppressed blocks remain.
void exit_report();

struct Settings {
    unsigned groups = option_default::report_groups;  // stacks shown
    unsigned frames = option_default::report_frames;  // frames shown per stack
    const char *suppressions = nullptr;   // file of leak: lines, or null
    bool at_exit = false;                 // wording, and silence when nothing is live
    bool debuginfod = false;              // ask DEBUGINFOD_URLS' servers for debug info
};

struct Totals {
    uint64_t bytes = 0, blocks = 0;                        // not suppressed
    uint64_t suppressed_bytes = 0, suppressed_blocks = 0;
};

// Writes the report for the table behind `ix` to `fd`. Returns 0, or the
// errno of the failed write.
int write_report(const memleak_introspect_t *ix, int fd, const Settings &settings, Totals *totals);

}  // namespace memleak::report
