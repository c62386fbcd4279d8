// The runtime's own memory: anonymous mmap, never the hooked allocator, so
// bookkeeping cannot recurse into the hooks or disturb the program's heap.
// Every mapping is published in the region table (table/regions.h) before
// it is handed out and unpublished after it is unmapped, so no reader takes
// the runtime's bookkeeping for the program's memory.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include "table/regions.h"

namespace memleak {

constexpr size_t kPageSize = 4096;

inline size_t round_to_pages(size_t bytes) { return (bytes + kPageSize - 1) & ~(kPageSize - 1); }

// Zeroed pages of `kind` (MEMLEAK_REGION_*), or nullptr when the kernel
// refuses or the region table is full.
inline void *map_pages(size_t bytes, uint32_t kind) {
    const size_t size = round_to_pages(bytes);
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return nullptr;
    if (!publish_region(p, size, kind)) {
        munmap(p, size);
        return nullptr;
    }
    return p;
}

inline void unmap_pages(void *p, size_t bytes) {
    if (p) {
        munmap(p, round_to_pages(bytes));
        unpublish_region(p, round_to_pages(bytes));
    }
}

}  // namespace memleak
