#include "table/stack_depot.h"

#include <cstring>

#include "table/futex_lock.h"
#include "table/hash.h"
#include "table/internal_alloc.h"

namespace memleak {

namespace {
constexpr uint64_t kInitialTableSlots = 4096;
}

void StackDepot::init(memleak_introspect_t *root) {
    root_ = root;
    root_->stack_chunk_size = kChunkSize;
    root_->max_stack_chunks = kMaxChunks;
    root_->stack_chunk_count = 0;
    root_->stack_count = 0;
    __atomic_store_n(&root_->stack_chunks, reinterpret_cast<uint64_t>(dir_), __ATOMIC_RELEASE);
}

// Four independent multiply lanes: a single chain would make every frame
// wait for the previous multiply, and hashing is on every allocation.
// Each step is a bijection of the lane's state, so stacks that differ in
// one frame never meet before the final mix.
uint32_t StackDepot::hash_stack(const uint64_t *pcs, uint32_t depth, uint16_t flags) {
    constexpr uint64_t k0 = UINT64_C(0x9e3779b97f4a7c15), k1 = UINT64_C(0xc2b2ae3d27d4eb4f),
                       k2 = UINT64_C(0x165667b19e3779f9), k3 = UINT64_C(0xd6e8feb86659fd93);
    uint64_t a = depth, b = flags, c = k0, d = k1;
    uint32_t i = 0;
    for (; i + 4 <= depth; i += 4) {
        a = (a ^ pcs[i]) * k0;
        b = (b ^ pcs[i + 1]) * k1;
        c = (c ^ pcs[i + 2]) * k2;
        d = (d ^ pcs[i + 3]) * k3;
    }
    for (; i < depth; ++i)
        a = (a ^ pcs[i]) * k1;
    const uint64_t h = a ^ (b << 17 | b >> 47) ^ (c << 31 | c >> 33) ^ (d << 47 | d >> 17);
    return static_cast<uint32_t>(mix64(h));
}

const memleak_stack_t *StackDepot::find(uint32_t id) const {
    if (id == 0)
        return nullptr;
    const uint32_t chunk = (id - 1) / kWordsPerChunk;
    const uint32_t word = (id - 1) % kWordsPerChunk;
    if (chunk >= __atomic_load_n(&root_->stack_chunk_count, __ATOMIC_ACQUIRE))
        return nullptr;
    return reinterpret_cast<const memleak_stack_t *>(dir_[chunk] + word * 8ull);
}

uint32_t StackDepot::lookup(const Table *t, uint32_t hash, const uint64_t *pcs, uint32_t depth,
                            uint16_t flags) const {
    if (!t)
        return 0;
    uint64_t i = hash & t->mask;
    for (;;) {
        const uint64_t v = __atomic_load_n(&t->slots[i], __ATOMIC_ACQUIRE);
        if (v == 0)
            return 0;
        if (static_cast<uint32_t>(v >> 32) == hash) {
            const uint32_t id = static_cast<uint32_t>(v);
            const memleak_stack_t *e = find(id);
            if (e && e->depth == depth && e->flags == flags &&
                memcmp(e + 1, pcs, depth * sizeof(uint64_t)) == 0)
                return id;
        }
        i = (i + 1) & t->mask;
    }
}

uint32_t StackDepot::intern(const uint64_t *pcs, uint32_t depth, uint16_t flags) {
    const uint32_t hash = hash_stack(pcs, depth, flags);
    if (uint32_t id = lookup(__atomic_load_n(&table_, __ATOMIC_ACQUIRE), hash, pcs, depth, flags))
        return id;
    FutexGuard guard(&root_->stack_lock);
    if (uint32_t id = lookup(table_, hash, pcs, depth, flags))
        return id;
    // The table stays at most half full so that lock-free probes always end.
    if ((!table_ || (table_used_ + 1) * 2 > table_->mask + 1) && !grow_table())
        return 0;
    const uint32_t id = append(hash, pcs, depth, flags);
    if (id == 0)
        return 0;
    table_put(table_, static_cast<uint64_t>(hash) << 32 | id);
    ++table_used_;
    __atomic_store_n(&root_->stack_count, root_->stack_count + 1, __ATOMIC_RELEASE);
    return id;
}

void StackDepot::table_put(Table *t, uint64_t slot_word) {
    uint64_t i = (slot_word >> 32) & t->mask;
    while (t->slots[i] != 0)
        i = (i + 1) & t->mask;
    __atomic_store_n(&t->slots[i], slot_word, __ATOMIC_RELEASE);
}

bool StackDepot::grow_table() {
    const uint64_t slots = table_ ? (table_->mask + 1) * 2 : kInitialTableSlots;
    const size_t bytes = sizeof(uint64_t) * (slots + 1);
    auto *t = static_cast<Table *>(map_pages(bytes, MEMLEAK_REGION_DEPOT));
    if (!t)
        return false;
    mapped_bytes_ += round_to_pages(bytes);
    t->mask = slots - 1;
    if (table_)
        for (uint64_t i = 0; i <= table_->mask; ++i)
            if (table_->slots[i])
                table_put(t, table_->slots[i]);
    __atomic_store_n(&table_, t, __ATOMIC_RELEASE);
    return true;
}

uint32_t StackDepot::append(uint32_t hash, const uint64_t *pcs, uint32_t depth, uint16_t flags) {
    const uint32_t words = 1 + depth;
    uint32_t count = root_->stack_chunk_count;
    if (count == 0 || chunk_words_used_ + words > kWordsPerChunk) {
        // The unused tail of the old chunk stays zero: depth 0 tells a
        // sequential reader the chunk ends there.
        if (count == kMaxChunks)
            return 0;
        void *chunk = map_pages(kChunkSize, MEMLEAK_REGION_DEPOT);
        if (!chunk)
            return 0;
        mapped_bytes_ += kChunkSize;
        dir_[count] = reinterpret_cast<uint64_t>(chunk);
        __atomic_store_n(&root_->stack_chunk_count, count + 1, __ATOMIC_RELEASE);
        ++count;
        chunk_words_used_ = 0;
    }
    const uint32_t chunk = count - 1;
    auto *base = reinterpret_cast<uint64_t *>(dir_[chunk]) + chunk_words_used_;
    auto *e = reinterpret_cast<memleak_stack_t *>(base);
    memcpy(base + 1, pcs, depth * sizeof(uint64_t));
    e->hash = hash;
    e->flags = flags;
    __atomic_store_n(&e->depth, static_cast<uint16_t>(depth), __ATOMIC_RELEASE);
    const uint32_t id = 1 + chunk * kWordsPerChunk + chunk_words_used_;
    chunk_words_used_ += words;
    return id;
}

void StackDepot::lock() { futex_lock(&root_->stack_lock); }
void StackDepot::unlock() { futex_unlock(&root_->stack_lock); }
void StackDepot::reset_lock() { futex_reset(&root_->stack_lock); }

}  // namespace memleak
