// The C allocator entry points: serve bootstrap calls, forward to glibc,
// notify the tracker. Nothing else happens here.
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/export.h"
#include "core/reentry_guard.h"
#include "core/tracker.h"
#include "hooks/bootstrap_arena.h"
#include "hooks/hooks.h"
#include "hooks/real_fns.h"
#include "hooks/record.h"

namespace memleak {

BootstrapArena<kBootstrapCapacity> g_bootstrap;

namespace {

inline bool tracking() { return !in_runtime() && tracker::recording(); }

void *bootstrap_alloc(size_t size, size_t alignment) {
    void *p = g_bootstrap.allocate(size, alignment);
    if (p)
        tracker::add_bootstrap_bytes(size);
    else
        errno = (alignment & (alignment - 1)) ? EINVAL : ENOMEM;
    return p;
}

inline void record(void *p, size_t size) {
    ErrnoSaver saved;
    on_alloc(p, size);
}

template <typename RealCall>
void *tracked_resize(void *p, size_t size, bool zero_size, RealCall real_call) {
    ReentryGuard guard;
    RecordData old;
    bool had = false;
    if (p) {
        ErrnoSaver saved;
        // Out before the real call: once glibc owns the address again,
        // another thread may get it and record it.
        had = tracker::take(p, &old);
    }
    void *q = real_call();
    ErrnoSaver saved;
    if (q) {
        on_alloc(q, size);
        if (p && !had)
            tracker::note_untracked_free();
    } else if (p && !zero_size) {
        if (had)
            tracker::put_back(old);
    } else if (p && !had) {
        tracker::note_untracked_free();
    }
    return q;
}

void *bootstrap_resize(void *p, size_t size) {
    return g_bootstrap.move_out(p, size, [](size_t n) { return hooked_malloc(n, n); });
}

}  // namespace

void *hooked_malloc(size_t size, size_t recorded_size) {
    if (__builtin_expect(!real_fns_ready(), 0))
        return bootstrap_alloc(size, 16);
    if (!tracking())
        return g_real.malloc(size);
    ReentryGuard guard;
    void *p = g_real.malloc(size);
    if (p)
        record(p, recorded_size);
    return p;
}

void *hooked_aligned_alloc(size_t alignment, size_t size, size_t recorded_size) {
    if (__builtin_expect(!real_fns_ready(), 0))
        return bootstrap_alloc(size, alignment);
    if (!tracking())
        return g_real.aligned_alloc(alignment, size);
    ReentryGuard guard;
    void *p = g_real.aligned_alloc(alignment, size);
    if (p)
        record(p, recorded_size);
    return p;
}

}  // namespace memleak

using namespace memleak;

extern "C" {

MEMLEAK_EXPORT void *malloc(size_t size) { return hooked_malloc(size, size); }

MEMLEAK_EXPORT void free(void *p) {
    if (!p)
        return;
    if (g_bootstrap.owns(p)) {
        g_bootstrap.release(p);
        return;
    }
    // A pointer that is not ours before glibc is known cannot be freed;
    // leaking it is the only safe choice.
    if (__builtin_expect(!real_fns_ready(), 0))
        return;
    if (!tracking()) {
        g_real.free(p);
        return;
    }
    ReentryGuard guard;
    {
        ErrnoSaver saved;
        // Out of the table before glibc can hand the address to another thread.
        tracker::on_free(p);
    }
    g_real.free(p);
}

MEMLEAK_EXPORT void *calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_expect(!real_fns_ready(), 0)) {
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return nullptr;
        }
        void *p = bootstrap_alloc(total, 16);
        // Rolled-back arena space may be reused, so it is not known zero.
        if (p)
            memset(p, 0, total);
        return p;
    }
    if (!tracking())
        return g_real.calloc(n, size);
    ReentryGuard guard;
    void *p = g_real.calloc(n, size);
    if (p)
        record(p, n * size);
    return p;
}

MEMLEAK_EXPORT void *realloc(void *p, size_t size) {
    if (p && g_bootstrap.owns(p))
        return bootstrap_resize(p, size);
    if (__builtin_expect(!real_fns_ready(), 0)) {
        if (!p)
            return bootstrap_alloc(size, 16);
        errno = ENOMEM;
        return nullptr;
    }
    if (!tracking())
        return g_real.realloc(p, size);
    return tracked_resize(p, size, size == 0, [=] { return g_real.realloc(p, size); });
}

MEMLEAK_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    const bool overflow = __builtin_mul_overflow(n, size, &total);
    if ((p && g_bootstrap.owns(p)) || __builtin_expect(!real_fns_ready(), 0)) {
        if (overflow) {
            errno = ENOMEM;
            return nullptr;
        }
        return realloc(p, total);
    }
    if (!tracking())
        return g_real.reallocarray(p, n, size);
    return tracked_resize(p, total, !overflow && total == 0, [=] { return g_real.reallocarray(p, n, size); });
}

MEMLEAK_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    if (__builtin_expect(!real_fns_ready(), 0)) {
        if (alignment % sizeof(void *) || (alignment & (alignment - 1)))
            return EINVAL;
        void *p = g_bootstrap.allocate(size, alignment);
        if (!p)
            return ENOMEM;
        tracker::add_bootstrap_bytes(size);
        *out = p;
        return 0;
    }
    if (!tracking())
        return g_real.posix_memalign(out, alignment, size);
    ReentryGuard guard;
    const int rc = g_real.posix_memalign(out, alignment, size);
    if (rc == 0)
        record(*out, size);
    return rc;
}

MEMLEAK_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    return hooked_aligned_alloc(alignment, size, size);
}

MEMLEAK_EXPORT void *memalign(size_t alignment, size_t size) {
    if (__builtin_expect(!real_fns_ready(), 0))
        return bootstrap_alloc(size, alignment);
    if (!tracking())
        return g_real.memalign(alignment, size);
    ReentryGuard guard;
    void *p = g_real.memalign(alignment, size);
    if (p)
        record(p, size);
    return p;
}

MEMLEAK_EXPORT void *valloc(size_t size) {
    if (__builtin_expect(!real_fns_ready(), 0))
        return bootstrap_alloc(size, 4096);
    if (!tracking())
        return g_real.valloc(size);
    ReentryGuard guard;
    void *p = g_real.valloc(size);
    if (p)
        record(p, size);
    return p;
}

MEMLEAK_EXPORT void *pvalloc(size_t size) {
    if (__builtin_expect(!real_fns_ready(), 0))
        return bootstrap_alloc(size, 4096);
    if (!tracking())
        return g_real.pvalloc(size);
    ReentryGuard guard;
    void *p = g_real.pvalloc(size);
    if (p)
        record(p, size);
    return p;
}

MEMLEAK_EXPORT size_t malloc_usable_size(void *p) {
    if (p && g_bootstrap.owns(p))
        return g_bootstrap.usable_size(p);
    if (__builtin_expect(!real_fns_ready(), 0))
        return 0;
    return g_real.malloc_usable_size(p);
}

}  // extern "C"
