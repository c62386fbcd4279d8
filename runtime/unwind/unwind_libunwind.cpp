#include <link.h>

#include "core/options.h"
#include "unwind/rule_cache.h"
#include "unwind/unwinder.h"

namespace memleak::unwind {

TextRange g_runtime_text[2];
uint32_t g_runtime_frames;
bool g_fast_unwind;

namespace {

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

}  // namespace

void init() {
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    find_text(reinterpret_cast<uintptr_t>(&init), &g_runtime_text[0]);
    find_text(reinterpret_cast<uintptr_t>(&unw_backtrace), &g_runtime_text[1]);
    g_fast_unwind = options().fast_unwind != 0;
    init_fast_unwind();
}

void forget_unwind_info() {
    forget_rules();
    forget_unwind_memos();
    unw_flush_cache(unw_local_addr_space, 0, 0);
}

}  // namespace memleak::unwind
