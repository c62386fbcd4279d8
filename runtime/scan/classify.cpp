// Marking in Valgrind memcheck's sense, in three passes over a work list
// (never recursion):
//   1. roots, then still-reachable blocks breadth first: a start pointer (or
//      one a heuristic accepts) from a root or a still-reachable block makes
//      a block still reachable; any other pointer from them makes an
//      unreached block possibly lost;
//   2. possibly-lost blocks breadth first: whatever they point to that is
//      still unreached is possibly lost too;
//   3. cliques: each block still unreached, in address order, leads a
//      clique and takes every unreached block it reaches (start or interior
//      pointer) as indirectly lost, including earlier leaders.
// Pass 1 finishes before pass 2 starts, so no block is ever upgraded after
// it was scanned: each block is scanned at most once per pass it joins.
#include "scan/classify.h"

#include "scan/heuristics.h"
#include "scan/scan_context.h"

namespace memleak::scan {

namespace {

enum State : uint8_t { kUnreached = 0, kPossible = 1, kReachable = 2, kIndirect = 3 };

class Marker {
public:
    Marker(ScanContext &context, uint8_t *state, uint8_t *heuristic, memleak_scan_ref_t *pred,
           uint32_t *reach_queue, uint32_t *possible_queue)
        : c_(context), state_(state), heuristic_(heuristic), pred_(pred),
          reach_queue_(reach_queue), possible_queue_(possible_queue) {}

    void run() {
        mark_from_roots();
        mark_possible();
        group_cliques();
    }

private:
    struct Source {
        uint16_t from;
        uint32_t index;
        uint64_t base;
    };

    void record(uint32_t target, const Source &src, uint64_t word, uint64_t value, uint32_t h) {
        if (!pred_)
            return;
        memleak_scan_ref_t &p = pred_[target];
        p.offset = word - src.base;
        p.target_offset = value - c_.blocks[target].address;
        p.index = src.index;
        p.from = src.from;
        p.heuristic = static_cast<uint16_t>(h);
    }

    // A word found in a root or a still-reachable block (definite) or in a
    // possibly-lost block (not definite).
    inline void reached(uint64_t value, uint64_t word, const Source &src, bool definite) {
        const uint32_t b = c_.blocks.find(value);
        if (b == kNoBlock)
            return;
        const bool start = value == c_.blocks[b].address;
        const uint8_t s = state_[b];
        if (s == kReachable) {
            if (start)
                heuristic_[b] = MEMLEAK_SCAN_HEURISTIC_NONE;
            return;
        }
        if (definite) {
            uint32_t h = MEMLEAK_SCAN_HEURISTIC_NONE;
            if (!start && c_.input.heuristics)
                h = heuristic_for(value, c_.blocks[b], c_.input.heuristics, c_.memory);
            if (start || h != MEMLEAK_SCAN_HEURISTIC_NONE) {
                state_[b] = kReachable;
                heuristic_[b] = static_cast<uint8_t>(h);
                record(b, src, word, value, h);
                reach_queue_[reach_tail_++] = b;
                return;
            }
        }
        if (s == kUnreached) {
            state_[b] = kPossible;
            record(b, src, word, value, MEMLEAK_SCAN_HEURISTIC_NONE);
            possible_queue_[possible_tail_++] = b;
        }
    }

    void mark_from_roots() {
        for (uint32_t r = 0; r < c_.input.root_count; ++r) {
            const Source src{MEMLEAK_SCAN_FROM_ROOT, r, c_.input.roots[r].address};
            c_.scan_root(r, [&](uint64_t value, uint64_t word) { reached(value, word, src, true); });
        }
        for (uint32_t head = 0; head < reach_tail_; ++head) {
            const uint32_t b = reach_queue_[head];
            const Source src{MEMLEAK_SCAN_FROM_BLOCK, b, c_.blocks[b].address};
            c_.scan_block(b, [&](uint64_t value, uint64_t word) { reached(value, word, src, true); });
        }
    }

    void mark_possible() {
        for (uint32_t head = 0; head < possible_tail_; ++head) {
            const uint32_t b = possible_queue_[head];
            if (state_[b] != kPossible)
                continue;  // upgraded to still reachable in pass 1, scanned there
            const Source src{MEMLEAK_SCAN_FROM_BLOCK, b, c_.blocks[b].address};
            c_.scan_block(b, [&](uint64_t value, uint64_t word) { reached(value, word, src, false); });
        }
    }

    void group_cliques() {
        uint32_t *stack = reach_queue_;
        for (uint32_t leader = 0; leader < c_.blocks.count(); ++leader) {
            if (state_[leader] != kUnreached)
                continue;
            uint32_t top = 0;
            stack[top++] = leader;
            while (top) {
                const uint32_t b = stack[--top];
                const Source src{MEMLEAK_SCAN_FROM_BLOCK, b, c_.blocks[b].address};
                c_.scan_block(b, [&](uint64_t value, uint64_t word) {
                    const uint32_t t = c_.blocks.find(value);
                    if (t == kNoBlock || t == leader || state_[t] != kUnreached)
                        return;
                    state_[t] = kIndirect;
                    record(t, src, word, value, MEMLEAK_SCAN_HEURISTIC_NONE);
                    stack[top++] = t;
                });
            }
        }
    }

    ScanContext &c_;
    uint8_t *state_;
    uint8_t *heuristic_;
    memleak_scan_ref_t *pred_;
    uint32_t *reach_queue_;
    uint32_t *possible_queue_;
    uint32_t reach_tail_ = 0;
    uint32_t possible_tail_ = 0;
};

constexpr uint8_t kClassOf[] = {MEMLEAK_SCAN_DEFINITELY_LOST, MEMLEAK_SCAN_POSSIBLY_LOST,
                                MEMLEAK_SCAN_STILL_REACHABLE, MEMLEAK_SCAN_INDIRECTLY_LOST};

}  // namespace

int classify(const memleak_scan_input_t &in, memleak_scan_result_t &out, WorkMemory &work,
             Message &message) {
    const uint64_t n = in.block_count;
    uint32_t *reach_queue = work.array<uint32_t>(n);
    uint32_t *possible_queue = work.array<uint32_t>(n);
    uint8_t *heuristic = out.heuristics ? out.heuristics : work.array<uint8_t>(n);
    if (!reach_queue || !possible_queue || !heuristic) {
        message.text("out of memory for the work lists of ").dec(n).text(" blocks");
        return MEMLEAK_SCAN_ENOMEM;
    }
    for (uint64_t i = 0; i < n; ++i) {
        out.kinds[i] = kUnreached;
        heuristic[i] = MEMLEAK_SCAN_HEURISTIC_NONE;
        if (out.predecessors)
            out.predecessors[i] = memleak_scan_ref_t{0, 0, 0, MEMLEAK_SCAN_FROM_NONE, 0};
    }

    ScanContext context(in);
    Marker(context, out.kinds, heuristic, out.predecessors, reach_queue, possible_queue).run();

    for (int k = 0; k < 5; ++k)
        out.class_blocks[k] = out.class_bytes[k] = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t kind = kClassOf[out.kinds[i]];
        out.kinds[i] = kind;
        if (kind != MEMLEAK_SCAN_STILL_REACHABLE)
            heuristic[i] = MEMLEAK_SCAN_HEURISTIC_NONE;
        out.class_blocks[kind] += 1;
        out.class_bytes[kind] += in.blocks[i].size;
    }
    out.scanned_bytes = context.counters.scanned_bytes;
    out.unreadable_bytes = context.counters.unreadable_bytes;
    return MEMLEAK_SCAN_OK;
}

}  // namespace memleak::scan
