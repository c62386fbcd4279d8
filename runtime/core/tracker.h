// The tracker: what the hooks notify after the real allocator has done its
// work. It owns the global table, the stack depot, the clock and the
// counters of memleak_introspect_t. Hooks call it with the re-entrancy guard
// held and errno saved. It knows nothing of the unwinder: the hooks hand it
// the stack (hooks/record.h), and the lifecycle (hooks/lifecycle.cpp) puts
// the two together at start and around fork.
#pragma once

#include <cstddef>
#include <cstdint>

#include "table/alloc_table.h"

namespace memleak {
namespace tracker {

extern bool g_recording;

// True once begin_recording() has run: before that, nothing is recorded
// (libunwind is not ready and the options are not read).
inline bool recording() { return __atomic_load_n(&g_recording, __ATOMIC_ACQUIRE); }

// Reads the options and sets up clock, table, depot and marks; nothing is
// recorded until begin_recording().
void start();
// Publishes the table (magic last) and turns recording on.
void begin_recording();

// The two halves of recording an allocation around the unwind (which the
// hook does, see hooks/record.h). prepare_alloc returns the stack depth to
// capture; record_alloc interns the stack and records the block, and
// returns the block's time in ticks (0 when recording has stopped).
uint32_t prepare_alloc(void *p);
uint32_t record_alloc(void *p, size_t size, const uint64_t *pcs, uint32_t depth, bool truncated);

// Fork: the depot lock, then every shard lock, held across fork() (the
// caller takes the unwinder's locks first); released in the parent, reset
// in the child, where this thread's tid and the root's pid are new too.
void lock_for_fork();
void unlock_after_fork();
void reset_in_child();

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
