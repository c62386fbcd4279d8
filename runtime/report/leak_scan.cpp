#include "report/leak_scan.h"

#include <link.h>
#include <time.h>

#include <algorithm>

#include "table/internal_alloc.h"
#include "memleak/scan.h"
#include "memleak/table_reader.h"
#include "report/stop_world.h"

namespace memleak::report {

namespace {

struct Block {
    uint64_t address;
    uint64_t size;
    uint32_t stack_id;
    uint32_t unused;
};

uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts;
    clock_gettime(clock, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

int copy_block(void *p, const memleak_table_block_t *b) {
    return static_cast<Scratch<Block> *>(p)->push(Block{b->address, b->size, b->stack_id, 0}) ? 0 : 1;
}

// Every live record, through the table reader and without the shard locks:
// no other thread runs (they are stopped, or there is none), so a held lock
// means a stopped thread was inside the shard; it is read as it is and
// counted.
bool copy_table(const memleak_introspect_t *ix, Scratch<Block> *out, unsigned *in_flux, const char **why) {
    static memleak_table_t table;  // its error text outlives the call
    *why = "out of memory for the copy of the table";
    if (memleak_table_open(&table, memleak_table_read_self, nullptr, reinterpret_cast<uint64_t>(ix)) !=
        MEMLEAK_TABLE_OK) {
        *why = table.error;
        return false;
    }
    uint64_t live = 0;
    memleak_shard_t shard;
    for (uint32_t s = 0; s < table.header.shard_count; ++s)
        if (memleak_table_shard(&table, s, &shard) == MEMLEAK_TABLE_OK)
            live += shard.live_count;
    if (!out->reserve(live + 64))
        return false;
    for (uint32_t s = 0; s < table.header.shard_count; ++s) {
        int status = memleak_table_shard(&table, s, &shard);
        if (status == MEMLEAK_TABLE_OK) {
            if (shard.lock != 0)
                ++*in_flux;
            status = memleak_table_shard_blocks(&table, s, &shard, copy_block, out);
        }
        if (status == MEMLEAK_TABLE_STOPPED)
            return false;
        if (status != MEMLEAK_TABLE_OK) {
            *why = table.error;
            return false;
        }
    }
    std::sort(out->begin(), out->end(), [](const Block &a, const Block &b) { return a.address < b.address; });
    return true;
}

void *scan_allocate(void *, size_t bytes) { return map_pages(bytes, MEMLEAK_REGION_REPORT); }
void scan_release(void *, void *memory, size_t bytes) { unmap_pages(memory, bytes); }

struct Job {
    const memleak_introspect_t *ix;
    CallerState caller;
    ThreadLayout layout;
    Scratch<BlockItem> *items;
    ExitScan *scan;
};

// The scan proper, with the loader's lock held.
void classify_locked(Job &job) {
    ExitScan &scan = *job.scan;
    Scratch<ModuleSegment> modules;
    if (!collect_module_segments(&modules)) {
        scan.why_not = "out of memory for the module list";
        return;
    }
    WorldStop stop;
    const WorldStop::Result stopped = stop.stop();
    if (stopped == WorldStop::Result::kNotStopped) {
        scan.why_not = stop.why_not();
        return;
    }
    const uint64_t start = now_ns(), start_cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    scan.stopped_threads = stop.count();

    Scratch<Block> table;
    if (!copy_table(job.ix, &table, &scan.in_flux, &scan.why_not))
        return;
    RootInput in;
    in.threads = stop.threads();
    in.thread_count = stop.count();
    in.caller = job.caller;
    in.layout = job.layout;
    in.modules = modules.data();
    in.module_count = modules.size();
    Scratch<RootRange> roots;
    Scratch<SegmentRange> segments;
    if (!collect_roots(in, &roots, &segments, &scan.why_not))
        return;

    Scratch<memleak_scan_block_t> blocks;
    Scratch<memleak_scan_segment_t> scan_segments;
    Scratch<memleak_scan_root_t> scan_roots;
    Scratch<uint8_t> kinds;
    if (!blocks.reserve(table.size() + 1) || !kinds.reserve(table.size() + 1) ||
        !scan_segments.reserve(segments.size() + 1) || !scan_roots.reserve(roots.size() + 1)) {
        scan.why_not = "out of memory for the scan";
        return;
    }
    for (const Block &b : table)
        blocks.push(memleak_scan_block_t{b.address, b.size});
    for (const SegmentRange &s : segments)
        scan_segments.push(memleak_scan_segment_t{s.lo, s.hi - s.lo,
                                                  s.readable ? reinterpret_cast<const void *>(s.lo) : nullptr,
                                                  (s.file ? uint32_t{MEMLEAK_SCAN_SEGMENT_FILE} : 0u) |
                                                      (s.exec ? uint32_t{MEMLEAK_SCAN_SEGMENT_EXEC} : 0u),
                                                  0});
    for (const RootRange &r : roots) {
        // Registers are copies in the runtime's memory, not in any segment.
        const void *bytes = r.kind == RootKind::kRegisters ? reinterpret_cast<const void *>(r.lo) : nullptr;
        scan_roots.push(memleak_scan_root_t{r.lo, r.hi - r.lo, bytes, static_cast<uint32_t>(r.kind), r.tid});
    }
    const memleak_scan_allocator_t allocator = {scan_allocate, scan_release, nullptr};
    memleak_scan_input_t input = {};
    input.blocks = blocks.data();
    input.block_count = blocks.size();
    input.segments = scan_segments.data();
    input.segment_count = scan_segments.size();
    input.roots = scan_roots.data();
    input.root_count = scan_roots.size();
    input.heuristics = MEMLEAK_SCAN_HEURISTICS_ALL;
    input.allocator = &allocator;
    memleak_scan_result_t result = {};
    result.kinds = kinds.data();
    const int status = memleak_scan_classify(&input, &result);
    stop.resume();
    scan.scan_ns = now_ns() - start;
    scan.scan_cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - start_cpu;
    if (status != MEMLEAK_SCAN_OK) {
        scan.why_not =
            status == MEMLEAK_SCAN_ENOMEM ? "out of memory for the scan" : "the scanner refused the table";
        return;
    }
    if (!job.items->reserve(table.size() + 1)) {
        scan.why_not = "out of memory for the report's copy of the table";
        return;
    }
    for (size_t i = 0; i < table.size(); ++i)
        job.items->push(BlockItem{table[i].size, table[i].stack_id, kinds[i]});
    scan.blocks = table.size();
    scan.scanned_bytes = result.scanned_bytes;
    scan.classified = true;
}

int locked_cb(struct dl_phdr_info *, size_t, void *data) {
    classify_locked(*static_cast<Job *>(data));
    return 1;
}

}  // namespace

void classify_at_exit(const memleak_introspect_t *ix, const CallerState &caller, Scratch<BlockItem> *items,
                      ExitScan *scan) {
    *scan = ExitScan{};
    items->resize(0);
    Job job{ix, caller, find_thread_layout(), items, scan};
    scan->why_not = "no module is loaded";
    dl_iterate_phdr(locked_cb, &job);
    if (!scan->classified)
        items->resize(0);
}

}  // namespace memleak::report
