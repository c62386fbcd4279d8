#include "scan/scan_context.h"

#include <algorithm>

namespace memleak::scan {

bool ScanContext::order_roots(WorkMemory &work) {
    const uint32_t n = static_cast<uint32_t>(input.root_count);
    root_order = work.array<uint32_t>(n);
    if (!root_order)
        return false;
    for (uint32_t i = 0; i < n; ++i)
        root_order[i] = i;
    const memleak_scan_root_t *roots = input.roots;
    // A total order (ties broken by index), so std::sort keeps the given
    // order among equals without std::stable_sort's buffer from operator new,
    // which the runtime, linked without libstdc++, cannot have.
    std::sort(root_order, root_order + n, [roots](uint32_t a, uint32_t b) {
        const bool a_memory = roots[a].bytes == nullptr, b_memory = roots[b].bytes == nullptr;
        if (a_memory != b_memory)
            return !a_memory;
        if (a_memory && roots[a].address != roots[b].address)
            return roots[a].address < roots[b].address;
        return a < b;
    });
    return true;
}

}  // namespace memleak::scan
