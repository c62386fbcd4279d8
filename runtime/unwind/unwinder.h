// Stack capture for allocation records. Frames are stepped with rules read
// once per return address from .eh_frame and cached (fast_unwind.cpp,
// rule_cache.h); a stack with a frame those rules do not model (a signal
// frame, code without unwind tables, a DWARF expression) is unwound again
// by libunwind: unw_backtrace, with its per-thread cache of unwind info,
// until the program first calls dlclose; unw_step from then on, since that
// cache cannot be flushed and would misstep on code mapped where unloaded
// code was.
#pragma once

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstdint>

#include "core/options.h"
#include "unwind/fork_gate.h"

namespace memleak::unwind {

// Sets libunwind's caching policy, finds the text ranges to strip (this
// library's and libunwind's) and reads MEMLEAK_FAST_UNWIND. Call once,
// before the first capture.
void init();

// Unwinds the calling thread into `buf`, innermost first, starting with
// this function's return address: the number of frames written (at most
// `max`), or -1 when some frame needs libunwind.
int fast_backtrace(uint64_t *buf, int max);
// The same from `frame`, a frame-pointer frame of the calling thread's
// own stack (frame[0] the saved %rbp, frame[1] its return address), when
// the caller runs on another stack (runtime_stack.h).
int fast_backtrace_from(const uintptr_t *frame, uint64_t *buf, int max);

// The per-thread memos of fast_backtrace: made at init, forgotten after a
// dlclose, and their pool's lock held across fork.
void init_fast_unwind();
void forget_unwind_memos();
// Looks, at most about once a second of `ticks` (tracker ticks), for
// modules the loader unloaded without dlclose, and forgets if any were.
void poll_unloads(uint32_t ticks);
void lock_memos();
void unlock_memos();
void reset_memos_lock();

// Set by the first dlclose (see libunwind_backtrace).
extern bool g_modules_unloaded;

// Steps with unw_step from the caller's frame: like unw_backtrace (the
// first frame is the caller's return address), without its trace cache.
int step_backtrace(uint64_t *buf, int max);

// libunwind's backtrace, the first frame being the caller's return address.
__attribute__((always_inline)) inline int libunwind_backtrace(uint64_t *buf, int max) {
    GateGuard gate;
    if (__builtin_expect(__atomic_load_n(&g_modules_unloaded, __ATOMIC_RELAXED), 0))
        return step_backtrace(buf, max);
    return unw_backtrace(reinterpret_cast<void **>(buf), max);
}

// Fork: makes sure the forking thread has libunwind's per-thread trace
// cache, so that its child never allocates one from libunwind's pool,
// whose lock another thread may have held at the fork (see fork_gate.h).
void prepare_fork_unwind();

// False when MEMLEAK_FAST_UNWIND=0: libunwind unwinds every stack.
extern bool g_fast_unwind;
// True when MEMLEAK_FAST_UNWIND=2: libunwind also unwinds every stack the
// cached rules unwound, and the two are compared.
extern bool g_check_unwind;

// Compares frames 1.. of `fast` (n frames from fast_backtrace called in
// the hook's frame, `want` asked for) with what libunwind finds from the
// same frame; counts and reports a difference. Call from the hook's frame.
// n < 0 (the cached rules gave the stack up) is counted apart: those stacks
// are libunwind's alone, with nothing to compare.
void check_against_libunwind(const uint64_t *fast, int n, int want);

// MEMLEAK_FAST_UNWIND=2: one line on stderr with what was compared.
void finish_unwind_check();

// Forgets what was learnt from modules' unwind tables; for dlclose.
void forget_unwind_info();

// The most frames above the program's that may belong to the runtime
// (hooks, libunwind), unwound on top of the ones kept.
constexpr uint32_t kRuntimeFrames = 8;
// Room a capture buffer needs: kept frames, runtime frames, and one more to
// tell whether the stack was truncated.
constexpr uint32_t capture_capacity(uint32_t max_depth) {
    return (max_depth < kMaxDepthLimit ? max_depth : kMaxDepthLimit) + kRuntimeFrames + 1;
}
constexpr uint32_t kCaptureCapacity = capture_capacity(kMaxDepthLimit);

struct TextRange {
    uintptr_t lo;
    uintptr_t hi;
};

// Frames of the runtime itself (hooks, tracker) and of libunwind (which
// some of its versions report first from unw_backtrace) are never the
// user's.
extern TextRange g_runtime_text[2];

inline bool in_runtime_text(uintptr_t pc) {
    return (pc - g_runtime_text[0].lo < g_runtime_text[0].hi - g_runtime_text[0].lo) ||
           (pc - g_runtime_text[1].lo < g_runtime_text[1].hi - g_runtime_text[1].lo);
}

// The most runtime frames seen above the program's on any capture so far.
// A capture unwinds max_depth + this + 1 frames, not the worst case of
// kRuntimeFrames more: deep stacks are common and every frame costs.
extern uint32_t g_runtime_frames;

// Unwinds the calling thread into `buf` (capture_capacity(max_depth) entries) and
// returns the number of frames kept, at most `max_depth`; they start at
// buf[*first], innermost first, with the program's call to malloc or
// operator new. Sets *truncated when deeper frames existed.
//
// Inline: a frame of its own would be one more frame to unwind on every
// allocation.
//
// With `frame` (see fast_backtrace_from) the caller runs on the runtime's
// stack and the program's frames are found from there.
__attribute__((always_inline)) inline uint32_t capture_from(const uintptr_t *frame, uint64_t *buf,
                                                            uint32_t max_depth, uint32_t *first,
                                                            bool *truncated) {
    static_assert(sizeof(void *) == sizeof(uint64_t), "64-bit targets only");
    if (max_depth > kMaxDepthLimit)
        max_depth = kMaxDepthLimit;
    uint32_t runtime = __atomic_load_n(&g_runtime_frames, __ATOMIC_RELAXED);
    int n, skip;
    for (;;) {
        const int want = static_cast<int>(max_depth + runtime + 1);
        n = !g_fast_unwind ? -1 : frame ? fast_backtrace_from(frame, buf, want) : fast_backtrace(buf, want);
        if (__builtin_expect(g_check_unwind, 0))
            check_against_libunwind(buf, n, want);
        if (n < 0)
            n = libunwind_backtrace(buf, want);
        skip = 0;
        while (skip < n && in_runtime_text(buf[skip]))
            ++skip;
        if (n < want || static_cast<uint32_t>(skip) <= runtime || runtime == kRuntimeFrames)
            break;
        // A path with more runtime frames than room was left for: the
        // buffer filled up, so deeper frames may be missing. Again, with room.
        const uint32_t seen = static_cast<uint32_t>(skip) < kRuntimeFrames ? skip : kRuntimeFrames;
        uint32_t old = runtime;
        while (old < seen && !__atomic_compare_exchange_n(&g_runtime_frames, &old, seen, true,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        }
        runtime = seen;
    }
    uint32_t depth = n > skip ? static_cast<uint32_t>(n - skip) : 0;
    *truncated = depth > max_depth;
    if (depth > max_depth)
        depth = max_depth;
    *first = static_cast<uint32_t>(skip);
    return depth;
}

__attribute__((always_inline)) inline uint32_t capture(uint64_t *buf, uint32_t max_depth, uint32_t *first,
                                                       bool *truncated) {
    return capture_from(nullptr, buf, max_depth, first, truncated);
}

}  // namespace memleak::unwind
