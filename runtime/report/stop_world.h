// Stopping every other thread of the process for the exit scan, the way
// LeakSanitizer's StopTheWorld does: a tracer task (a clone sharing the
// address space but in a thread group of its own, since ptrace cannot
// attach within one) seizes each thread with ptrace, interrupts it, reads
// its registers, and holds it until the scan is over. The scan itself runs
// in the calling thread.
//
// The threads see nothing: PTRACE_SEIZE sends no SIGSTOP, a signal that
// arrives while a thread is held is given back when it is let go, the
// tracer reports no SIGCHLD (exit signal 0) and is reaped here. The
// tracer uses raw system calls only, on its own stack, with every signal
// blocked.
//
// Stopping is refused, and the caller falls back, when the process is
// already traced (gdb, strace), is not dumpable (ptrace would be denied),
// Yama forbids it, or a thread does not stop within the time bound.
#pragma once

#include <cstdint>

namespace memleak::report {

#if defined(__x86_64__)
constexpr unsigned kRegisterWords = 27;  // struct user_regs_struct
#elif defined(__aarch64__)
constexpr unsigned kRegisterWords = 34;  // struct user_pt_regs
#else
constexpr unsigned kRegisterWords = 0;
#endif

struct StoppedThread {
    uint32_t tid;
    uint32_t give_back_signal;                           // a signal that was being delivered when it stopped
    uint64_t sp;                                         // stack pointer
    uint64_t thread_pointer;                             // fs_base (x86-64), tpidr_el0 (aarch64)
    uint64_t regs[kRegisterWords ? kRegisterWords : 1];  // general-purpose registers, as ptrace gives them
};

struct TracerShared;

class WorldStop {
public:
    enum class Result { kAlone, kStopped, kNotStopped };

    WorldStop() = default;
    ~WorldStop() { resume(); }
    WorldStop(const WorldStop &) = delete;
    WorldStop &operator=(const WorldStop &) = delete;

    // Stops every thread but the caller. kAlone: there is no other thread.
    // kNotStopped: why_not() says why, and nothing was changed.
    Result stop();
    const char *why_not() const { return why_not_; }

    const StoppedThread *threads() const;
    unsigned count() const;

    // Lets the threads go and reaps the tracer; bounded in time.
    void resume();

private:
    TracerShared *shared_ = nullptr;
    int tracer_ = 0;
    const char *why_not_ = "";
};

// Whether the process has threads besides the caller, from
// /proc/self/task (no allocation). Unknown counts as yes.
bool other_threads_alive();

}  // namespace memleak::report
