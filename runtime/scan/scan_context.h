// What both queries share: the checked input, its memory and blocks, and
// the walks over a root's or a block's words.
#pragma once

#include "scan/block_index.h"
#include "scan/memory_view.h"

#include <memleak/scan.h>

namespace memleak::scan {

struct ScanContext {
    explicit ScanContext(const memleak_scan_input_t &in)
        : input(in), memory(in.segments, in.segment_count),
          blocks(in.blocks, static_cast<uint32_t>(in.block_count)) {}

    // visit(value, word_address) for every readable word of root `r`; words
    // inside live blocks are not roots.
    template <typename Visit> void scan_root(uint32_t r, Visit &&visit) {
        const memleak_scan_root_t &root = input.roots[r];
        if (root.bytes) {
            scan_bytes(root, counters, visit);
            return;
        }
        const uint64_t end = root.address + root.length;
        uint64_t cursor = root.address;
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

    template <typename Visit> void scan_block(uint32_t b, Visit &&visit) {
        const memleak_scan_block_t &block = blocks[b];
        memory.scan(block.address, block.address + block.size, counters, visit);
    }

    const memleak_scan_input_t &input;
    MemoryView memory;
    BlockIndex blocks;
    ScanCounters counters;
};

}  // namespace memleak::scan
