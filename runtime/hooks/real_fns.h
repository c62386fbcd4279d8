// The real allocator: every symbol the hooks forward to, resolved once with
// dlsym(RTLD_NEXT) from one table (real_fns.cpp), each required or
// optional. A missing required symbol is reported in one stderr line and
// served by the bootstrap arena instead of crashing the program.
#pragma once

#include <cstddef>

namespace memleak {

struct RealFns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);  // optional: glibc >= 2.26
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};

extern RealFns g_real;

// True once g_real is filled in. The first caller resolves; callers that
// race it, and allocations made by dlsym itself, get false and must use the
// bootstrap arena.
extern int g_real_state;  // 0 unresolved, 1 resolving, 2 ready
bool resolve_real_fns();
inline bool real_fns_ready() {
    return __atomic_load_n(&g_real_state, __ATOMIC_ACQUIRE) == 2 || resolve_real_fns();
}

// operator new family, resolved on first use (only an allocation failure
// needs them): the real libstdc++ symbols, so new_handler and bad_alloc
// behave exactly as without the runtime.
enum class NewFn {
    kNew,
    kNewArray,
    kNewNothrow,
    kNewArrayNothrow,
    kNewAligned,
    kNewArrayAligned,
    kNewAlignedNothrow,
    kNewArrayAlignedNothrow,
    kCount
};
void *real_new_fn(NewFn which);

}  // namespace memleak
