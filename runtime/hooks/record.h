// Recording an allocation from inside a hook: the unwinder captures the
// caller's stack, the tracker records the block, and the unwinder's rule
// cache looks about once a second for modules glibc unloaded without
// dlclose. Here because only the hooks use both.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/runtime_stack.h"
#include "core/tracker.h"
#include "unwind/unwinder.h"

namespace memleak {

struct AllocNote {
    void *p;
    size_t size;
};
// on_alloc's work on the runtime stack; `frame` is the switch's frame on
// the program's stack, where the unwind starts.
void record_on_runtime_stack(void *note, const uintptr_t *frame);

// Records a block the program just got, with the caller's stack, on the
// runtime's own stack when the thread has one (core/runtime_stack.h).
// Inline, so that the unwind starts in the hook's frame: a frame of its
// own would be one more frame to unwind on every allocation.
__attribute__((always_inline)) inline void on_alloc(void *p, size_t size) {
    if (void *top = runtime_stack()) {
        AllocNote note{p, size};
        memleak_call_on_stack(record_on_runtime_stack, &note, top);
        return;
    }
    uint32_t first = 0;
    bool truncated = false;
    const uint32_t max_depth = tracker::prepare_alloc(p);
    // Sized for MEMLEAK_DEPTH, not for its limit: this sits on the
    // program's stack, which may be a small one.
    uint64_t frames[unwind::capture_capacity(max_depth)];
    // Captured before any lock: unwinding is the slow part, and libunwind
    // may take the loader's lock.
    const uint32_t depth = unwind::capture(frames, max_depth, &first, &truncated);
    if (const uint32_t ticks = tracker::record_alloc(p, size, frames + first, depth, truncated))
        unwind::poll_unloads(ticks);
}

}  // namespace memleak
