// A mutex on a bare uint32_t word, so the lock can live inside the ABI
// structures and a reader of a stopped process or a core can tell whether a
// thread was inside the critical section (word nonzero). pthread_mutex_t
// would work too, but its layout is glibc's, not ours.
//
// States: 0 free, 1 held, 2 held with waiters (Drepper, "Futexes Are Tricky").
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace memleak {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

inline void futex_lock(uint32_t *word) {
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(word, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    // A short spin covers the common case of a holder on the other core
    // leaving within a few hundred cycles.
    for (int i = 0; i < 64; ++i) {
        cpu_relax();
        c = 0;
        if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(word, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    const int saved_errno = errno;
    if (c != 2)
        c = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
        c = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    }
    errno = saved_errno;
}

inline void futex_unlock(uint32_t *word) {
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) {
        const int saved_errno = errno;
        syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
        errno = saved_errno;
    }
}

// Used by fork handlers: the child has one thread, so whoever waited is gone.
inline void futex_reset(uint32_t *word) { __atomic_store_n(word, 0, __ATOMIC_RELEASE); }

class FutexGuard {
public:
    explicit FutexGuard(uint32_t *word) : word_(word) { futex_lock(word_); }
    ~FutexGuard() { futex_unlock(word_); }
    FutexGuard(const FutexGuard &) = delete;
    FutexGuard &operator=(const FutexGuard &) = delete;

private:
    uint32_t *word_;
};

}  // namespace memleak
