#include "scan/block_index.h"

namespace memleak::scan {

namespace {

constexpr unsigned kFinestShift = 12;
// Granule entries allowed per block before granules get coarser: a heap of
// a few huge blocks (or a hostile table claiming them) must not make the
// table larger than the block list.
constexpr uint64_t kGranulesPerBlock = 2;
constexpr uint64_t kGranulesSlack = 1024;

}  // namespace

BlockIndex::BlockIndex(const memleak_scan_block_t *blocks, uint32_t count) : blocks_(blocks), count_(count) {
    if (count) {
        low_ = blocks[0].address;
        span_ = hit_end(blocks[count - 1]) - low_;
    }
}

uint64_t BlockIndex::granules_at(unsigned shift) const {
    // Distinct granules: sorted blocks share a granule only with neighbours.
    uint64_t total = 0;
    uint64_t previous_last = 0;
    for (uint32_t i = 0; i < count_; ++i) {
        const uint64_t first = blocks_[i].address >> shift;
        const uint64_t last = (hit_end(blocks_[i]) - 1) >> shift;
        total += last - first + 1;
        if (i > 0 && first == previous_last)
            --total;
        previous_last = last;
    }
    return total;
}

void BlockIndex::insert(uint64_t key, uint32_t block) {
    for (uint64_t slot = hash(key);; slot = (slot + 1) & mask_) {
        Granule &g = table_[slot];
        if (g.key == key) {
            ++g.count;
            ++g.unsettled;
            return;
        }
        if (g.key == kEmpty) {
            g = Granule{key, block, 1, 1, 0};
            return;
        }
    }
}

bool BlockIndex::build(WorkMemory &work) {
    // Coarser granules until the entries fit the budget; at 2^63 bytes every
    // block is in at most two granules, so this ends.
    const uint64_t budget = kGranulesPerBlock * count_ + kGranulesSlack;
    uint64_t entries = granules_at(shift_);
    while (entries > budget && shift_ < 63)
        entries = granules_at(++shift_);
    // Load factor at most 1/2: probes stay short, and a miss finds an empty
    // slot soon.
    unsigned bits = 4;
    while ((uint64_t(1) << bits) < 2 * entries)
        ++bits;
    table_ = work.array<Granule>(uint64_t(1) << bits);
    if (!table_)
        return false;
    mask_ = (uint64_t(1) << bits) - 1;
    hash_shift_ = 64 - bits;
    for (uint64_t s = 0; s <= mask_; ++s)
        table_[s].key = kEmpty;
    for (uint32_t i = 0; i < count_; ++i) {
        const uint64_t first = blocks_[i].address >> shift_;
        const uint64_t last = (hit_end(blocks_[i]) - 1) >> shift_;
        for (uint64_t k = first;; ++k) {
            insert(k, i);
            if (k == last)
                break;
        }
    }
    return true;
}

BlockIndex::Granule &BlockIndex::slot_of(uint64_t key) {
    uint64_t slot = hash(key);
    while (table_[slot].key != key)
        slot = (slot + 1) & mask_;
    return table_[slot];
}

void BlockIndex::settle(uint32_t b) {
    const uint64_t first = blocks_[b].address >> shift_;
    const uint64_t last = (hit_end(blocks_[b]) - 1) >> shift_;
    for (uint64_t k = first;; ++k) {
        --slot_of(k).unsettled;
        if (k == last)
            break;
    }
}

uint32_t BlockIndex::first_ending_after(uint64_t addr) const {
    uint32_t lo = 0, hi = count_;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (blocks_[mid].address + blocks_[mid].size <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

}  // namespace memleak::scan
