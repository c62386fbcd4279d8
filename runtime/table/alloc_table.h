// The live-block table: 64 shards, each a memleak_shard_t (the part readers
// see, laid out by abi.h) plus runtime-private state (address index and
// free list) that no reader needs.
//
// Records sit in fixed chunks of kRecordsPerChunk records, so a record never
// moves once written and a reader walks chunks[0..chunk_count) without
// caring about the index. The index is open addressing with linear probing
// over uint32 slots: an 8-bit tag over a 24-bit record index (a shard holds
// at most 8192 * 2048 = 2^24 records). The tag is a fingerprint of the
// address hash, so a probe reads a record only when the fingerprints agree:
// the index is a few contiguous cache lines, the records are megabytes.
// Together with the 32-byte record that keeps bookkeeping under 48 bytes per
// live block.
//
// A removed entry leaves a tombstone instead of shifting later entries back
// (a shift needs each entry's home slot, which only its record's address
// gives). Inserts reuse tombstones; when tombstones and entries fill three
// quarters of the index (past that, probes grow long), it is rebuilt by
// streaming through the record chunks: doubled when live entries fill more
// than three fifths, else at the same capacity. A doubled index is then at
// least 30% live, at most 13.3 bytes per live block.
//
// Every change happens under the shard's futex lock word (memleak_shard_t.lock).
// Memory is mapped outside the lock and installed under it; nothing here
// calls malloc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memleak/abi.h"

namespace memleak {

struct RecordData {
    uint64_t address;
    uint64_t size;
    uint64_t seq;
    uint32_t ticks;
    uint32_t tid;
    uint32_t stack_id;
};

class AllocTable {
public:
    static constexpr uint32_t kShardCount = 64;
    static constexpr uint32_t kShardShift = 58;         // 64 - log2(kShardCount)
    static constexpr uint32_t kRecordsPerChunk = 2048;  // 64 KiB of records
    // 64 shards * 8192 chunks * 2048 records: about 1.07e9 live blocks.
    static constexpr uint32_t kMaxChunksPerShard = 8192;

    enum class InsertResult { kAdded, kReplaced, kNoMemory };

    // Records a block. kReplaced: the table still held a record for this
    // address (its block was freed where the runtime could not see it); that
    // record was overwritten and its size is returned in *replaced_size.
    InsertResult insert(const RecordData &rec, uint64_t *replaced_size);

    // Starts loading the lines an insert of `address` touches (its shard,
    // index slot and the record it will fill), for a caller with slower work
    // to do before the insert. A hint: it takes no lock and changes nothing.
    void prefetch(uint64_t address) const;

    // Takes the record of `address` out of the table; false if there is none.
    bool remove(uint64_t address, uint32_t ticks, RecordData *out);

    // Puts back a record that remove() took out, as if it had never left:
    // the shard's frees counter goes back down. False when out of memory.
    bool restore(const RecordData &rec);

    // Keeps a process-wide live-bytes counter and its peak alongside the
    // shards. They change under the shard lock, so a fork (which holds
    // every shard lock) sees them agree with the shard sums.
    void track_global_bytes(uint64_t *live_bytes, uint64_t *peak_bytes) {
        global_live_ = live_bytes;
        global_peak_ = peak_bytes;
    }

    memleak_shard_t *shards() { return shards_; }
    static uint32_t shard_of(uint64_t address);

    // Bytes mapped for records and address indexes, plus the touched pages
    // of the chunk directories: the table's cost, for the budget test.
    uint64_t metadata_bytes() const;

    // Fork support: every shard lock in index order, then released (parent)
    // or reset (child, where the other threads no longer exist).
    void lock_all();
    void unlock_all();
    void reset_locks();

private:
    // One cache line each: an operation on a shard reads most of it.
    struct alignas(64) ShardState {
        uint64_t *dir;  // chunk directory, kMaxChunksPerShard entries
        // tag << 24 | record index; tag 0: empty, 1: tombstone. It, the
        // mask, dir and its entries, records_used and free_head are stored
        // atomically for prefetch(), which reads them unlocked.
        uint32_t *index;
        uint32_t index_mask;    // capacity - 1; capacity 0 while index is null
        uint32_t index_used;    // live entries
        uint32_t index_tombs;   // tombstones
        uint32_t records_used;  // record slots ever handed out
        uint32_t free_head;     // record index + 1 of the first free slot, 0: none
        uint64_t mapped_bytes;  // records + index
    };

    // Memory prepared outside the lock for one insert.
    struct Spare {
        uint64_t *dir = nullptr;
        memleak_record_t *chunk = nullptr;
        uint32_t *index = nullptr;
        uint32_t index_capacity = 0;
    };

    InsertResult insert_impl(const RecordData &rec, uint64_t *replaced_size, bool restoring);
    void prefetch_lines(uint32_t shard, uint64_t h) const;
    static memleak_record_t *record_at(const ShardState &st, uint32_t index);
    // Probes for `address` (hash h). Returns its slot, or UINT32_MAX with
    // *free_slot set to where it would go (the first tombstone or the empty
    // slot that ended the probe) when free_slot is not null.
    static uint32_t find_slot(const ShardState &st, uint64_t address, uint64_t h, uint32_t *free_slot);
    static void index_erase(ShardState &st, uint32_t slot);
    // Refills `index` (zeroed, `capacity` slots) from the shard's records.
    void rebuild_index(uint32_t shard, uint32_t *index, uint32_t capacity);
    static void write_record(memleak_record_t *r, const RecordData &rec);
    static RecordData read_record(const memleak_record_t *r);
    void add_global_bytes(uint64_t delta);

    memleak_shard_t shards_[kShardCount];
    ShardState state_[kShardCount];
    uint64_t *global_live_;
    uint64_t *global_peak_;
};

}  // namespace memleak
