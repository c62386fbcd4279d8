// The tracker: what the hooks notify after the real allocator has done its
// work. It owns the global table, the stack depot, the clock and the
// counters of memleak_introspect_t. Hooks call it with the re-entrancy guard
// held and errno saved.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/alloc_table.h"
#include "unwind/unwinder.h"

namespace memleak {

// Fills version, size and every layout field from offsetof.
void publish_layout(memleak_introspect_t *root);

// The marks table (marks.cpp): published in `root`, written by
// memleak_mark(). Returns the sequence number stored, 0 when full.
void init_marks(memleak_introspect_t *root);
uint64_t set_mark(const char *name);

namespace tracker {

extern bool g_recording;

// True once start() has run: before that, nothing is recorded (libunwind
// is not ready and the options are not read).
inline bool recording() { return __atomic_load_n(&g_recording, __ATOMIC_ACQUIRE); }

// Reads the options, sets up clock, table, depot and unwinder, registers
// the fork handlers, then turns recording on.
void start();

// The two halves of on_alloc around the unwind. prepare_alloc returns the
// stack depth to capture; record_alloc interns the stack and records the block.
uint32_t prepare_alloc(void *p);
void record_alloc(void *p, size_t size, const uint64_t *pcs, uint32_t depth, bool truncated);

// Records a block the program just got, with the caller's stack. Inline,
// so that the unwind starts in the hook's frame: a frame of its own would
// be one more frame to unwind on every allocation.
__attribute__((always_inline)) inline void on_alloc(void *p, size_t size) {
    uint64_t frames[unwind::kCaptureCapacity];
    uint32_t first = 0;
    bool truncated = false;
    const uint32_t max_depth = prepare_alloc(p);
    // Captured before any lock: unwinding is the slow part, and libunwind
    // may take the loader's lock.
    const uint32_t depth = unwind::capture(frames, max_depth, &first, &truncated);
    record_alloc(p, size, frames + first, depth, truncated);
}
// Forgets a block before it goes back to the allocator.
void on_free(void *p);
// realloc: takes the old record out before the real call ...
bool take(void *p, RecordData *out);
// ... and puts it back unchanged if the real call failed.
void put_back(const RecordData &rec);
void note_untracked_free();
void add_bootstrap_bytes(size_t n);

uint32_t now_ticks();
uint64_t last_seq();

}  // namespace tracker
}  // namespace memleak
