// The runtime's own memory: anonymous mmap, never the hooked allocator, so
// bookkeeping cannot recurse into the hooks or disturb the program's heap.
#pragma once

#include <sys/mman.h>

#include <cstddef>

namespace memleak {

constexpr size_t kPageSize = 4096;

inline size_t round_to_pages(size_t bytes) { return (bytes + kPageSize - 1) & ~(kPageSize - 1); }

// Zeroed pages, or nullptr when the kernel refuses.
inline void *map_pages(size_t bytes) {
    void *p = mmap(nullptr, round_to_pages(bytes), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

inline void unmap_pages(void *p, size_t bytes) {
    if (p)
        munmap(p, round_to_pages(bytes));
}

}  // namespace memleak
