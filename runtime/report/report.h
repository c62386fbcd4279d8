// The live-block report: what MEMLEAK_REPORT writes at exit and what
// memleak_report() writes on demand. It reads the table from the exported
// `memleak_introspect` with the table reader (memleak/table_reader.h) over
// this process's memory, as an out-of-process reader would, except that it
// takes each shard's lock around the shard's copy (a reader outside the
// process cannot) and reads the stacks' return addresses in place.
//
// At exit the blocks are classified first (report/leak_scan.h) and only the
// lost ones are listed, as LeakSanitizer does; still-reachable blocks are
// summed up in one line unless MEMLEAK_REPORT_REACHABLE=1 lists them too:
//
//   ==PID== memleak: 4 live blocks (2.5 KiB) at exit: 2 lost (1.2 KiB) in 2 stacks, 2 still reachable (1.3 KiB)
//   1000 bytes in 1 block(s) definitely lost, allocated from:
//       #0 0x55d0c0a0119d in make_buffer /src/leak.c:12
//       #1 0x55d0c0a011c0 in helper /src/util.h:7 (inlined)
//       #2 0x55d0c0a011c0 in main /src/leak.c:30
//       #3 0x7f0e4c02324a in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x2724a)
//   <blank line after each stack>
//   200 bytes in 1 block(s) indirectly lost, allocated from:
//   ...
//   ... 5 more stacks (300 bytes in 7 blocks) not shown (MEMLEAK_REPORT_GROUPS=20)
//   Still reachable: 1324 bytes in 2 blocks, in 1 stack (MEMLEAK_REPORT_REACHABLE=1 lists them)
//   Suppressed: 64 bytes in 2 blocks (by 1 pattern)
//   SUMMARY: memleak: 1200 bytes lost in 2 blocks (definitely 1000 in 1, indirectly 200 in 1, possibly 0 in 0); 1324 bytes still reachable in 2 blocks
//
// Lost stacks come first (definitely, then indirectly, then possibly lost),
// each kind largest first, then still-reachable ones when listed. At exit
// nothing at all is written when nothing is lost and still-reachable blocks
// are not to be listed.
//
// Unclassified (memleak_report() while the program runs, or an exit scan
// that could not run, which a `memleak:` note explains) every live block
// is listed:
//
//   ==PID== memleak: 3 live blocks (1.5 KiB) now, in 2 stacks
//   1024 bytes in 1 block(s) allocated from:
//   ...
//   SUMMARY: memleak: 1324 bytes in 3 blocks
//
// Frames sharing a pc are one call site seen through inlining: the
// "(inlined)" one was expanded into the next, which shows the line of that
// expansion. A frame without line information shows its symbol, if any, and
// object+offset (what addr2line takes). Lines starting `memleak:` are notes
// (a bad suppression file, shards read while changing, dropped records,
// threads that could not be stopped). The last line is always the SUMMARY.
#pragma once

#include <cstdint>

#include "core/options.h"
#include "memleak/abi.h"
#include "report/leak_scan.h"

namespace memleak::report {

// Called from the runtime's destructor with the re-entrancy guard set.
// Does nothing unless MEMLEAK_REPORT or MEMLEAK_EXITCODE is set; may end
// the process with _exit(MEMLEAK_EXITCODE) when unsuppressed lost blocks
// remain (any unsuppressed block, when the blocks could not be classified).
void exit_report();

struct Settings {
    unsigned groups = option_default::report_groups;  // stacks shown
    unsigned frames = option_default::report_frames;  // frames shown per stack
    const char *suppressions = nullptr;               // file of leak: lines, or null
    bool at_exit = false;                             // wording, and silence when nothing is live
    bool debuginfod = false;                          // ask DEBUGINFOD_URLS' servers for debug info
    bool show_reachable = false;                      // list still-reachable blocks, not just count them
    // The exit scan's outcome and its classified copy of the table; null:
    // the report copies the table itself and lists every block unclassified.
    const ExitScan *scan = nullptr;
    Scratch<BlockItem> *classified = nullptr;
};

struct Totals {
    uint64_t bytes = 0, blocks = 0;  // not suppressed
    uint64_t suppressed_bytes = 0, suppressed_blocks = 0;
    // Of bytes and blocks, when classified: per MEMLEAK_SCAN_* class.
    uint64_t kind_bytes[5] = {}, kind_blocks[5] = {};
    bool classified = false;
    // What --fail-on-leak counts: lost blocks when classified, else every block.
    uint64_t failing_blocks() const {
        if (!classified)
            return blocks;
        return kind_blocks[MEMLEAK_SCAN_DEFINITELY_LOST] + kind_blocks[MEMLEAK_SCAN_INDIRECTLY_LOST] +
               kind_blocks[MEMLEAK_SCAN_POSSIBLY_LOST];
    }
};

// Writes the report for the table behind `ix` to `fd`. Returns 0, or the
// errno of the failed write.
int write_report(const memleak_introspect_t *ix, int fd, const Settings &settings, Totals *totals);

}  // namespace memleak::report
