// Interned allocation stacks. Identical stacks are stored once; a record
// holds only the stack's id. The layout (chunks of entries, ids as word
// offsets) is abi.h's, so a reader decodes ids without any runtime help.
//
// Lookups of stacks already present take no lock: they probe an
// open-addressing table of (hash << 32 | id) words that is published with
// release order once each entry is complete. A grown table replaces the old
// one, which is never unmapped, so a racing reader stays safe. Only
// inserting a new stack takes the depot lock (memleak_introspect_t.stack_lock).
#pragma once

#include <cstddef>
#include <cstdint>

#include "memleak/abi.h"

namespace memleak {

class StackDepot {
public:
    static constexpr uint32_t kChunkSize = 1u << 20;
    static constexpr uint32_t kWordsPerChunk = kChunkSize / 8;
    static constexpr uint32_t kMaxChunks = 4096;  // 4 GiB of stacks

    // Publishes the depot's layout in `root` (stack_* fields); the depot
    // keeps its counters and lock there.
    void init(memleak_introspect_t *root);

    // Returns the stack's id, inserting it if new; 0 when the depot has no
    // memory left. `depth` is 1..65535.
    uint32_t intern(const uint64_t *pcs, uint32_t depth, uint16_t flags);

    // Decodes an id the way abi.h tells a reader to; nullptr if invalid.
    const memleak_stack_t *find(uint32_t id) const;

    static uint32_t hash_stack(const uint64_t *pcs, uint32_t depth, uint16_t flags);

    uint64_t mapped_bytes() const { return mapped_bytes_; }

    void lock();
    void unlock();
    void reset_lock();

private:
    struct Table {
        uint64_t mask;
        uint64_t slots[1];  // mask + 1 words: hash << 32 | id, 0 empty
    };

    uint32_t lookup(const Table *t, uint32_t hash, const uint64_t *pcs, uint32_t depth, uint16_t flags) const;
    uint32_t append(uint32_t hash, const uint64_t *pcs, uint32_t depth, uint16_t flags);
    bool grow_table();
    static void table_put(Table *t, uint64_t slot_word);

    memleak_introspect_t *root_;
    Table *table_;  // read with acquire, replaced with release
    uint64_t table_used_;
    uint32_t chunk_words_used_;  // in the newest chunk
    uint64_t mapped_bytes_;
    uint64_t dir_[kMaxChunks];
};

}  // namespace memleak
