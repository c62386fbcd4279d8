// The scanner's working arrays, taken from the caller's allocator (the
// runtime's mmap arena, or anonymous mmap for the shared library) and all
// released when the scan ends, whatever way it ends.
#pragma once

#include <memleak/scan.h>

#include <cstddef>
#include <cstdint>

namespace memleak::scan {

class WorkMemory {
public:
    explicit WorkMemory(const memleak_scan_allocator_t *allocator);
    ~WorkMemory();
    WorkMemory(const WorkMemory &) = delete;
    WorkMemory &operator=(const WorkMemory &) = delete;

    // `count` elements, or nullptr when the size overflows or the allocator refuses.
    template <typename T>
    T *array(uint64_t count) {
        if (count > SIZE_MAX / sizeof(T))
            return nullptr;
        return static_cast<T *>(allocate(count * sizeof(T)));
    }

private:
    void *allocate(size_t bytes);

    static constexpr int kMaxAllocations = 16;
    struct Allocation {
        void *memory;
        size_t bytes;
    };
    const memleak_scan_allocator_t *allocator_;
    Allocation allocations_[kMaxAllocations];
    int count_ = 0;
};

}  // namespace memleak::scan
