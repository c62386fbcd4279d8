#include "scan/heuristics.h"

namespace memleak::scan {

namespace {

constexpr uint64_t kPage = 4096;
// A vtable is believed after two function pointers among its first words.
constexpr uint64_t kVtableWordsChecked = 20;

bool enabled_in(uint32_t enabled, uint32_t h) { return (enabled & MEMLEAK_SCAN_HEURISTIC_BIT(h)) != 0; }

// A COW string rep: length, capacity, refcount, then the characters and NUL.
bool is_stdstring(uint64_t value, const memleak_scan_block_t &b, const MemoryView &m) {
    uint64_t capacity, length;
    if (value != b.address + 3 * kWord || !m.read_word(b.address + kWord, &capacity))
        return false;
    if (capacity > b.size || 3 * kWord + capacity + 1 != b.size)
        return false;
    return m.read_word(b.address, &length) && length <= capacity;
}

bool is_length64(uint64_t value, const memleak_scan_block_t &b, const MemoryView &m) {
    uint64_t length;
    if (value != b.address + kWord || b.size < kWord || !m.read_word(b.address, &length))
        return false;
    return length > 0 && length == b.size - kWord;
}

bool is_newarray(uint64_t value, const memleak_scan_block_t &b, const MemoryView &m) {
    uint64_t elements;
    if (value != b.address + kWord || b.size < kWord || !m.read_word(b.address, &elements))
        return false;
    return elements > 0 && (b.size - kWord) % elements == 0;
}

bool in_code(uint64_t addr, const MemoryView &m) {
    const memleak_scan_segment_t *s = m.find(addr);
    const uint32_t code = MEMLEAK_SCAN_SEGMENT_FILE | MEMLEAK_SCAN_SEGMENT_EXEC;
    return s && (s->flags & code) == code;
}

// A table in a readable file mapping whose first non-null words (at least
// two among the first ones) all point into executable file mappings.
bool is_vtable(uint64_t addr, const MemoryView &m) {
    const memleak_scan_segment_t *s = m.find(addr);
    if (!s || !s->bytes || !(s->flags & MEMLEAK_SCAN_SEGMENT_FILE))
        return false;
    const uint64_t end = segment_end(*s);
    int functions = 0;
    for (uint64_t k = 0; k <= kVtableWordsChecked; ++k) {
        uint64_t at = addr + k * kWord;
        if (at + kWord > end || at < addr)
            break;
        uint64_t entry;
        if (!m.read_word(at, &entry))
            return false;
        if (entry == 0)
            continue;
        if (!in_code(entry, m))
            return false;
        if (++functions == 2)
            return true;
    }
    return false;
}

bool plausible_vtable_pointer(uint64_t v) { return (v & (kWord - 1)) == 0 && v >= kPage; }

bool is_multiple_inheritance(uint64_t value, const memleak_scan_block_t &b, const MemoryView &m) {
    uint64_t inner, first;
    if ((value & (kWord - 1)) != 0 || value + kWord > b.address + b.size)
        return false;
    if (!m.read_word(value, &inner) || !plausible_vtable_pointer(inner))
        return false;
    if (!m.read_word(b.address, &first) || !plausible_vtable_pointer(first))
        return false;
    return is_vtable(inner, m) && is_vtable(first, m);
}

}  // namespace

uint32_t heuristic_for(uint64_t value, const memleak_scan_block_t &block, uint32_t enabled,
                       const MemoryView &memory) {
    if (enabled_in(enabled, MEMLEAK_SCAN_HEURISTIC_STDSTRING) && is_stdstring(value, block, memory))
        return MEMLEAK_SCAN_HEURISTIC_STDSTRING;
    if (enabled_in(enabled, MEMLEAK_SCAN_HEURISTIC_LENGTH64) && is_length64(value, block, memory))
        return MEMLEAK_SCAN_HEURISTIC_LENGTH64;
    if (enabled_in(enabled, MEMLEAK_SCAN_HEURISTIC_NEWARRAY) && is_newarray(value, block, memory))
        return MEMLEAK_SCAN_HEURISTIC_NEWARRAY;
    if (enabled_in(enabled, MEMLEAK_SCAN_HEURISTIC_MULTIPLE_INHERITANCE) &&
        is_multiple_inheritance(value, block, memory))
        return MEMLEAK_SCAN_HEURISTIC_MULTIPLE_INHERITANCE;
    return MEMLEAK_SCAN_HEURISTIC_NONE;
}

}  // namespace memleak::scan
