#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <link.h>

#include "unwind/unwinder.h"

namespace memleak::unwind {

namespace {

struct TextRange {
    uintptr_t lo;
    uintptr_t hi;
};

// Frames of the runtime itself (hook, tracker, capture) and of libunwind
// (unw_backtrace reports its own frame first) are never the user's.
TextRange g_ranges[2];

struct RangeQuery {
    uintptr_t addr;
    TextRange *out;
};

int find_object(struct dl_phdr_info *info, size_t, void *data) {
    auto *q = static_cast<RangeQuery *>(data);
    bool contains = false;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD)
            continue;
        const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
        const uintptr_t end = start + ph.p_memsz;
        if (q->addr >= start && q->addr < end)
            contains = true;
        if (ph.p_flags & PF_X) {
            if (start < lo)
                lo = start;
            if (end > hi)
                hi = end;
        }
    }
    if (!contains)
        return 0;
    q->out->lo = lo;
    q->out->hi = hi;
    return 1;
}

void find_text(uintptr_t addr, TextRange *out) {
    RangeQuery q{addr, out};
    dl_iterate_phdr(find_object, &q);
}

inline bool in_runtime_text(uintptr_t pc) {
    return (pc - g_ranges[0].lo < g_ranges[0].hi - g_ranges[0].lo) ||
           (pc - g_ranges[1].lo < g_ranges[1].hi - g_ranges[1].lo);
}

}  // namespace

void init() {
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    find_text(reinterpret_cast<uintptr_t>(&capture), &g_ranges[0]);
    find_text(reinterpret_cast<uintptr_t>(&unw_backtrace), &g_ranges[1]);
}

uint32_t capture(uint64_t *buf, uint32_t max_depth, uint32_t *first, bool *truncated) {
    static_assert(sizeof(void *) == sizeof(uint64_t), "64-bit targets only");
    if (max_depth > kMaxDepthLimit)
        max_depth = kMaxDepthLimit;
    const int n = unw_backtrace(reinterpret_cast<void **>(buf), static_cast<int>(max_depth + kRuntimeFrames + 1));
    int skip = 0;
    while (skip < n && in_runtime_text(buf[skip]))
        ++skip;
    uint32_t depth = n > skip ? static_cast<uint32_t>(n - skip) : 0;
    *truncated = depth > max_depth;
    if (depth > max_depth)
        depth = max_depth;
    *first = static_cast<uint32_t>(skip);
    return depth;
}

}  // namespace memleak::unwind
