// The gate every call from the runtime into libunwind, and every
// dl_iterate_phdr the runtime makes, passes through. Such calls take
// locks the runtime cannot take itself: glibc's loader lock (which glibc
// does not reset in a fork child) and libunwind's memory-pool locks. A fork
// while another thread holds one of them leaves it held in the child, and
// the child's first unwind that needs it waits forever. So fork closes
// the gate and waits until no thread is inside before it goes on; threads
// arriving meanwhile wait until the fork is done.
//
// Only the libunwind path passes the gate: the cached-rules unwinder
// finds modules with the lock-free _dl_find_object.
#pragma once

#include <cstdint>

namespace memleak::unwind {

extern uint32_t g_gate_closed;  // 1 while a fork is being prepared
extern uint32_t g_gate_inside;  // threads inside the gate
extern __thread uint32_t t_gate_depth __attribute__((tls_model("initial-exec")));

// Called with this thread counted inside and the gate found closed.
void gate_enter_closed();
void gate_wake_closer();

inline void gate_enter() {
    if (t_gate_depth++ != 0)
        return;  // a signal handler on a thread already inside
    __atomic_add_fetch(&g_gate_inside, 1, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&g_gate_closed, __ATOMIC_SEQ_CST), 0))
        gate_enter_closed();
}

inline void gate_leave() {
    if (--t_gate_depth != 0)
        return;
    __atomic_sub_fetch(&g_gate_inside, 1, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&g_gate_closed, __ATOMIC_SEQ_CST), 0))
        gate_wake_closer();
}

class GateGuard {
public:
    GateGuard() { gate_enter(); }
    ~GateGuard() { gate_leave(); }
    GateGuard(const GateGuard &) = delete;
    GateGuard &operator=(const GateGuard &) = delete;
};

// Fork handlers: the forking thread closes the gate and waits for the
// others inside to leave (bounded, so a thread that cannot leave delays
// the fork instead of blocking it); parent and child open it again.
void gate_close_for_fork();
void gate_open_in_parent();
void gate_open_in_child();

}  // namespace memleak::unwind
