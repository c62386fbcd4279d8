// Which block a word points into, in about one cache miss: words are first
// filtered by the span of all blocks, then the address's granule (4 KiB, or
// coarser when blocks are few and huge) is looked up in a hash table that
// gives the blocks overlapping that granule, among which a short binary
// search finds the one holding the address.
#pragma once

#include "scan/work_memory.h"

#include <memleak/scan.h>

#include <cstdint>

namespace memleak::scan {

constexpr uint32_t kNoBlock = UINT32_MAX;

// One past the last address a pointer into the block may hold: a zero-sized
// block is hit by a pointer to its start, as Valgrind counts it.
inline uint64_t hit_end(const memleak_scan_block_t &b) { return b.address + (b.size ? b.size : 1); }

class BlockIndex {
public:
    BlockIndex(const memleak_scan_block_t *blocks, uint32_t count);

    // Builds the granule table; false when `work` cannot hold it.
    bool build(WorkMemory &work);

    uint32_t count() const { return count_; }
    const memleak_scan_block_t &operator[](uint32_t i) const { return blocks_[i]; }

    bool in_span(uint64_t value) const { return value - low_ < span_; }

    // The block `value` points into, or kNoBlock.
    uint32_t find(uint64_t value) const {
        if (!in_span(value))
            return kNoBlock;
        uint32_t lo, hi;
        candidates(value, &lo, &hi);
        return search(value, lo, hi);
    }

    // find() in three steps, for callers that resolve many words at once and
    // prefetch between the steps (the loads of one word do not wait for
    // those of the next): the table slot, the candidate blocks, the block.
    const void *slot_address(uint64_t value) const { return &table_[hash(value >> shift_)]; }
    void candidates(uint64_t value, uint32_t *lo, uint32_t *hi) const {
        const uint64_t key = value >> shift_;
        for (uint64_t slot = hash(key);; slot = (slot + 1) & mask_) {
            const Granule &g = table_[slot];
            if (g.key == key) {
                *lo = g.first;
                *hi = g.first + g.count;
                return;
            }
            if (g.key == kEmpty) {
                *lo = *hi = 0;
                return;
            }
        }
    }
    const void *block_address(uint32_t i) const { return &blocks_[i]; }
    // Where among [lo, hi) the block holding `value` probably is: blocks
    // spread about evenly over a granule, so its offset there says.
    uint32_t guess(uint64_t value, uint32_t lo, uint32_t hi) const {
        if (shift_ > 31)
            return lo + (hi - lo) / 2;
        const uint64_t offset = value & ((uint64_t(1) << shift_) - 1);
        return lo + static_cast<uint32_t>((offset * (hi - lo)) >> shift_);
    }

    // search() starting from guess(): a few steps from there, then binary
    // search over what is left.
    uint32_t search_near(uint64_t value, uint32_t lo, uint32_t hi, uint32_t at) const {
        constexpr int kSteps = 4;
        if (blocks_[at].address <= value) {
            for (int k = 0; k < kSteps; ++k) {
                if (at + 1 >= hi || blocks_[at + 1].address > value)
                    return value < hit_end(blocks_[at]) ? at : kNoBlock;
                ++at;
            }
            return search(value, at, hi);
        }
        for (int k = 0; k < kSteps; ++k) {
            if (at == lo)
                return kNoBlock;
            --at;
            if (blocks_[at].address <= value)
                return value < hit_end(blocks_[at]) ? at : kNoBlock;
        }
        return search(value, lo, at);
    }

    // The block among [lo, hi) holding `value`, or kNoBlock.
    uint32_t search(uint64_t value, uint32_t lo, uint32_t hi) const {
        const uint32_t base = lo;
        while (lo < hi) {
            const uint32_t mid = lo + (hi - lo) / 2;
            if (blocks_[mid].address <= value)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == base)
            return kNoBlock;
        return value < hit_end(blocks_[lo - 1]) ? lo - 1 : kNoBlock;
    }

    // candidates() for the marking passes: none at all when every block of
    // the granule is settled (still reachable through a start pointer), as
    // nothing a pointer there finds can change any more. Most pointers of a
    // heap point into such granules once marking is under way, and this way
    // cost one table load.
    void unsettled_candidates(uint64_t value, uint32_t *lo, uint32_t *hi) const {
        const uint64_t key = value >> shift_;
        for (uint64_t slot = hash(key);; slot = (slot + 1) & mask_) {
            const Granule &g = table_[slot];
            if (g.key == key && g.unsettled) {
                *lo = g.first;
                *hi = g.first + g.count;
                return;
            }
            if (g.key == key || g.key == kEmpty) {
                *lo = *hi = 0;
                return;
            }
        }
    }

    // Block `b` is settled: called once per block, when it becomes still
    // reachable through a start pointer.
    void settle(uint32_t b);

    // Index of the first block that ends after `addr` (count() if none).
    uint32_t first_ending_after(uint64_t addr) const;

private:
    struct Granule {
        uint64_t key;
        uint32_t first;      // the first block overlapping the granule
        uint32_t count;      // blocks overlapping it, consecutive from `first`
        uint32_t unsettled;  // of those, blocks not yet settled
        uint32_t unused;
    };
    static constexpr uint64_t kEmpty = UINT64_MAX;

    uint64_t hash(uint64_t key) const { return (key * 0x9e3779b97f4a7c15ull) >> hash_shift_; }
    uint64_t granules_at(unsigned shift) const;
    void insert(uint64_t key, uint32_t block);
    Granule &slot_of(uint64_t key);

    const memleak_scan_block_t *blocks_;
    uint32_t count_;
    uint64_t low_ = 0;
    uint64_t span_ = 0;
    unsigned shift_ = 12;
    unsigned hash_shift_ = 64;
    uint64_t mask_ = 0;
    Granule *table_ = nullptr;
};

}  // namespace memleak::scan
