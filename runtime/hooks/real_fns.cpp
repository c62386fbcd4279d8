#include "hooks/real_fns.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/line_writer.h"
#include "core/reentry_guard.h"
#include "hooks/bootstrap_arena.h"

namespace memleak {

RealFns g_real;
int g_real_state;

namespace {

// Stand-ins used only when glibc lacks a required symbol: the bootstrap
// arena keeps the program going as long as it lasts.
void *fallback_malloc(size_t n) {
    void *p = g_bootstrap.allocate(n, 16);
    if (!p)
        errno = ENOMEM;
    return p;
}
void fallback_free(void *p) {
    if (g_bootstrap.owns(p))
        g_bootstrap.release(p);
}
void *fallback_calloc(size_t n, size_t m) {
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    void *p = fallback_malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}
void *fallback_realloc(void *p, size_t n) {
    if (!p)
        return fallback_malloc(n);
    if (g_bootstrap.owns(p))
        return g_bootstrap.move_out(p, n, fallback_malloc);
    errno = ENOMEM;
    return nullptr;
}
void *fallback_reallocarray(void *p, size_t n, size_t m) {
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return g_real.realloc(p, total);
}
void *fallback_memalign(size_t alignment, size_t n) {
    void *p = g_bootstrap.allocate(n, alignment);
    if (!p)
        errno = (alignment & (alignment - 1)) ? EINVAL : ENOMEM;
    return p;
}
int fallback_posix_memalign(void **out, size_t alignment, size_t n) {
    if (alignment % sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    void *p = g_bootstrap.allocate(n, alignment);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
void *fallback_valloc(size_t n) { return fallback_memalign(4096, n); }
size_t fallback_usable_size(void *p) { return g_bootstrap.owns(p) ? g_bootstrap.usable_size(p) : 0; }

struct RealSpec {
    const char *name;
    void **slot;
    void *fallback;
    bool required;
};

#define MEMLEAK_REAL(field, fallback, required) \
    { #field, reinterpret_cast < void **>(&g_real.field), reinterpret_cast < void *>(&fallback), required }

const RealSpec kRealFns[] = {
    MEMLEAK_REAL(malloc, fallback_malloc, true),
    MEMLEAK_REAL(free, fallback_free, true),
    MEMLEAK_REAL(calloc, fallback_calloc, true),
    MEMLEAK_REAL(realloc, fallback_realloc, true),
    MEMLEAK_REAL(reallocarray, fallback_reallocarray, false),
    MEMLEAK_REAL(posix_memalign, fallback_posix_memalign, true),
    MEMLEAK_REAL(aligned_alloc, fallback_memalign, true),
    MEMLEAK_REAL(memalign, fallback_memalign, true),
    MEMLEAK_REAL(valloc, fallback_valloc, true),
    MEMLEAK_REAL(pvalloc, fallback_valloc, true),
    MEMLEAK_REAL(malloc_usable_size, fallback_usable_size, true),
};

#undef MEMLEAK_REAL

const char *const kNewNames[] = {
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
};
static_assert(sizeof(kNewNames) / sizeof(kNewNames[0]) == static_cast<size_t>(NewFn::kCount),
              "one name per operator new");
void *g_new_fns[static_cast<size_t>(NewFn::kCount)];

}  // namespace

bool resolve_real_fns() {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&g_real_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return expected == 2;
    ReentryGuard guard;
    ErrnoSaver saved;
    for (const RealSpec &spec : kRealFns) {
        void *fn = dlsym(RTLD_NEXT, spec.name);
        if (!fn) {
            if (spec.required)
                LineWriter()
                    .add("memleak: the real ")
                    .add(spec.name)
                    .add(" was not found; serving it from a small static arena")
                    .write_line(2);
            fn = spec.fallback;
        }
        *spec.slot = fn;
    }
    __atomic_store_n(&g_real_state, 2, __ATOMIC_RELEASE);
    return true;
}

void *real_new_fn(NewFn which) {
    const size_t i = static_cast<size_t>(which);
    void *fn = __atomic_load_n(&g_new_fns[i], __ATOMIC_ACQUIRE);
    if (!fn) {
        ReentryGuard guard;
        ErrnoSaver saved;
        fn = dlsym(RTLD_NEXT, kNewNames[i]);
        __atomic_store_n(&g_new_fns[i], fn, __ATOMIC_RELEASE);
    }
    return fn;
}

}  // namespace memleak
