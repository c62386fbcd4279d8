#include "table/alloc_table.h"

#include <cstring>

#include "table/futex_lock.h"
#include "table/hash.h"
#include "table/internal_alloc.h"

namespace memleak {

namespace {

constexpr uint32_t kNoSlot = UINT32_MAX;
constexpr size_t kChunkBytes = AllocTable::kRecordsPerChunk * sizeof(memleak_record_t);
constexpr size_t kDirBytes = AllocTable::kMaxChunksPerShard * sizeof(uint64_t);
constexpr uint32_t kMinIndexCapacity = 256;

constexpr uint32_t kTagShift = 24;
constexpr uint32_t kRecordMask = (1u << kTagShift) - 1;
constexpr uint32_t kEmpty = 0;
constexpr uint32_t kTombstone = 1u << kTagShift;
static_assert(uint64_t{AllocTable::kMaxChunksPerShard} * AllocTable::kRecordsPerChunk <= kRecordMask + 1,
              "a record index must fit below the tag");

// Bits 50..57 of the hash: the shard uses 58..63 and the home slot the low
// bits, so the tag still tells apart addresses that share both. Tags 0 and
// 1 are the empty and tombstone marks.
inline uint32_t tag_of(uint64_t h) {
    const uint32_t t = static_cast<uint32_t>(h >> 50) & 0xff;
    return t < 2 ? t + 2 : t;
}

// Tombstones count as filling: a probe only stops at an empty slot.
bool index_too_full(uint32_t filled, uint32_t capacity) {
    return static_cast<uint64_t>(filled + 1) * 4 > static_cast<uint64_t>(capacity) * 3;
}

}  // namespace

uint32_t AllocTable::shard_of(uint64_t address) {
    return static_cast<uint32_t>(mix64(address) >> kShardShift);
}

memleak_record_t *AllocTable::record_at(const ShardState &st, uint32_t index) {
    auto *chunk = reinterpret_cast<memleak_record_t *>(st.dir[index / kRecordsPerChunk]);
    return chunk + index % kRecordsPerChunk;
}

void AllocTable::prefetch(uint64_t address) const {
    const uint64_t h = mix64(address);
    const uint32_t s = static_cast<uint32_t>(h >> kShardShift);
    prefetch_lines(s, h);
    // The record the insert will write: the free list's head, else the next
    // unused slot. Read unlocked, so possibly out of date: any slot of a
    // mapped chunk is a harmless guess.
    const ShardState &st = state_[s];
    const uint64_t *dir = __atomic_load_n(&st.dir, __ATOMIC_RELAXED);
    if (!dir)
        return;
    const uint32_t head = __atomic_load_n(&st.free_head, __ATOMIC_RELAXED);
    const uint32_t ri = head ? head - 1 : __atomic_load_n(&st.records_used, __ATOMIC_RELAXED);
    if (ri >= kMaxChunksPerShard * kRecordsPerChunk)
        return;
    const uint64_t chunk = __atomic_load_n(&dir[ri / kRecordsPerChunk], __ATOMIC_RELAXED);
    if (chunk)
        __builtin_prefetch(
            reinterpret_cast<const char *>(chunk) + sizeof(memleak_record_t) * (ri % kRecordsPerChunk), 1);
}

void AllocTable::prefetch_lines(uint32_t s, uint64_t h) const {
    __builtin_prefetch(&shards_[s], 1);
    const ShardState &st = state_[s];
    const uint32_t *index = __atomic_load_n(&st.index, __ATOMIC_RELAXED);
    const uint32_t mask = __atomic_load_n(&st.index_mask, __ATOMIC_RELAXED);
    // Index and mask may come from different sizes while another thread
    // grows the index: a prefetch of any address is harmless.
    if (index)
        __builtin_prefetch(
            reinterpret_cast<const char *>(index) + sizeof(uint32_t) * (static_cast<uint32_t>(h) & mask), 1);
}

uint32_t AllocTable::find_slot(const ShardState &st, uint64_t address, uint64_t h, uint32_t *free_slot) {
    if (!st.index)
        return kNoSlot;
    const uint32_t tag = tag_of(h) << kTagShift;
    uint32_t slot = static_cast<uint32_t>(h) & st.index_mask;
    uint32_t first_free = kNoSlot;
    for (;;) {
        const uint32_t v = st.index[slot];
        if (v == kEmpty)
            break;
        if ((v & ~kRecordMask) == tag) {
            if (record_at(st, v & kRecordMask)->address == address)
                return slot;
        } else if (v == kTombstone && first_free == kNoSlot) {
            first_free = slot;
        }
        slot = (slot + 1) & st.index_mask;
    }
    if (free_slot)
        *free_slot = first_free == kNoSlot ? slot : first_free;
    return kNoSlot;
}

// A slot followed by an empty one ends every probe run through it, so it
// becomes empty rather than a tombstone, and so do the tombstones just
// before it: runs stay short without reading any record.
void AllocTable::index_erase(ShardState &st, uint32_t slot) {
    --st.index_used;
    if (st.index[(slot + 1) & st.index_mask] != kEmpty) {
        st.index[slot] = kTombstone;
        ++st.index_tombs;
        return;
    }
    st.index[slot] = kEmpty;
    for (uint32_t p = (slot - 1) & st.index_mask; st.index[p] == kTombstone; p = (p - 1) & st.index_mask) {
        st.index[p] = kEmpty;
        --st.index_tombs;
    }
}

void AllocTable::rebuild_index(uint32_t shard, uint32_t *index, uint32_t capacity) {
    ShardState &st = state_[shard];
    const uint32_t mask = capacity - 1;
    uint32_t used = 0;
    for (uint32_t c = 0; c * kRecordsPerChunk < st.records_used; ++c) {
        const auto *chunk = reinterpret_cast<const memleak_record_t *>(st.dir[c]);
        const uint32_t n = st.records_used - c * kRecordsPerChunk < kRecordsPerChunk
                               ? st.records_used - c * kRecordsPerChunk
                               : kRecordsPerChunk;
        for (uint32_t i = 0; i < n; ++i) {
            const uint64_t address = chunk[i].address;
            if (address == 0)
                continue;
            const uint64_t h = mix64(address);
            uint32_t slot = static_cast<uint32_t>(h) & mask;
            while (index[slot] != kEmpty)
                slot = (slot + 1) & mask;
            index[slot] = tag_of(h) << kTagShift | (c * kRecordsPerChunk + i);
            ++used;
        }
    }
    __atomic_store_n(&st.index, index, __ATOMIC_RELAXED);
    __atomic_store_n(&st.index_mask, mask, __ATOMIC_RELAXED);
    st.index_used = used;
    st.index_tombs = 0;
}

void AllocTable::write_record(memleak_record_t *r, const RecordData &rec) {
    r->size_lo = static_cast<uint32_t>(rec.size);
    r->size_hi = static_cast<uint16_t>(rec.size >> 32);
    r->seq_lo = static_cast<uint32_t>(rec.seq);
    r->seq_hi = static_cast<uint16_t>(rec.seq >> 32);
    r->ticks = rec.ticks;
    r->tid = rec.tid;
    r->stack_id = rec.stack_id;
    // A reader (a stopped process, a core) sees the record only once complete.
    __atomic_store_n(&r->address, rec.address, __ATOMIC_RELEASE);
}

RecordData AllocTable::read_record(const memleak_record_t *r) {
    RecordData d;
    d.address = r->address;
    d.size = r->size_lo | static_cast<uint64_t>(r->size_hi) << 32;
    d.seq = r->seq_lo | static_cast<uint64_t>(r->seq_hi) << 32;
    d.ticks = r->ticks;
    d.tid = r->tid;
    d.stack_id = r->stack_id;
    return d;
}

void AllocTable::add_global_bytes(uint64_t delta) {
    if (!global_live_)
        return;
    const uint64_t now = __atomic_add_fetch(global_live_, delta, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(global_peak_, __ATOMIC_RELAXED);
    // A negative delta wraps to a huge value only transiently; never a peak.
    while (now > peak && now < (UINT64_C(1) << 63) &&
           !__atomic_compare_exchange_n(global_peak_, &peak, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

AllocTable::InsertResult AllocTable::insert(const RecordData &rec, uint64_t *replaced_size) {
    return insert_impl(rec, replaced_size, false);
}

bool AllocTable::restore(const RecordData &rec) {
    uint64_t ignored = 0;
    return insert_impl(rec, &ignored, true) != InsertResult::kNoMemory;
}

AllocTable::InsertResult AllocTable::insert_impl(const RecordData &rec, uint64_t *replaced_size,
                                                 bool restoring) {
    const uint64_t h = mix64(rec.address);
    const uint32_t s = static_cast<uint32_t>(h >> kShardShift);
    memleak_shard_t &sh = shards_[s];
    ShardState &st = state_[s];
    Spare spare;
    InsertResult result = InsertResult::kNoMemory;
    uint32_t *old_index = nullptr;
    uint32_t old_index_capacity = 0;

    for (;;) {
        futex_lock(&sh.lock);
        uint32_t free_slot = kNoSlot;
        const uint32_t found = find_slot(st, rec.address, h, &free_slot);
        if (found != kNoSlot) {
            memleak_record_t *r = record_at(st, st.index[found] & kRecordMask);
            const uint64_t old_size = read_record(r).size;
            __atomic_store_n(&r->address, 0, __ATOMIC_RELEASE);
            write_record(r, rec);
            sh.live_bytes += rec.size - old_size;
            add_global_bytes(rec.size - old_size);
            ++sh.allocs;
            ++sh.frees;
            sh.last_ticks = rec.ticks;
            *replaced_size = old_size;
            result = InsertResult::kReplaced;
            break;
        }

        const bool need_dir = st.dir == nullptr;
        const bool need_chunk = st.free_head == 0 && st.records_used == sh.chunk_count * kRecordsPerChunk;
        const uint32_t capacity = st.index ? st.index_mask + 1 : 0;
        // Taking a tombstone's place fills no new slot.
        const bool into_tombstone = free_slot != kNoSlot && st.index[free_slot] == kTombstone;
        const bool need_rebuild = !into_tombstone && index_too_full(st.index_used + st.index_tombs, capacity);
        const bool need_grow = need_rebuild && static_cast<uint64_t>(st.index_used + 1) * 5 >
                                                   static_cast<uint64_t>(capacity) * 3;
        if (need_chunk && sh.chunk_count == kMaxChunksPerShard) {
            futex_unlock(&sh.lock);
            break;
        }
        const uint32_t wanted_capacity = capacity ? capacity * 2 : kMinIndexCapacity;
        if ((need_dir && !spare.dir) || (need_chunk && !spare.chunk) ||
            (need_grow && spare.index_capacity < wanted_capacity)) {
            // Map outside the lock, then look again: another thread may have
            // grown the shard meanwhile.
            futex_unlock(&sh.lock);
            if (need_dir && !spare.dir)
                spare.dir = static_cast<uint64_t *>(map_pages(kDirBytes, MEMLEAK_REGION_TABLE));
            if (need_chunk && !spare.chunk)
                spare.chunk = static_cast<memleak_record_t *>(map_pages(kChunkBytes, MEMLEAK_REGION_TABLE));
            if (need_grow && spare.index_capacity < wanted_capacity) {
                unmap_pages(spare.index, spare.index_capacity * sizeof(uint32_t));
                spare.index = static_cast<uint32_t *>(
                    map_pages(wanted_capacity * sizeof(uint32_t), MEMLEAK_REGION_TABLE));
                spare.index_capacity = spare.index ? wanted_capacity : 0;
            }
            if ((need_dir && !spare.dir) || (need_chunk && !spare.chunk) || (need_grow && !spare.index))
                break;
            continue;
        }

        if (need_dir) {
            __atomic_store_n(&st.dir, spare.dir, __ATOMIC_RELAXED);
            spare.dir = nullptr;
            __atomic_store_n(&sh.chunks, reinterpret_cast<uint64_t>(st.dir), __ATOMIC_RELEASE);
        }
        if (need_chunk) {
            __atomic_store_n(&st.dir[sh.chunk_count], reinterpret_cast<uint64_t>(spare.chunk),
                             __ATOMIC_RELAXED);
            spare.chunk = nullptr;
            st.mapped_bytes += kChunkBytes;
            __atomic_store_n(&sh.chunk_count, sh.chunk_count + 1, __ATOMIC_RELEASE);
        }
        if (need_grow) {
            old_index = st.index;
            old_index_capacity = capacity;
            st.mapped_bytes += spare.index_capacity * sizeof(uint32_t);
            st.mapped_bytes -= old_index_capacity * sizeof(uint32_t);
            rebuild_index(s, spare.index, spare.index_capacity);
            spare.index = nullptr;
            spare.index_capacity = 0;
        } else if (need_rebuild) {
            memset(st.index, 0, capacity * sizeof(uint32_t));
            rebuild_index(s, st.index, capacity);
        }
        if (need_rebuild)
            find_slot(st, rec.address, h, &free_slot);

        uint32_t ri;
        if (st.free_head) {
            ri = st.free_head - 1;
            __atomic_store_n(&st.free_head, record_at(st, ri)->size_lo, __ATOMIC_RELAXED);
        } else {
            ri = st.records_used;
            __atomic_store_n(&st.records_used, ri + 1, __ATOMIC_RELAXED);
        }
        write_record(record_at(st, ri), rec);
        if (st.index[free_slot] == kTombstone)
            --st.index_tombs;
        st.index[free_slot] = tag_of(h) << kTagShift | ri;
        ++st.index_used;
        ++sh.live_count;
        sh.live_bytes += rec.size;
        add_global_bytes(rec.size);
        if (restoring)
            --sh.frees;
        else
            ++sh.allocs;
        sh.last_ticks = rec.ticks;
        result = InsertResult::kAdded;
        break;
    }
    // Every kNoMemory exit above has already dropped the lock.
    if (result != InsertResult::kNoMemory)
        futex_unlock(&sh.lock);
    unmap_pages(old_index, old_index_capacity * sizeof(uint32_t));
    unmap_pages(spare.dir, kDirBytes);
    unmap_pages(spare.chunk, kChunkBytes);
    unmap_pages(spare.index, spare.index_capacity * sizeof(uint32_t));
    return result;
}

bool AllocTable::remove(uint64_t address, uint32_t ticks, RecordData *out) {
    const uint64_t h = mix64(address);
    const uint32_t s = static_cast<uint32_t>(h >> kShardShift);
    memleak_shard_t &sh = shards_[s];
    ShardState &st = state_[s];
    // The lock word, the shard's state and the index slot are three misses
    // of their own on a large table: started together, they overlap.
    prefetch_lines(s, h);
    FutexGuard lock(&sh.lock);
    const uint32_t slot = find_slot(st, address, h, nullptr);
    if (slot == kNoSlot)
        return false;
    const uint32_t ri = st.index[slot] & kRecordMask;
    memleak_record_t *r = record_at(st, ri);
    *out = read_record(r);
    index_erase(st, slot);
    __atomic_store_n(&r->address, 0, __ATOMIC_RELEASE);
    // A free slot's size_lo links the free list; readers skip address 0.
    r->size_lo = st.free_head;
    __atomic_store_n(&st.free_head, ri + 1, __ATOMIC_RELAXED);
    --sh.live_count;
    sh.live_bytes -= out->size;
    add_global_bytes(0 - out->size);
    ++sh.frees;
    sh.last_ticks = ticks;
    return true;
}

uint64_t AllocTable::metadata_bytes() const {
    uint64_t total = 0;
    for (uint32_t s = 0; s < kShardCount; ++s) {
        total += state_[s].mapped_bytes;
        if (state_[s].dir)
            total += round_to_pages(shards_[s].chunk_count * sizeof(uint64_t));
    }
    return total;
}

void AllocTable::lock_all() {
    for (auto &sh : shards_)
        futex_lock(&sh.lock);
}

void AllocTable::unlock_all() {
    for (auto &sh : shards_)
        futex_unlock(&sh.lock);
}

void AllocTable::reset_locks() {
    for (auto &sh : shards_)
        futex_reset(&sh.lock);
}

}  // namespace memleak
