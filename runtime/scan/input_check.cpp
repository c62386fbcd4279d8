#include "scan/input_check.h"

#include "scan/block_index.h"

namespace memleak::scan {

namespace {

constexpr uint64_t kMaxBlocks = UINT32_MAX - 1;

int check_blocks(const memleak_scan_input_t &in, Message &message) {
    if (in.block_count > kMaxBlocks) {
        message.text("too many blocks: ").dec(in.block_count).text(" (at most ").dec(kMaxBlocks).text(")");
        return MEMLEAK_SCAN_EINVAL;
    }
    if (in.block_count && !in.blocks) {
        message.text("no block array for ").dec(in.block_count).text(" blocks");
        return MEMLEAK_SCAN_EINVAL;
    }
    for (uint64_t i = 0; i < in.block_count; ++i) {
        const memleak_scan_block_t &b = in.blocks[i];
        if (b.size > UINT64_MAX - b.address || (b.size == 0 && b.address == UINT64_MAX)) {
            message.text("block ").dec(i).text(" at ").hex(b.address).text(" of ").dec(b.size).text(
                " bytes wraps around the address space");
            return MEMLEAK_SCAN_EBLOCKS;
        }
        if (i == 0)
            continue;
        const memleak_scan_block_t &prev = in.blocks[i - 1];
        if (b.address <= prev.address) {
            message.text("blocks not sorted by address: block ")
                .dec(i)
                .text(" at ")
                .hex(b.address)
                .text(" follows ")
                .hex(prev.address);
            return MEMLEAK_SCAN_EBLOCKS;
        }
        if (b.address < hit_end(prev)) {
            message.text("blocks overlap: block ")
                .dec(i)
                .text(" at ")
                .hex(b.address)
                .text(" starts inside the block at ")
                .hex(prev.address);
            return MEMLEAK_SCAN_EBLOCKS;
        }
    }
    return MEMLEAK_SCAN_OK;
}

int check_segments(const memleak_scan_input_t &in, Message &message) {
    if (in.segment_count && !in.segments) {
        message.text("no segment array for ").dec(in.segment_count).text(" segments");
        return MEMLEAK_SCAN_EINVAL;
    }
    for (uint64_t i = 0; i < in.segment_count; ++i) {
        const memleak_scan_segment_t &s = in.segments[i];
        if (s.length > UINT64_MAX - s.address) {
            message.text("segment ")
                .dec(i)
                .text(" at ")
                .hex(s.address)
                .text(" of ")
                .dec(s.length)
                .text(" bytes wraps around the address space");
            return MEMLEAK_SCAN_ESEGMENTS;
        }
        if (i > 0 && s.address < in.segments[i - 1].address + in.segments[i - 1].length) {
            message.text("segments not sorted or overlapping: segment ")
                .dec(i)
                .text(" at ")
                .hex(s.address)
                .text(" after one ending at ")
                .hex(in.segments[i - 1].address + in.segments[i - 1].length);
            return MEMLEAK_SCAN_ESEGMENTS;
        }
    }
    return MEMLEAK_SCAN_OK;
}

int check_roots(const memleak_scan_input_t &in, Message &message) {
    if (in.root_count && !in.roots) {
        message.text("no root array for ").dec(in.root_count).text(" roots");
        return MEMLEAK_SCAN_EINVAL;
    }
    if (in.root_count > UINT32_MAX) {
        message.text("too many roots: ").dec(in.root_count);
        return MEMLEAK_SCAN_EINVAL;
    }
    for (uint64_t i = 0; i < in.root_count; ++i) {
        const memleak_scan_root_t &r = in.roots[i];
        if (r.kind < MEMLEAK_SCAN_ROOT_STACK || r.kind > MEMLEAK_SCAN_ROOT_MAPPING) {
            message.text("root ").dec(i).text(" has unknown kind ").dec(r.kind);
            return MEMLEAK_SCAN_EROOTS;
        }
        if (r.length > UINT64_MAX - r.address) {
            message.text("root ").dec(i).text(" at ").hex(r.address).text(" of ").dec(r.length).text(
                " bytes wraps around the address space");
            return MEMLEAK_SCAN_EROOTS;
        }
    }
    return MEMLEAK_SCAN_OK;
}

}  // namespace

int check_input(const memleak_scan_input_t *input, Message &message) {
    if (!input) {
        message.text("no input");
        return MEMLEAK_SCAN_EINVAL;
    }
    if (input->heuristics & ~MEMLEAK_SCAN_HEURISTICS_ALL) {
        message.text("unknown heuristics in mask ").hex(input->heuristics);
        return MEMLEAK_SCAN_EINVAL;
    }
    int status = check_blocks(*input, message);
    if (status == MEMLEAK_SCAN_OK)
        status = check_segments(*input, message);
    if (status == MEMLEAK_SCAN_OK)
        status = check_roots(*input, message);
    return status;
}

}  // namespace memleak::scan
