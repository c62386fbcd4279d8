#include "scan/work_memory.h"

#include <sys/mman.h>

namespace memleak::scan {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

void *map_anonymous(void *, size_t bytes) {
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return nullptr;
    // The index and the per-block arrays are read at random: huge pages
    // spare a TLB miss on most lookups where the kernel allows them.
    if (bytes >= kHugePage)
        madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

void unmap_anonymous(void *, void *memory, size_t bytes) { munmap(memory, bytes); }

const memleak_scan_allocator_t kAnonymousMaps = {map_anonymous, unmap_anonymous, nullptr};

}  // namespace

WorkMemory::WorkMemory(const memleak_scan_allocator_t *allocator)
    : allocator_(allocator && allocator->allocate ? allocator : &kAnonymousMaps) {}

WorkMemory::~WorkMemory() {
    while (count_ > 0) {
        --count_;
        if (allocator_->release)
            allocator_->release(allocator_->context, allocations_[count_].memory, allocations_[count_].bytes);
    }
}

void *WorkMemory::allocate(size_t bytes) {
    if (count_ == kMaxAllocations)
        return nullptr;
    if (bytes == 0)
        bytes = 1;
    void *memory = allocator_->allocate(allocator_->context, bytes);
    if (memory)
        allocations_[count_++] = {memory, bytes};
    return memory;
}

}  // namespace memleak::scan
