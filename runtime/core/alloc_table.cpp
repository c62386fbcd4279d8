#include "core/alloc_table.h"

#include <cstring>

#include "core/futex_lock.h"
#include "core/hash.h"
#include "core/internal_alloc.h"

namespace memleak {

namespace {

constexpr uint32_t kNoSlot = UINT32_MAX;
constexpr size_t kChunkBytes = AllocTable::kRecordsPerChunk * sizeof(memleak_record_t);
constexpr size_t kDirBytes = AllocTable::kMaxChunksPerShard * sizeof(uint64_t);
constexpr uint32_t kMinIndexCapacity = 256;

bool index_too_full(uint32_t used, uint32_t capacity) {
    return static_cast<uint64_t>(used + 1) * 4 > static_cast<uint64_t>(capacity) * 3;
}

}  // namespace

uint32_t AllocTable::shard_of(uint64_t address) {
    return static_cast<uint32_t>(mix64(address) >> kShardShift);
}

memleak_record_t *AllocTable::record_at(const ShardState &st, uint32_t index) const {
    auto *chunk = reinterpret_cast<memleak_record_t *>(st.dir[index / kRecordsPerChunk]);
    return chunk + index % kRecordsPerChunk;
}

uint32_t AllocTable::find_slot(const ShardState &st, uint64_t address) const {
    if (!st.index)
        return kNoSlot;
    uint32_t slot = static_cast<uint32_t>(mix64(address)) & st.index_mask;
    for (;;) {
        uint32_t v = st.index[slot];
        if (v == 0)
            return kNoSlot;
        if (record_at(st, v - 1)->address == address)
            return slot;
        slot = (slot + 1) & st.index_mask;
    }
}

void AllocTable::index_put(ShardState &st, uint32_t record_index, uint64_t address) {
    uint32_t slot = static_cast<uint32_t>(mix64(address)) & st.index_mask;
    while (st.index[slot] != 0)
        slot = (slot + 1) & st.index_mask;
    st.index[slot] = record_index + 1;
    ++st.index_used;
}

// Backward-shift deletion keeps linear probing free of tombstones: every
// later entry of the probe run whose home slot is not cyclically in
// (hole, entry] moves back into the hole.
void AllocTable::index_erase(ShardState &st, uint32_t slot) {
    uint32_t hole = slot;
    uint32_t j = slot;
    for (;;) {
        j = (j + 1) & st.index_mask;
        uint32_t v = st.index[j];
        if (v == 0)
            break;
        uint32_t home = static_cast<uint32_t>(mix64(record_at(st, v - 1)->address)) & st.index_mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        st.index[hole] = v;
        hole = j;
    }
    st.index[hole] = 0;
    --st.index_used;
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
           !__atomic_compare_exchange_n(global_peak_, &peak, now, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
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
    const uint32_t s = shard_of(rec.address);
    memleak_shard_t &sh = shards_[s];
    ShardState &st = state_[s];
    Spare spare;
    InsertResult result = InsertResult::kNoMemory;
    uint32_t *old_index = nullptr;
    uint32_t old_index_capacity = 0;

    for (;;) {
        futex_lock(&sh.lock);
        const uint32_t found = find_slot(st, rec.address);
        if (found != kNoSlot) {
            memleak_record_t *r = record_at(st, st.index[found] - 1);
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
        const bool need_index = index_too_full(st.index_used, capacity);
        if (need_chunk && sh.chunk_count == kMaxChunksPerShard) {
            futex_unlock(&sh.lock);
            break;
        }
        uint32_t wanted_capacity = capacity ? capacity * 2 : kMinIndexCapacity;
        if ((need_dir && !spare.dir) || (need_chunk && !spare.chunk) ||
            (need_index && spare.index_capacity < wanted_capacity)) {
            // Map outside the lock, then look again: another thread may have
            // grown the shard meanwhile.
            futex_unlock(&sh.lock);
            if (need_dir && !spare.dir)
                spare.dir = static_cast<uint64_t *>(map_pages(kDirBytes));
            if (need_chunk && !spare.chunk)
                spare.chunk = static_cast<memleak_record_t *>(map_pages(kChunkBytes));
            if (need_index && spare.index_capacity < wanted_capacity) {
                unmap_pages(spare.index, spare.index_capacity * sizeof(uint32_t));
                spare.index = static_cast<uint32_t *>(map_pages(wanted_capacity * sizeof(uint32_t)));
                spare.index_capacity = spare.index ? wanted_capacity : 0;
            }
            if ((need_dir && !spare.dir) || (need_chunk && !spare.chunk) || (need_index && !spare.index))
                break;
            continue;
        }

        if (need_dir) {
            st.dir = spare.dir;
            spare.dir = nullptr;
            __atomic_store_n(&sh.chunks, reinterpret_cast<uint64_t>(st.dir), __ATOMIC_RELEASE);
        }
        if (need_chunk) {
            st.dir[sh.chunk_count] = reinterpret_cast<uint64_t>(spare.chunk);
            spare.chunk = nullptr;
            st.mapped_bytes += kChunkBytes;
            __atomic_store_n(&sh.chunk_count, sh.chunk_count + 1, __ATOMIC_RELEASE);
        }
        if (need_index) {
            old_index = st.index;
            old_index_capacity = capacity;
            st.index = spare.index;
            st.index_mask = spare.index_capacity - 1;
            st.index_used = 0;
            st.mapped_bytes += spare.index_capacity * sizeof(uint32_t);
            st.mapped_bytes -= old_index_capacity * sizeof(uint32_t);
            spare.index = nullptr;
            spare.index_capacity = 0;
            for (uint32_t i = 0; i < old_index_capacity; ++i)
                if (old_index[i])
                    index_put(st, old_index[i] - 1, record_at(st, old_index[i] - 1)->address);
        }

        uint32_t ri;
        if (st.free_head) {
            ri = st.free_head - 1;
            st.free_head = record_at(st, ri)->size_lo;
        } else {
            ri = st.records_used++;
        }
        write_record(record_at(st, ri), rec);
        index_put(st, ri, rec.address);
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
    const uint32_t s = shard_of(address);
    memleak_shard_t &sh = shards_[s];
    ShardState &st = state_[s];
    FutexGuard lock(&sh.lock);
    const uint32_t slot = find_slot(st, address);
    if (slot == kNoSlot)
        return false;
    const uint32_t ri = st.index[slot] - 1;
    memleak_record_t *r = record_at(st, ri);
    *out = read_record(r);
    index_erase(st, slot);
    __atomic_store_n(&r->address, 0, __ATOMIC_RELEASE);
    // A free slot's size_lo links the free list; readers skip address 0.
    r->size_lo = st.free_head;
    st.free_head = ri + 1;
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
