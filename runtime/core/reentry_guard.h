// Per-thread state of the hooks. It lives in initial-exec TLS so that reading
// it is a single %fs-relative load: the general-dynamic model would go
// through __tls_get_addr, which may call malloc and recurse into the hooks.
//
// The guard depth is nonzero while a thread is inside the runtime. Any
// allocation made meanwhile (by libunwind, dlsym, the exit report, a fork
// handler, or a signal handler that interrupted a hook) goes straight to the
// real allocator untracked, so the runtime never re-enters itself.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace memleak {

struct ThreadState {
    int guard_depth;
    void *unwind_memo;   // the unwinder's record of this thread's last stack
    uintptr_t stack_lo;  // the thread's stack, once the unwinder asked (0: not yet)
    uintptr_t stack_hi;
    uint32_t tid;         // cached gettid(); 0 until first asked, reset in a fork child
    void *runtime_stack;  // top of the stack the hooks' bookkeeping runs on (runtime_stack.h)
};

extern __thread ThreadState t_thread_state __attribute__((tls_model("initial-exec")));

inline bool in_runtime() { return t_thread_state.guard_depth != 0; }

inline uint32_t current_tid() {
    uint32_t tid = t_thread_state.tid;
    if (__builtin_expect(tid == 0, 0)) {
        tid = static_cast<uint32_t>(syscall(SYS_gettid));
        t_thread_state.tid = tid;
    }
    return tid;
}

class ReentryGuard {
public:
    ReentryGuard() {
        ++t_thread_state.guard_depth;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    ~ReentryGuard() {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        --t_thread_state.guard_depth;
    }
    ReentryGuard(const ReentryGuard &) = delete;
    ReentryGuard &operator=(const ReentryGuard &) = delete;
};

// The opposite, for the rare runtime code whose frees must reach the table
// (the exit report asking glibc and libstdc++ to release their caches).
class GuardLowered {
public:
    GuardLowered() : depth_(t_thread_state.guard_depth) {
        t_thread_state.guard_depth = 0;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    ~GuardLowered() {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        t_thread_state.guard_depth = depth_;
    }
    GuardLowered(const GuardLowered &) = delete;
    GuardLowered &operator=(const GuardLowered &) = delete;

private:
    int depth_;
};

// The hooks promise errno exactly as glibc left it; bookkeeping (mmap,
// futex, clock) may touch it, so every bookkeeping step runs under one.
class ErrnoSaver {
public:
    ErrnoSaver() : saved_(errno) {}
    ~ErrnoSaver() { errno = saved_; }
    ErrnoSaver(const ErrnoSaver &) = delete;
    ErrnoSaver &operator=(const ErrnoSaver &) = delete;

private:
    int saved_;
};

}  // namespace memleak
