// Marking in Valgrind memcheck's sense, in three passes over work queues
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
#include "scan/pointer_batch.h"
#include "scan/scan_context.h"

#include <algorithm>

namespace memleak::scan {

namespace {

enum State : uint8_t { kUnreached = 0, kPossible = 1, kReachable = 2, kIndirect = 3 };
// A still-reachable block's state byte also holds, above the state, the
// heuristic it was reached by: one byte per block is touched per pointer.
constexpr unsigned kHeuristicShift = 2;

class Marker {
public:
    Marker(ScanContext &context, uint8_t *state, memleak_scan_ref_t *pred, uint32_t *reach_queue,
           uint32_t *possible_queue)
        : c_(context),
          state_(state),
          pred_(pred),
          reach_queue_(reach_queue),
          possible_queue_(possible_queue),
          batch_(context.blocks, state) {}

    void run() {
        mark_from_roots();
        mark_possible();
        group_cliques();
    }

private:
    void record(uint32_t target, uint16_t from, uint32_t source, uint64_t word, uint64_t value, uint32_t h) {
        if (!pred_)
            return;
        memleak_scan_ref_t &p = pred_[target];
        const uint64_t base =
            from == MEMLEAK_SCAN_FROM_ROOT ? c_.input.roots[source].address : c_.blocks[source].address;
        p.offset = word - base;
        p.target_offset = value - c_.blocks[target].address;
        p.index = source;
        p.from = from;
        p.heuristic = static_cast<uint16_t>(h);
    }

    // A pointer into block `b` found in a root or a still-reachable block
    // (pass 1: definite) or in a possibly-lost block (pass 2).
    void reached(uint32_t b, uint64_t value, uint64_t word, uint16_t from, uint32_t source) {
        const bool start = value == c_.blocks[b].address;
        const uint8_t s = state_[b];
        if ((s & 3) == kReachable) {
            if (start && s != kReachable) {
                state_[b] = kReachable;  // a start pointer: no heuristic needed
                c_.blocks.settle(b);
            }
            return;
        }
        if (definite_) {
            uint32_t h = MEMLEAK_SCAN_HEURISTIC_NONE;
            if (!start && c_.input.heuristics)
                h = heuristic_for(value, c_.blocks[b], c_.input.heuristics, c_.memory);
            if (start || h != MEMLEAK_SCAN_HEURISTIC_NONE) {
                state_[b] = static_cast<uint8_t>(kReachable | h << kHeuristicShift);
                if (h == MEMLEAK_SCAN_HEURISTIC_NONE)
                    c_.blocks.settle(b);
                record(b, from, source, word, value, h);
                reach_queue_[reach_tail_++] = b;
                return;
            }
        }
        if (s == kUnreached) {
            state_[b] = kPossible;
            record(b, from, source, word, value, MEMLEAK_SCAN_HEURISTIC_NONE);
            possible_queue_[possible_tail_++] = b;
        }
    }

    // Pointers are applied in the order they were found, but later: the
    // batch fills across sources and is flushed before a level ends, so
    // what a level discovers is complete before the next level starts.
    struct Reach {
        Marker *m;
        void operator()(uint32_t b, uint64_t value, uint64_t word, uint16_t from, uint32_t source) const {
            m->reached(b, value, word, from, source);
        }
    };

    void scan_block(uint32_t b) {
        c_.scan_block(b, [&](uint64_t value, uint64_t word) {
            batch_.add(value, word, MEMLEAK_SCAN_FROM_BLOCK, b, Reach{this});
        });
    }

    void mark_from_roots() {
        definite_ = true;
        c_.scan_roots([&](uint32_t r, uint64_t value, uint64_t word) {
            batch_.add(value, word, MEMLEAK_SCAN_FROM_ROOT, r, Reach{this});
        });
        batch_.flush(Reach{this});
        by_levels(reach_queue_, reach_tail_, [&](uint32_t b) { scan_block(b); });
    }

    void mark_possible() {
        definite_ = false;
        by_levels(possible_queue_, possible_tail_, [&](uint32_t b) {
            if (state_[b] == kPossible)  // not upgraded in pass 1 (scanned there)
                scan_block(b);
        });
    }

    // Breadth first, one level at a time, each level in address order (block
    // indices follow addresses): chains stay shortest, and the blocks of a
    // level are read in the order memory lies, not scattered.
    template <typename Each>
    void by_levels(uint32_t *queue, const uint32_t &tail, Each &&each) {
        uint32_t head = 0;
        while (head < tail) {
            const uint32_t level_end = tail;
            std::sort(queue + head, queue + level_end);
            for (; head < level_end; ++head) {
                prefetch_queued(queue, head, level_end);
                each(queue[head]);
            }
            batch_.flush(Reach{this});
        }
    }

    // The entry of a block a few places ahead, and the first lines of one
    // closer, are fetched while the current one is scanned.
    void prefetch_queued(const uint32_t *queue, uint32_t head, uint32_t end) const {
        if (head + 16 < end)
            __builtin_prefetch(c_.blocks.block_address(queue[head + 16]));
        if (head + 8 < end)
            prefetch_contents(queue[head + 8]);
    }

    void prefetch_contents(uint32_t block) const {
        const memleak_scan_block_t &b = c_.blocks[block];
        if (const uint8_t *host = c_.memory.host_address(b.address)) {
            const uint64_t lines = b.size < 8 * 64 ? (b.size + 63) / 64 : 8;
            for (uint64_t l = 0; l < lines; ++l)
                __builtin_prefetch(host + 64 * l);
        }
    }

    // Each clique is walked breadth first too (which blocks it claims does
    // not depend on the order), so the blocks queued next can be fetched
    // while one is scanned.
    void group_cliques() {
        uint32_t *queue = reach_queue_;
        const uint32_t n = c_.blocks.count();
        for (uint32_t leader = 0; leader < n; ++leader) {
            if (leader + 8 < n && state_[leader + 8] == kUnreached)
                prefetch_contents(leader + 8);
            if (state_[leader] != kUnreached)
                continue;
            uint32_t tail = 0;
            queue[tail++] = leader;
            auto claim = [&](uint32_t t, uint64_t value, uint64_t word, uint16_t from, uint32_t source) {
                if (t == leader || state_[t] != kUnreached)
                    return;
                state_[t] = kIndirect;
                record(t, from, source, word, value, MEMLEAK_SCAN_HEURISTIC_NONE);
                prefetch_contents(t);
                queue[tail++] = t;
            };
            // The batch spans the clique's blocks; it is flushed whenever
            // the queue runs dry, which may queue more.
            for (uint32_t head = 0; head < tail;) {
                for (; head < tail; ++head) {
                    prefetch_queued(queue, head, tail);
                    const uint32_t b = queue[head];
                    c_.scan_block(b, [&](uint64_t value, uint64_t word) {
                        batch_.add(value, word, MEMLEAK_SCAN_FROM_BLOCK, b, claim);
                    });
                }
                batch_.flush(claim);
            }
        }
    }

    ScanContext &c_;
    uint8_t *state_;
    memleak_scan_ref_t *pred_;
    uint32_t *reach_queue_;
    uint32_t *possible_queue_;
    uint32_t reach_tail_ = 0;
    uint32_t possible_tail_ = 0;
    bool definite_ = true;

    PointerBatch batch_;
};

constexpr uint8_t kClassOf[] = {MEMLEAK_SCAN_DEFINITELY_LOST, MEMLEAK_SCAN_POSSIBLY_LOST,
                                MEMLEAK_SCAN_STILL_REACHABLE, MEMLEAK_SCAN_INDIRECTLY_LOST};

}  // namespace

int classify(const memleak_scan_input_t &in, memleak_scan_result_t &out, WorkMemory &work, Message &message) {
    const uint64_t n = in.block_count;
    uint32_t *reach_queue = work.array<uint32_t>(n);
    uint32_t *possible_queue = work.array<uint32_t>(n);
    if (!reach_queue || !possible_queue) {
        message.text("out of memory for the work lists of ").dec(n).text(" blocks");
        return MEMLEAK_SCAN_ENOMEM;
    }
    for (uint64_t i = 0; i < n; ++i) {
        out.kinds[i] = kUnreached;
        if (out.predecessors)
            out.predecessors[i] = memleak_scan_ref_t{0, 0, 0, MEMLEAK_SCAN_FROM_NONE, 0};
    }

    ScanContext context(in);
    if (!context.blocks.build(work) || !context.order_roots(work)) {
        message.text("out of memory for the index of ").dec(n).text(" blocks");
        return MEMLEAK_SCAN_ENOMEM;
    }
    Marker(context, out.kinds, out.predecessors, reach_queue, possible_queue).run();

    for (int k = 0; k < 5; ++k)
        out.class_blocks[k] = out.class_bytes[k] = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t state = out.kinds[i];
        const uint8_t kind = kClassOf[state & 3];
        out.kinds[i] = kind;
        if (out.heuristics)
            out.heuristics[i] = static_cast<uint8_t>(state >> kHeuristicShift);
        out.class_blocks[kind] += 1;
        out.class_bytes[kind] += in.blocks[i].size;
    }
    out.scanned_bytes = context.counters.scanned_bytes;
    out.unreadable_bytes = context.counters.unreadable_bytes;
    return MEMLEAK_SCAN_OK;
}

}  // namespace memleak::scan
