// The C++ operator new family. A successful allocation is recorded right
// here, so the stack starts at the program's `new` and not inside
// libstdc++. On failure the real libstdc++ operator takes over, so
// new_handler, bad_alloc and nothrow behave exactly as without the runtime.
// The symbols are defined by their mangled names: the runtime links no C++
// library, and a C program never loads libstdc++ because of it.
#include <cstddef>
#include <cstdint>

#include "core/export.h"
#include "hooks/hooks.h"
#include "hooks/real_fns.h"

using namespace memleak;

namespace {

using NewFnPtr = void *(*)(size_t);
using NewNothrowFnPtr = void *(*)(size_t, const void *);
using NewAlignedFnPtr = void *(*)(size_t, size_t);
using NewAlignedNothrowFnPtr = void *(*)(size_t, size_t, const void *);

// Without the real operator (no libstdc++ behind us) there is nobody to
// throw bad_alloc, and returning null from a throwing new is undefined.
void *must(void *fn) {
    if (!fn)
        __builtin_trap();
    return fn;
}

// libstdc++ turns new(0) into malloc(1) so every new returns a distinct pointer.
inline void *plain(size_t size) { return hooked_malloc(size ? size : 1, size); }

// libstdc++'s aligned new: power-of-two alignment, size at least one and
// rounded up to a multiple of the alignment for aligned_alloc. Anything
// else is left to the real operator so its errors are libstdc++'s.
inline void *aligned(size_t size, size_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)))
        return nullptr;
    size_t rounded = size ? size : 1;
    if (__builtin_add_overflow(rounded, alignment - 1, &rounded))
        return nullptr;
    rounded &= ~(alignment - 1);
    return hooked_aligned_alloc(alignment, rounded, size);
}

}  // namespace

extern "C" {

MEMLEAK_EXPORT void *_Znwm(size_t size) {
    if (void *p = plain(size))
        return p;
    return reinterpret_cast<NewFnPtr>(must(real_new_fn(NewFn::kNew)))(size);
}

MEMLEAK_EXPORT void *_Znam(size_t size) {
    if (void *p = plain(size))
        return p;
    return reinterpret_cast<NewFnPtr>(must(real_new_fn(NewFn::kNewArray)))(size);
}

MEMLEAK_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag) {
    if (void *p = plain(size))
        return p;
    void *fn = real_new_fn(NewFn::kNewNothrow);
    return fn ? reinterpret_cast<NewNothrowFnPtr>(fn)(size, tag) : nullptr;
}

MEMLEAK_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *tag) {
    if (void *p = plain(size))
        return p;
    void *fn = real_new_fn(NewFn::kNewArrayNothrow);
    return fn ? reinterpret_cast<NewNothrowFnPtr>(fn)(size, tag) : nullptr;
}

MEMLEAK_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t alignment) {
    if (void *p = aligned(size, alignment))
        return p;
    return reinterpret_cast<NewAlignedFnPtr>(must(real_new_fn(NewFn::kNewAligned)))(size, alignment);
}

MEMLEAK_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t alignment) {
    if (void *p = aligned(size, alignment))
        return p;
    return reinterpret_cast<NewAlignedFnPtr>(must(real_new_fn(NewFn::kNewArrayAligned)))(size, alignment);
}

MEMLEAK_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag) {
    if (void *p = aligned(size, alignment))
        return p;
    void *fn = real_new_fn(NewFn::kNewAlignedNothrow);
    return fn ? reinterpret_cast<NewAlignedNothrowFnPtr>(fn)(size, alignment, tag) : nullptr;
}

MEMLEAK_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag) {
    if (void *p = aligned(size, alignment))
        return p;
    void *fn = real_new_fn(NewFn::kNewArrayAlignedNothrow);
    return fn ? reinterpret_cast<NewAlignedNothrowFnPtr>(fn)(size, alignment, tag) : nullptr;
}

}  // extern "C"
