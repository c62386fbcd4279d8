// dlclose: once a module is unloaded, another may be mapped at its
// addresses, and unwind rules learnt from the old one would misstep on the
// new one's frames.
#include <dlfcn.h>

#include "core/export.h"
#include "core/reentry_guard.h"
#include "core/tracker.h"
#include "unwind/unwinder.h"

namespace memleak {

namespace {

using DlcloseFn = int (*)(void *);
DlcloseFn g_real_dlclose;

DlcloseFn real_dlclose() {
    DlcloseFn fn = __atomic_load_n(&g_real_dlclose, __ATOMIC_ACQUIRE);
    if (!fn) {
        ReentryGuard guard;
        ErrnoSaver saved;
        fn = reinterpret_cast<DlcloseFn>(dlsym(RTLD_NEXT, "dlclose"));
        __atomic_store_n(&g_real_dlclose, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

}  // namespace

extern "C" MEMLEAK_EXPORT int dlclose(void *handle) {
    DlcloseFn fn = real_dlclose();
    if (!fn)
        return -1;
    // Before, so that no thread steps the module's frames with its rules
    // while its addresses are being handed back (a module being unloaded
    // has no live frames, so nothing is lost); and after, for what was
    // learnt meanwhile.
    if (tracker::recording()) {
        ReentryGuard guard;
        ErrnoSaver saved;
        unwind::forget_unwind_info();
    }
    const int rc = fn(handle);
    if (tracker::recording()) {
        ReentryGuard guard;
        ErrnoSaver saved;
        unwind::forget_unwind_info();
    }
    return rc;
}

}  // namespace memleak
