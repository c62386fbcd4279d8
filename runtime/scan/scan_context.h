// What both queries share: the checked input, its memory and blocks, and
// the walks over a root's or a block's words.
#pragma once

#include "scan/block_index.h"
#include "scan/memory_view.h"
#include "scan/work_memory.h"

#include <memleak/scan.h>

namespace memleak::scan {

struct ScanContext {
    explicit ScanContext(const memleak_scan_input_t &in)
        : input(in),
          memory(in.segments, in.segment_count),
          blocks(in.blocks, static_cast<uint32_t>(in.block_count)) {}

    // Orders the roots for scan_roots(); false when `work` cannot hold the order.
    bool order_roots(WorkMemory &work);

    // visit(root, value, word_address) for every readable root word: roots
    // given as bytes first, then the others by address. A word is scanned
    // once, for the first root holding it, however the roots overlap, and
    // words inside live blocks are not roots.
    template <typename Visit>
    void scan_roots(Visit &&visit) {
        uint64_t covered = 0;
        for (uint32_t i = 0; i < input.root_count; ++i) {
            const uint32_t r = root_order[i];
            const memleak_scan_root_t &root = input.roots[r];
            auto words = [&](uint64_t value, uint64_t word) { visit(r, value, word); };
            if (root.bytes) {
                scan_bytes(root, counters, words);
                continue;
            }
            const uint64_t end = root.address + root.length;
            const uint64_t begin = root.address > covered ? root.address : covered;
            if (end > covered)
                covered = end;
            if (begin < end)
                scan_outside_blocks(begin, end, words);
        }
    }

    template <typename Visit>
    void scan_outside_blocks(uint64_t begin, uint64_t end, Visit &&visit) {
        uint64_t cursor = begin;
        for (uint32_t b = blocks.first_ending_after(cursor); b < blocks.count(); ++b) {
            const memleak_scan_block_t &block = blocks[b];
            if (block.address >= end)
                break;
            if (block.size == 0)
                continue;  // no contents to leave out
            if (block.address > cursor)
                memory.scan(cursor, block.address, counters, visit);
            cursor = block.address + block.size;
        }
        if (cursor < end)
            memory.scan(cursor, end, counters, visit);
    }

    template <typename Visit>
    void scan_block(uint32_t b, Visit &&visit) {
        const memleak_scan_block_t &block = blocks[b];
        memory.scan(block.address, block.address + block.size, counters, visit);
    }

    const memleak_scan_input_t &input;
    MemoryView memory;
    BlockIndex blocks;
    ScanCounters counters;
    uint32_t *root_order = nullptr;
};

}  // namespace memleak::scan
