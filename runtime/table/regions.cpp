#include "table/regions.h"

#include <sys/mman.h>

namespace memleak {

namespace regions_detail {
// Zero-initialized static storage: publishing works before the runtime's
// constructors run.
uint64_t g_dir[kMaxRegionChunks];
uint32_t g_chunk_count;
}  // namespace regions_detail

using regions_detail::g_chunk_count;
using regions_detail::g_dir;

namespace {

// The root's copy of the chunk count, once publish_region_layout() ran.
uint32_t *g_published_count;

// Raises the root's count to at least `n`: a reader must see a chunk
// before any slot of it can be claimed.
void publish_count(uint32_t n) {
    uint32_t *published = __atomic_load_n(&g_published_count, __ATOMIC_ACQUIRE);
    if (published == nullptr)
        return;
    uint32_t seen = __atomic_load_n(published, __ATOMIC_RELAXED);
    while (seen < n &&
           !__atomic_compare_exchange_n(published, &seen, n, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
}

// Where the last claim succeeded: the next search starts there, so claims
// do not walk every taken slot from the first one.
uint32_t g_hint;

memleak_region_t *chunk_at(uint32_t c) {
    return reinterpret_cast<memleak_region_t *>(__atomic_load_n(&g_dir[c], __ATOMIC_ACQUIRE));
}

bool claim(memleak_region_t *slot, uint64_t start, uint64_t bytes, uint32_t kind) {
    uint64_t expected = 0;
    if (__atomic_load_n(&slot->start, __ATOMIC_RELAXED) != 0 ||
        !__atomic_compare_exchange_n(&slot->start, &expected, start, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    slot->kind = kind;
    __atomic_store_n(&slot->size, bytes, __ATOMIC_RELEASE);
    return true;
}

// Adds chunk number `n` (describing itself in its first slot), or helps a
// thread that already installed it to count it. False when the table is at
// its bound or no memory is left.
bool grow(uint32_t n) {
    if (n >= kMaxRegionChunks)
        return false;
    if (__atomic_load_n(&g_dir[n], __ATOMIC_ACQUIRE) == 0) {
        void *p =
            mmap(nullptr, kRegionChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return false;
        auto *slots = static_cast<memleak_region_t *>(p);
        slots[0].kind = MEMLEAK_REGION_REGIONS;
        slots[0].size = kRegionChunkBytes;
        slots[0].start = reinterpret_cast<uint64_t>(p);
        uint64_t expected = 0;
        if (!__atomic_compare_exchange_n(&g_dir[n], &expected, reinterpret_cast<uint64_t>(p), false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            munmap(p, kRegionChunkBytes);
    }
    publish_count(n + 1);
    uint32_t expected = n;
    __atomic_compare_exchange_n(&g_chunk_count, &expected, n + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    return true;
}

}  // namespace

bool publish_region(const void *start, uint64_t bytes, uint32_t kind) {
    const uint64_t addr = reinterpret_cast<uint64_t>(start);
    if (addr == 0 || bytes == 0)
        return false;
    for (;;) {
        const uint32_t chunks = __atomic_load_n(&g_chunk_count, __ATOMIC_ACQUIRE);
        const uint64_t total = uint64_t{chunks} * kRegionsPerChunk;
        const uint32_t hint = __atomic_load_n(&g_hint, __ATOMIC_RELAXED);
        for (uint64_t k = 0; k < total; ++k) {
            const uint64_t i = (hint + k) % total;
            memleak_region_t *slots = chunk_at(static_cast<uint32_t>(i / kRegionsPerChunk));
            if (slots != nullptr && claim(&slots[i % kRegionsPerChunk], addr, bytes, kind)) {
                __atomic_store_n(&g_hint, static_cast<uint32_t>(i), __ATOMIC_RELAXED);
                return true;
            }
        }
        if (!grow(chunks))
            return false;
    }
}

void unpublish_region(const void *start, uint64_t bytes) {
    const uint64_t addr = reinterpret_cast<uint64_t>(start);
    if (addr == 0)
        return;
    const uint32_t chunks = __atomic_load_n(&g_chunk_count, __ATOMIC_ACQUIRE);
    for (uint32_t c = 0; c < chunks; ++c) {
        memleak_region_t *slots = chunk_at(c);
        for (uint32_t i = 0; slots != nullptr && i < kRegionsPerChunk; ++i) {
            memleak_region_t &s = slots[i];
            if (__atomic_load_n(&s.start, __ATOMIC_ACQUIRE) != addr ||
                __atomic_load_n(&s.size, __ATOMIC_ACQUIRE) != bytes)
                continue;
            // Size first: a slot with a start and no size is not a region.
            __atomic_store_n(&s.size, uint64_t{0}, __ATOMIC_RELEASE);
            s.kind = 0;
            __atomic_store_n(&s.start, uint64_t{0}, __ATOMIC_RELEASE);
            return;
        }
    }
}

void publish_region_layout(memleak_introspect_t *root) {
    root->regions_per_chunk = kRegionsPerChunk;
    root->max_region_chunks = kMaxRegionChunks;
    __atomic_store_n(&root->region_chunks, reinterpret_cast<uint64_t>(g_dir), __ATOMIC_RELEASE);
    __atomic_store_n(&g_published_count, &root->region_chunk_count, __ATOMIC_RELEASE);
    publish_count(__atomic_load_n(&g_chunk_count, __ATOMIC_ACQUIRE));
}

}  // namespace memleak
