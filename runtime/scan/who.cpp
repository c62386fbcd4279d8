// `memleak who`: every root word and block word pointing into one block,
// whatever the classes. One pass over all roots and all blocks, no marking.
#include "scan/classify.h"
#include "scan/heuristics.h"
#include "scan/scan_context.h"

namespace memleak::scan {

int who(const memleak_scan_input_t &in, memleak_scan_who_t &query, WorkMemory &work, Message &message) {
    if (query.target >= in.block_count) {
        message.text("no block ").dec(query.target).text(" among ").dec(in.block_count);
        return MEMLEAK_SCAN_EINVAL;
    }
    if (query.capacity && !query.refs) {
        message.text("no reference array for ").dec(query.capacity).text(" references");
        return MEMLEAK_SCAN_EINVAL;
    }
    ScanContext context(in);
    if (!context.order_roots(work)) {
        message.text("out of memory for the order of ").dec(in.root_count).text(" roots");
        return MEMLEAK_SCAN_ENOMEM;
    }
    const memleak_scan_block_t target = in.blocks[query.target];
    const uint64_t end = hit_end(target);
    query.total = 0;

    auto collect = [&](uint16_t from, uint32_t index, uint64_t base) {
        return [&query, &context, &in, target, end, from, index, base](uint64_t value, uint64_t word) {
            if (value < target.address || value >= end)
                return;
            if (query.total < query.capacity) {
                memleak_scan_ref_t &r = query.refs[query.total];
                r.offset = word - base;
                r.target_offset = value - target.address;
                r.index = index;
                r.from = from;
                uint32_t h = MEMLEAK_SCAN_HEURISTIC_NONE;
                if (value != target.address && in.heuristics)
                    h = heuristic_for(value, target, in.heuristics, context.memory);
                r.heuristic = static_cast<uint16_t>(h);
            }
            ++query.total;
        };
    };
    context.scan_roots([&](uint32_t r, uint64_t value, uint64_t word) {
        collect(MEMLEAK_SCAN_FROM_ROOT, r, in.roots[r].address)(value, word);
    });
    for (uint32_t b = 0; b < context.blocks.count(); ++b)
        context.scan_block(b, collect(MEMLEAK_SCAN_FROM_BLOCK, b, in.blocks[b].address));
    return MEMLEAK_SCAN_OK;
}

}  // namespace memleak::scan
