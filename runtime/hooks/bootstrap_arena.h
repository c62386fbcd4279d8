// The bootstrap arena: a static buffer that serves allocations made before
// the real allocator's address is known. Resolving it with dlsym can itself
// allocate (dlerror buffers, loader bookkeeping), and so can other threads
// racing the first resolution; those requests land here.
//
// Each block has a 16-byte header holding its size and where its space
// began, so free() can roll back the most recent block and realloc() knows
// how much to copy out. free, realloc and malloc_usable_size ask owns()
// before anything else, so a bootstrap block never reaches glibc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace memleak {

template <size_t Capacity>
class BootstrapArena {
public:
    // nullptr when the arena is exhausted or the alignment is not a power of two.
    void *allocate(size_t size, size_t alignment) {
        if (alignment < kHeader)
            alignment = kHeader;
        if (alignment & (alignment - 1))
            return nullptr;
        size_t top = __atomic_load_n(&top_, __ATOMIC_RELAXED);
        for (;;) {
            const uintptr_t base = reinterpret_cast<uintptr_t>(buf_);
            const uintptr_t user = (base + top + kHeader + alignment - 1) & ~(alignment - 1);
            const size_t user_off = user - base;
            if (size > Capacity || user_off > Capacity - round16(size))
                return nullptr;
            const size_t end = user_off + round16(size);
            if (__atomic_compare_exchange_n(&top_, &top, end, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                Header *h = reinterpret_cast<Header *>(user) - 1;
                h->size = size;
                h->start = top;
                return reinterpret_cast<void *>(user);
            }
        }
    }

    bool owns(const void *p) const {
        const uintptr_t a = reinterpret_cast<uintptr_t>(p);
        const uintptr_t base = reinterpret_cast<uintptr_t>(buf_);
        return a >= base && a < base + Capacity;
    }

    size_t usable_size(const void *p) const { return header(p)->size; }

    // Rolls back the newest block; an older block's space stays used.
    void release(void *p) {
        const Header *h = header(p);
        size_t end = static_cast<size_t>(static_cast<const unsigned char *>(p) - buf_) + round16(h->size);
        __atomic_compare_exchange_n(&top_, &end, h->start, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    }

    // realloc of a bootstrap block: a new block from `alloc` (the real
    // allocator by then), the old contents copied, the old block released.
    // size 0 frees and returns nullptr, as glibc's realloc does.
    template <typename AllocFn>
    void *move_out(void *p, size_t size, AllocFn alloc) {
        if (size == 0) {
            release(p);
            return nullptr;
        }
        void *q = alloc(size);
        if (!q)
            return nullptr;
        const size_t old = usable_size(p);
        memcpy(q, p, old < size ? old : size);
        release(p);
        return q;
    }

    size_t used() const { return __atomic_load_n(&top_, __ATOMIC_RELAXED); }

private:
    struct Header {
        uint64_t size;
        uint64_t start;  // top before this block: release() rolls back to it
    };
    static constexpr size_t kHeader = sizeof(Header);
    static size_t round16(size_t n) { return (n + 15) & ~size_t{15}; }
    static const Header *header(const void *p) { return static_cast<const Header *>(p) - 1; }

    alignas(64) unsigned char buf_[Capacity];
    size_t top_;
};

}  // namespace memleak

namespace memleak {

// The runtime's one arena. 256 KiB covers what dlsym and the loader ask for
// before the real functions are known, with a wide margin.
constexpr size_t kBootstrapCapacity = 256 * 1024;
extern BootstrapArena<kBootstrapCapacity> g_bootstrap;

}  // namespace memleak
