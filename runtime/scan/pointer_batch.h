// Words that may be pointers, resolved to blocks in batches: each step's
// loads (table slot, candidate blocks, the block's state byte) are
// prefetched for the whole batch before the next step needs them, so the
// cache misses of many words overlap instead of following one another.
// Words are handed on in the order they were added.
#pragma once

#include "scan/block_index.h"

#include <cstdint>

namespace memleak::scan {

class PointerBatch {
public:
    PointerBatch(const BlockIndex &index, const uint8_t *state) : index_(index), state_(state) {}

    // Only pointers into granules with unsettled blocks reach apply(); the
    // marking passes have nothing to do with the others.

    // apply(block, value, word, from, source) for `value` if it points into
    // a block, now or at a later add() or flush(). `from` and `source` say
    // where `word` is (MEMLEAK_SCAN_FROM_*, root or block index).
    template <typename Apply>
    void add(uint64_t value, uint64_t word, uint16_t from, uint32_t source, Apply &&apply) {
        if (!index_.in_span(value))
            return;
        pending_[count_++] = Pending{value, word, 0, 0, 0, source, from};
        if (count_ == kSize)
            flush(apply);
    }

    template <typename Apply>
    void flush(Apply &&apply) {
        for (uint32_t i = 0; i < count_; ++i)
            __builtin_prefetch(index_.slot_address(pending_[i].value));
        for (uint32_t i = 0; i < count_; ++i) {
            Pending &p = pending_[i];
            index_.unsettled_candidates(p.value, &p.lo, &p.hi);
            if (p.lo < p.hi) {
                p.at = index_.guess(p.value, p.lo, p.hi);
                __builtin_prefetch(index_.block_address(p.at));
            }
        }
        for (uint32_t i = 0; i < count_; ++i) {
            Pending &p = pending_[i];
            p.lo = p.lo < p.hi ? index_.search_near(p.value, p.lo, p.hi, p.at) : kNoBlock;
            if (p.lo != kNoBlock)
                __builtin_prefetch(&state_[p.lo]);
        }
        // apply() may add more words to this batch: take them from a count
        // that starts over.
        const uint32_t n = count_;
        count_ = 0;
        for (uint32_t i = 0; i < n; ++i)
            if (pending_[i].lo != kNoBlock)
                apply(pending_[i].lo, pending_[i].value, pending_[i].word, pending_[i].from,
                      pending_[i].source);
    }

private:
    struct Pending {
        uint64_t value;
        uint64_t word;
        uint32_t lo;  // the candidates, then the block found
        uint32_t hi;
        uint32_t at;  // where the block probably is
        uint32_t source;
        uint16_t from;
    };
    static constexpr uint32_t kSize = 32;

    const BlockIndex &index_;
    const uint8_t *state_;
    Pending pending_[kSize];
    uint32_t count_ = 0;
};

}  // namespace memleak::scan
