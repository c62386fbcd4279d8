#include "hooks/record.h"

namespace memleak {

void record_on_runtime_stack(void *note, const uintptr_t *frame) {
    const auto *n = static_cast<const AllocNote *>(note);
    uint32_t first = 0;
    bool truncated = false;
    const uint32_t max_depth = tracker::prepare_alloc(n->p);
    uint64_t frames[unwind::capture_capacity(max_depth)];
    const uint32_t depth = unwind::capture_from(frame, frames, max_depth, &first, &truncated);
    if (const uint32_t ticks = tracker::record_alloc(n->p, n->size, frames + first, depth, truncated))
        unwind::poll_unloads(ticks);
}

}  // namespace memleak
