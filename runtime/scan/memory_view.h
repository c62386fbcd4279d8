// The memory the caller gave as segments, read word by word. A read that
// leaves the segments fails; nothing here dereferences an address taken
// from the scanned memory itself.
#pragma once

#include <memleak/scan.h>

#include <cstdint>
#include <cstring>

namespace memleak::scan {

constexpr uint64_t kWord = 8;

inline uint64_t round_down_word(uint64_t a) { return a & ~(kWord - 1); }

inline uint64_t segment_end(const memleak_scan_segment_t &s) { return s.address + s.length; }

inline uint64_t load_word(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

struct ScanCounters {
    uint64_t scanned_bytes = 0;
    uint64_t unreadable_bytes = 0;
};

class MemoryView {
public:
    MemoryView(const memleak_scan_segment_t *segments, uint64_t count) : segments_(segments), count_(count) {}

    // Index of the first segment that ends after `addr` (count_ if none).
    uint64_t first_ending_after(uint64_t addr) const {
        uint64_t lo = 0, hi = count_;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (segment_end(segments_[mid]) <= addr)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    // The segment holding `addr`, or nullptr.
    const memleak_scan_segment_t *find(uint64_t addr) const {
        uint64_t i = first_ending_after(addr);
        if (i < count_ && segments_[i].address <= addr)
            return &segments_[i];
        return nullptr;
    }

    // Where the byte at `addr` is in the caller's buffers, or nullptr.
    const uint8_t *host_address(uint64_t addr) const {
        if (count_ == 1) {
            const memleak_scan_segment_t &s = segments_[0];
            return s.bytes && addr - s.address < s.length
                       ? static_cast<const uint8_t *>(s.bytes) + (addr - s.address)
                       : nullptr;
        }
        const memleak_scan_segment_t *s = find(addr);
        return s && s->bytes ? static_cast<const uint8_t *>(s->bytes) + (addr - s->address) : nullptr;
    }

    // The 8 bytes at `addr`, which may span adjacent segments.
    bool read_word(uint64_t addr, uint64_t *out) const {
        if (addr > UINT64_MAX - kWord)
            return false;
        uint64_t i = first_ending_after(addr);
        uint8_t bytes[kWord];
        uint64_t have = 0;
        while (have < kWord) {
            if (i >= count_)
                return false;
            const memleak_scan_segment_t &s = segments_[i];
            uint64_t at = addr + have;
            if (s.address > at || !s.bytes)
                return false;
            uint64_t take = segment_end(s) - at;
            if (take > kWord - have)
                take = kWord - have;
            memcpy(bytes + have, static_cast<const uint8_t *>(s.bytes) + (at - s.address), take);
            have += take;
            ++i;
        }
        *out = load_word(bytes);
        return true;
    }

    // Calls visit(value, word_address) for every aligned word inside
    // [begin, end) that the segments hold; counts the words they do not.
    template <typename Visit>
    void scan(uint64_t begin, uint64_t end, ScanCounters &counters, Visit &&visit) const {
        if (begin > UINT64_MAX - (kWord - 1))
            return;
        uint64_t w = round_down_word(begin + kWord - 1);
        const uint64_t stop = round_down_word(end);
        if (w >= stop)
            return;
        const uint64_t total = stop - w;
        uint64_t read = 0;
        for (uint64_t i = first_ending_after(w); i < count_ && w < stop; ++i) {
            const memleak_scan_segment_t &s = segments_[i];
            if (s.address >= stop)
                break;
            const uint64_t s_end = segment_end(s);
            if (!s.bytes) {
                uint64_t after = round_down_word(s_end + kWord - 1);
                if (after > w)
                    w = after;
                continue;
            }
            uint64_t first = round_down_word(s.address + kWord - 1);
            if (first > w)
                w = first;
            uint64_t inner_end = round_down_word(s_end);
            if (inner_end > stop)
                inner_end = stop;
            if (w < inner_end) {
                const uint8_t *p = static_cast<const uint8_t *>(s.bytes) + (w - s.address);
                const uint64_t n = (inner_end - w) / kWord;
                for (uint64_t k = 0; k < n; ++k)
                    visit(load_word(p + k * kWord), w + k * kWord);
                read += inner_end - w;
                w = inner_end;
            }
            if (w < stop && w < s_end && w + kWord > s_end) {
                uint64_t v;
                if (read_word(w, &v)) {
                    visit(v, w);
                    read += kWord;
                }
                w += kWord;
            }
        }
        counters.scanned_bytes += read;
        counters.unreadable_bytes += total - read;
    }

private:
    const memleak_scan_segment_t *segments_;
    uint64_t count_;
};

// The words of a root given as bytes (registers), aligned as if they lay
// at `address`.
template <typename Visit>
void scan_bytes(const memleak_scan_root_t &root, ScanCounters &counters, Visit &&visit) {
    const uint8_t *p = static_cast<const uint8_t *>(root.bytes);
    uint64_t skip = (kWord - (root.address & (kWord - 1))) & (kWord - 1);
    if (root.length < skip)
        return;
    uint64_t n = (root.length - skip) / kWord;
    for (uint64_t k = 0; k < n; ++k)
        visit(load_word(p + skip + k * kWord), root.address + skip + k * kWord);
    counters.scanned_bytes += n * kWord;
}

}  // namespace memleak::scan
