// The stack the runtime's bookkeeping runs on. A hook runs on the
// program's stack, which may be a 16 KiB thread stack with little left, so
// after the real allocator has returned, a hook moves to a stack of the
// runtime's own (one per thread, made on its first allocation) for the
// unwind, libunwind, the stack depot and the table. The program's stack
// then holds only the hook's frame and the switch's, as it would hold the
// allocator's frames without the runtime.
//
// The switch (memleak_call_on_stack) keeps a standard %rbp frame on the
// program's stack and describes it in its unwind table, so debuggers and
// both unwinders step from the runtime stack back to the program's.
#pragma once

#include <cstdint>

#include "core/reentry_guard.h"

namespace memleak {

// What a thread that cannot have one (out of memory, or exiting after its
// stack went back) holds in ThreadState::runtime_stack.
inline void *const kNoRuntimeStack = reinterpret_cast<void *>(uintptr_t{1});

void *make_runtime_stack();

// The top of the calling thread's runtime stack, or nullptr when it has
// none (the hooks then run on the program's stack).
inline void *runtime_stack() {
    void *top = t_thread_state.runtime_stack;
    if (__builtin_expect(top == nullptr, 0))
        top = make_runtime_stack();
    return top == kNoRuntimeStack ? nullptr : top;
}

// Reserved per thread; only what the runtime touches gets memory. A
// program's signal handler that interrupts the runtime runs here too.
constexpr uintptr_t kRuntimeStackBytes = uintptr_t(256) << 10;

}  // namespace memleak

extern "C" {
// Calls fn(arg, frame) on the stack ending at `top` (16-byte aligned);
// `frame` is this call's frame on the caller's stack: frame[0] the
// caller's %rbp, frame[1] the return address into the caller.
void memleak_call_on_stack(void (*fn)(void *arg, const uintptr_t *frame), void *arg, void *top);
}
