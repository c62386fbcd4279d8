// Valgrind's leak-check heuristics: interior pointers that programs keep on
// purpose (a new[] array past its element count, a COW std::string past its
// header, sqlite's length64 prefix, a base-class subobject past the first
// vtable pointer) count as start pointers.
#pragma once

#include "scan/block_index.h"
#include "scan/memory_view.h"

#include <cstdint>

namespace memleak::scan {

// The first heuristic of `enabled` (MEMLEAK_SCAN_HEURISTIC_BIT set) that
// accepts `value`, an interior pointer into `block`, or
// MEMLEAK_SCAN_HEURISTIC_NONE. Block words are read through `memory`.
uint32_t heuristic_for(uint64_t value, const memleak_scan_block_t &block, uint32_t enabled,
                       const MemoryView &memory);

}  // namespace memleak::scan
