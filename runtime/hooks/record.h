// Recording an allocation from inside a hook: the unwinder captures the
// caller's stack, the tracker records the block, and the unwinder's rule
// cache looks about once a second for modules glibc unloaded without
// dlclose. Here because only the hooks use both.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tracker.h"
#include "unwind/unwinder.h"

namespace memleak {

// Records a block the program just got, with the caller's stack. Inline,
// so that the unwind starts in the hook's frame: a frame of its own would
// be one more frame to unwind on every allocation.
__attribute__((always_inline)) inline void on_alloc(void *p, size_t size) {
    uint64_t frames[unwind::kCaptureCapacity];
    uint32_t first = 0;
    bool truncated = false;
    const uint32_t max_depth = tracker::prepare_alloc(p);
    // Captured before any lock: unwinding is the slow part, and libunwind
    // may take the loader's lock.
    const uint32_t depth = unwind::capture(frames, max_depth, &first, &truncated);
    if (const uint32_t ticks = tracker::record_alloc(p, size, frames + first, depth, truncated))
        unwind::poll_unloads(ticks);
}

}  // namespace memleak
