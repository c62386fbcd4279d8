// The runtime's own memory regions, published for readers. The table's
// record chunks hold the address of every live block: a reachability
// reader that took them (or any other bookkeeping) as roots would find every
// block still reachable. So every mapping the runtime makes is listed in a
// table that memleak_introspect points to (abi.h, memleak_region_t), and a
// reader leaves those ranges out of its roots.
//
// Order, so that any stopping point (a core, a stopped process) reads
// right: a region is published after mmap and before the runtime stores
// anything in it, and unpublished only after munmap. A slot is claimed with
// a compare-and-swap on its start and becomes visible when its size is
// stored; no lock is taken, so publishing works inside any hook, in a
// forked child, and while the exit scan has every other thread stopped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memleak/abi.h"

namespace memleak {

constexpr uint32_t kRegionChunkBytes = 64 * 1024;
constexpr uint32_t kRegionsPerChunk = kRegionChunkBytes / sizeof(memleak_region_t);
// 512 chunks of 2048 slots: room for every chunk of a full table.
constexpr uint32_t kMaxRegionChunks = 512;

// Lists [start, start + bytes) as the runtime's, of `kind` (MEMLEAK_REGION_*).
// False when no slot can be had; the caller then gives the memory back.
bool publish_region(const void *start, uint64_t bytes, uint32_t kind);

// Takes the region [start, start + bytes) off the list (after its munmap).
void unpublish_region(const void *start, uint64_t bytes);

// Points `root` at the region table (region_* fields of abi.h); from then
// on the root's chunk count follows the table's.
void publish_region_layout(memleak_introspect_t *root);

// Calls fn(start, bytes, kind) for every published region; a snapshot that
// may miss a region published or unpublished meanwhile.
template <typename Fn>
void for_each_region(Fn fn);

namespace regions_detail {
extern uint64_t g_dir[kMaxRegionChunks];
extern uint32_t g_chunk_count;
}  // namespace regions_detail

template <typename Fn>
void for_each_region(Fn fn) {
    const uint32_t chunks = __atomic_load_n(&regions_detail::g_chunk_count, __ATOMIC_ACQUIRE);
    for (uint32_t c = 0; c < chunks && c < kMaxRegionChunks; ++c) {
        const auto *slots = reinterpret_cast<const memleak_region_t *>(
            __atomic_load_n(&regions_detail::g_dir[c], __ATOMIC_ACQUIRE));
        if (slots == nullptr)
            continue;
        for (uint32_t i = 0; i < kRegionsPerChunk; ++i) {
            const uint64_t start = __atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE);
            const uint64_t size = __atomic_load_n(&slots[i].size, __ATOMIC_ACQUIRE);
            if (start != 0 && size != 0)
                fn(start, size, slots[i].kind);
        }
    }
}

}  // namespace memleak
