// Which block a word points into. Words are filtered by the span of all
// blocks, then looked up by binary search.
#pragma once

#include <memleak/scan.h>

#include <cstdint>

namespace memleak::scan {

constexpr uint32_t kNoBlock = UINT32_MAX;

// One past the last address a pointer into the block may hold: a zero-sized
// block is hit by a pointer to its start, as Valgrind counts it.
inline uint64_t hit_end(const memleak_scan_block_t &b) { return b.address + (b.size ? b.size : 1); }

class BlockIndex {
public:
    BlockIndex(const memleak_scan_block_t *blocks, uint32_t count) : blocks_(blocks), count_(count) {
        if (count) {
            low_ = blocks[0].address;
            span_ = hit_end(blocks[count - 1]) - low_;
        }
    }

    uint32_t count() const { return count_; }
    const memleak_scan_block_t &operator[](uint32_t i) const { return blocks_[i]; }

    // The block `value` points into, or kNoBlock.
    inline uint32_t find(uint64_t value) const {
        if (value - low_ >= span_)
            return kNoBlock;
        return search(value);
    }

    // Index of the first block that ends after `addr` (count() if none).
    uint32_t first_ending_after(uint64_t addr) const {
        uint32_t lo = 0, hi = count_;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (blocks_[mid].address + blocks_[mid].size <= addr)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

private:
    uint32_t search(uint64_t value) const {
        uint32_t lo = 0, hi = count_;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (blocks_[mid].address <= value)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0)
            return kNoBlock;
        uint32_t i = lo - 1;
        return value < hit_end(blocks_[i]) ? i : kNoBlock;
    }

    const memleak_scan_block_t *blocks_;
    uint32_t count_;
    uint64_t low_ = 0;
    uint64_t span_ = 0;
};

}  // namespace memleak::scan
