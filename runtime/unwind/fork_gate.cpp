#include "unwind/fork_gate.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "table/futex_lock.h"

namespace memleak::unwind {

uint32_t g_gate_closed;
uint32_t g_gate_inside;
__thread uint32_t t_gate_depth __attribute__((tls_model("initial-exec")));

namespace {

// Whether this thread closed the gate: it passes through its own fork's
// handlers (an atfork handler registered later may allocate).
__thread bool t_gate_closer __attribute__((tls_model("initial-exec")));
// Threads forking at once close the gate one after the other: one must not
// reopen it while another's fork still needs it closed.
uint32_t g_closer_lock;

void futex_wait(uint32_t *word, uint32_t value, const struct timespec *timeout) {
    const int saved_errno = errno;
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, timeout, nullptr, 0);
    errno = saved_errno;
}

void futex_wake_all(uint32_t *word) {
    const int saved_errno = errno;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    errno = saved_errno;
}

uint64_t monotonic_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

void gate_enter_closed() {
    while (!t_gate_closer && __atomic_load_n(&g_gate_closed, __ATOMIC_SEQ_CST)) {
        // Steps back out for the fork, waits for it to end, comes in again.
        __atomic_sub_fetch(&g_gate_inside, 1, __ATOMIC_SEQ_CST);
        gate_wake_closer();
        while (__atomic_load_n(&g_gate_closed, __ATOMIC_SEQ_CST))
            futex_wait(&g_gate_closed, 1, nullptr);
        __atomic_add_fetch(&g_gate_inside, 1, __ATOMIC_SEQ_CST);
    }
}

void gate_wake_closer() { futex_wake_all(&g_gate_inside); }

void gate_close_for_fork() {
    futex_lock(&g_closer_lock);
    t_gate_closer = true;
    __atomic_store_n(&g_gate_closed, 1, __ATOMIC_SEQ_CST);
    // This thread's own passage (a signal handler that forks while the
    // thread is inside) cannot end before the fork.
    const uint32_t mine = t_gate_depth != 0 ? 1 : 0;
    // A thread inside libunwind or dl_iterate_phdr leaves within
    // microseconds; ten seconds means it waits on something this fork holds.
    const uint64_t deadline = monotonic_ns() + 10ull * 1000000000u;
    for (;;) {
        const uint32_t inside = __atomic_load_n(&g_gate_inside, __ATOMIC_SEQ_CST);
        if (inside <= mine)
            return;
        const uint64_t now = monotonic_ns();
        if (now >= deadline)
            return;
        const struct timespec slice = {0, 10 * 1000 * 1000};
        futex_wait(&g_gate_inside, inside, &slice);
    }
}

void gate_open_in_parent() {
    t_gate_closer = false;
    __atomic_store_n(&g_gate_closed, 0, __ATOMIC_SEQ_CST);
    futex_wake_all(&g_gate_closed);
    futex_unlock(&g_closer_lock);
}

void gate_open_in_child() {
    t_gate_closer = false;
    __atomic_store_n(&g_gate_inside, t_gate_depth != 0 ? 1u : 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_gate_closed, 0, __ATOMIC_SEQ_CST);
    futex_reset(&g_closer_lock);
}

}  // namespace memleak::unwind
