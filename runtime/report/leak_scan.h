// Classification at exit, in process: which live blocks are definitely,
// indirectly or possibly lost and which are still reachable, with
// Valgrind's meaning (runtime/include/memleak/scan.h does the scan).
//
// Order, all in the thread that runs the exit report: from inside
// dl_iterate_phdr (so no other thread holds the loader's lock and the
// module list cannot change) the other threads are stopped
// (report/stop_world.h), the table is copied, the roots are collected
// (report/leak_roots.h), the scanner classifies every block, and the
// threads go on. Nothing in between calls malloc or takes a lock a stopped
// thread could hold; symbolizing and writing come after.
#pragma once

#include <cstdint>

#include "memleak/abi.h"
#include "report/leak_roots.h"
#include "report/scratch.h"

namespace memleak::report {

// A live block as the report groups it. `kind` is a MEMLEAK_SCAN_* class,
// or kUnclassified.
struct BlockItem {
    uint64_t size;
    uint32_t stack_id;
    uint32_t kind;
};

constexpr uint32_t kUnclassified = 0;

struct ExitScan {
    bool classified = false;
    const char *why_not = "";      // why not, when not classified
    unsigned stopped_threads = 0;  // other threads held during the scan
    unsigned in_flux = 0;          // shards a stopped thread was changing, read as they were
    uint64_t blocks = 0;           // live blocks classified
    uint64_t scanned_bytes = 0;    // root and block bytes the scanner read
    uint64_t scan_ns = 0;          // from the threads stopping to their going on
    uint64_t scan_cpu_ns = 0;      // of it, on the CPU (this thread's time)
};

// Classifies every live block of the table behind `ix`. On success `items`
// holds one entry per block with its class; otherwise `scan->why_not` says
// why and `items` is left empty (the caller reports blocks unclassified).
void classify_at_exit(const memleak_introspect_t *ix, const CallerState &caller, Scratch<BlockItem> *items,
                      ExitScan *scan);

}  // namespace memleak::report
