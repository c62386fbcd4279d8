#include "report/stop_world.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "table/internal_alloc.h"

#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif

namespace memleak::report {

namespace {

constexpr unsigned kMaxThreads = 8192;
constexpr size_t kTracerStack = 64 * 1024;
// How long the threads get to stop, and the tracer to go away again.
constexpr int64_t kStopBoundNs = 2000000000;
constexpr int64_t kResumeBoundNs = 2000000000;

enum : uint32_t { kStarting, kAllStopped, kFailed, kRelease };

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

long futex_wait(uint32_t *word, uint32_t value, int64_t timeout_ns) {
    timespec ts = {static_cast<time_t>(timeout_ns / 1000000000), static_cast<long>(timeout_ns % 1000000000)};
    return syscall(SYS_futex, word, FUTEX_WAIT, value, &ts, nullptr, 0);
}

void futex_wake(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0); }

// Reads /proc/<pid>/task with getdents64 and calls fn(tid) for each thread.
// False when the directory cannot be read.
template <typename Fn>
bool for_each_task(const char *dir, Fn fn) {
    const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd < 0)
        return false;
    alignas(8) char buf[2048];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long at = 0; at < n;) {
            const auto *d = reinterpret_cast<const struct dirent64 *>(buf + at);
            if (d->d_name[0] >= '0' && d->d_name[0] <= '9') {
                uint32_t tid = 0;
                for (const char *c = d->d_name; *c >= '0' && *c <= '9'; ++c)
                    tid = tid * 10 + static_cast<uint32_t>(*c - '0');
                fn(tid);
            }
            at += d->d_reclen;
        }
    }
    syscall(SYS_close, fd);
    return n == 0;
}

// Writes v in decimal at out, without snprintf; returns the end.
char *put_decimal(char *out, uint32_t v) {
    char digits[12];
    int k = 0;
    do
        digits[k++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (k > 0)
        *out++ = digits[--k];
    return out;
}

// "/proc/" + decimal pid + "/task".
void task_dir(char *out, uint32_t pid) {
    memcpy(out, "/proc/", 6);
    memcpy(put_decimal(out + 6, pid), "/task", 6);
}

// Whether thread `tid` (listed in /proc/PID/task, `dir`) has exited: under
// ptrace an exited thread stays listed, a zombie, until its tracer reaps it,
// so being listed does not mean running. Unknown counts as alive.
bool task_exited(const char *dir, uint32_t tid) {
    char path[64];
    size_t n = strlen(dir);
    memcpy(path, dir, n);
    path[n++] = '/';
    memcpy(put_decimal(path + n, tid), "/stat", 6);
    const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return errno == ENOENT;  // reaped since it was listed
    char buf[512];
    long got;
    do
        got = syscall(SYS_read, fd, buf, sizeof buf - 1);
    while (got < 0 && errno == EINTR);
    syscall(SYS_close, fd);
    if (got <= 0)
        return false;
    buf[got] = '\0';
    // "tid (comm) S ...": comm may hold anything, so the state follows the
    // last ')'.
    const char *paren = strrchr(buf, ')');
    if (paren == nullptr || paren[1] != ' ')
        return false;
    return paren[2] == 'Z' || paren[2] == 'X' || paren[2] == 'x';
}

// A number after `key` in a small /proc text file (status), or -1.
long read_proc_number(const char *path, const char *key) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t n, got = 0;
    while (got < static_cast<ssize_t>(sizeof buf) - 1 &&
           (n = read(fd, buf + got, sizeof buf - 1 - static_cast<size_t>(got))) > 0)
        got += n;
    close(fd);
    buf[got < 0 ? 0 : got] = '\0';
    const char *at = strstr(buf, key);
    if (at == nullptr)
        return -1;
    at += strlen(key);
    while (*at == ' ' || *at == '\t')
        ++at;
    if (*at < '0' || *at > '9')
        return -1;
    long v = 0;
    while (*at >= '0' && *at <= '9')
        v = v * 10 + (*at++ - '0');
    return v;
}

}  // namespace

struct TracerShared {
    uint32_t state;         // kStarting, then kAllStopped or kFailed; kRelease from the caller
    uint32_t go;            // set by the caller once the tracer may attach
    uint32_t tracer_alive;  // the tracer's tid; the kernel clears it when the tracer exits
    uint32_t pid;
    uint32_t caller_tid;
    uint32_t count;
    int32_t error;  // errno of the step that failed
    uint32_t failed_step;
    StoppedThread threads[kMaxThreads];
    alignas(16) char stack[kTracerStack];
};

namespace {

enum : uint32_t { kStepNone, kStepList, kStepAttach, kStepStop, kStepRegs, kStepTooMany };

using Shared = TracerShared;

bool read_registers(StoppedThread *t) {
#if defined(__x86_64__)
    user_regs_struct regs;
    iovec iov = {&regs, sizeof regs};
    if (syscall(SYS_ptrace, PTRACE_GETREGSET, t->tid, NT_PRSTATUS, &iov) != 0)
        return false;
    static_assert(sizeof regs == kRegisterWords * 8, "register words");
    memcpy(t->regs, &regs, sizeof regs);
    t->sp = regs.rsp;
    t->thread_pointer = regs.fs_base;
    return true;
#elif defined(__aarch64__)
    struct {
        uint64_t regs[31], sp, pc, pstate;
    } regs;
    iovec iov = {&regs, sizeof regs};
    if (syscall(SYS_ptrace, PTRACE_GETREGSET, t->tid, NT_PRSTATUS, &iov) != 0)
        return false;
    memcpy(t->regs, &regs, sizeof regs);
    t->sp = regs.sp;
    uint64_t tls = 0;
    iovec tls_iov = {&tls, sizeof tls};
    if (syscall(SYS_ptrace, PTRACE_GETREGSET, t->tid, NT_ARM_TLS, &tls_iov) == 0)
        t->thread_pointer = tls;
    return true;
#else
    return false;
#endif
}

// Waits until thread `t`, seized and interrupted, reports a stop. A stop
// for a signal being delivered counts too: its registers are the thread's,
// and the signal is given back when the thread is let go.
bool wait_stopped(StoppedThread *t, int64_t deadline) {
    for (;;) {
        int status = 0;
        const long r = syscall(SYS_wait4, t->tid, &status, __WALL | WNOHANG, nullptr);
        if (r == static_cast<long>(t->tid)) {
            if (WIFEXITED(status) || WIFSIGNALED(status))
                return false;
            if (WIFSTOPPED(status)) {
                const int event = status >> 16;
                if (event == 0 && WSTOPSIG(status) != SIGTRAP)
                    t->give_back_signal = static_cast<uint32_t>(WSTOPSIG(status));
                return true;
            }
            continue;
        }
        if (r < 0 && errno != EINTR)
            return false;
        if (now_ns() > deadline)
            return false;
        const timespec pause = {0, 200000};
        syscall(SYS_nanosleep, &pause, nullptr);
    }
}

void detach_all(Shared *s) {
    for (uint32_t i = 0; i < s->count; ++i)
        syscall(SYS_ptrace, PTRACE_DETACH, s->threads[i].tid, nullptr,
                reinterpret_cast<void *>(uintptr_t{s->threads[i].give_back_signal}));
}

void fail(Shared *s, uint32_t step, int err) {
    detach_all(s);
    s->count = 0;
    s->failed_step = step;
    s->error = err;
    __atomic_store_n(&s->state, kFailed, __ATOMIC_RELEASE);
    futex_wake(&s->state);
}

bool attached(const Shared *s, uint32_t tid) {
    for (uint32_t i = 0; i < s->count; ++i)
        if (s->threads[i].tid == tid)
            return true;
    return false;
}

int tracer_main(void *arg) {
    auto *s = static_cast<Shared *>(arg);
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (static_cast<uint32_t>(syscall(SYS_getppid)) != s->pid)
        return 1;
    while (__atomic_load_n(&s->go, __ATOMIC_ACQUIRE) == 0)
        futex_wait(&s->go, 0, 100000000);
    char dir[32];
    task_dir(dir, s->pid);
    const int64_t deadline = now_ns() + kStopBoundNs;
    // A thread that was running may have made another before it stopped:
    // list again until a round finds nobody new.
    for (int round = 0; round < 64; ++round) {
        uint32_t first_new = s->count;
        bool too_many = false;
        int attach_error = 0;
        const bool listed = for_each_task(dir, [&](uint32_t tid) {
            if (tid == s->caller_tid || attached(s, tid) || attach_error != 0)
                return;
            if (s->count == kMaxThreads) {
                too_many = true;
                return;
            }
            if (syscall(SYS_ptrace, PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
                // A thread that has just exited (and a zombie a debugger has
                // not reaped) is no reason to give up.
                if (errno != ESRCH && !task_exited(dir, tid))
                    attach_error = errno;
                return;
            }
            StoppedThread &t = s->threads[s->count++];
            memset(&t, 0, sizeof t);
            t.tid = tid;
            syscall(SYS_ptrace, PTRACE_INTERRUPT, tid, nullptr, nullptr);
        });
        if (!listed) {
            fail(s, kStepList, errno);
            return 1;
        }
        if (too_many) {
            fail(s, kStepTooMany, 0);
            return 1;
        }
        if (attach_error != 0) {
            fail(s, kStepAttach, attach_error);
            return 1;
        }
        for (uint32_t i = first_new; i < s->count;) {
            StoppedThread &t = s->threads[i];
            if (!wait_stopped(&t, deadline)) {
                if (now_ns() > deadline) {
                    fail(s, kStepStop, ETIMEDOUT);
                    return 1;
                }
                t = s->threads[--s->count];  // it exited meanwhile
                continue;
            }
            if (!read_registers(&t)) {
                fail(s, kStepRegs, errno);
                return 1;
            }
            ++i;
        }
        if (s->count == first_new)
            break;
    }
    __atomic_store_n(&s->state, kAllStopped, __ATOMIC_RELEASE);
    futex_wake(&s->state);
    while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != kRelease)
        futex_wait(&s->state, kAllStopped, 100000000);
    detach_all(s);
    return 0;
}

bool yama_needs_ptracer() {
    const int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char c = '0';
    const ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 && c != '0';
}

}  // namespace

bool other_threads_alive() {
    const uint32_t self = static_cast<uint32_t>(syscall(SYS_gettid));
    char dir[32];
    task_dir(dir, static_cast<uint32_t>(getpid()));
    bool others = false;
    if (!for_each_task("/proc/self/task",
                       [&](uint32_t tid) { others = others || (tid != self && !task_exited(dir, tid)); }))
        return true;
    return others;
}

WorldStop::Result WorldStop::stop() {
    if (!other_threads_alive())
        return Result::kAlone;
    if (kRegisterWords == 0) {
        why_not_ = "stopping threads is not supported on this architecture";
        return Result::kNotStopped;
    }
    if (read_proc_number("/proc/self/status", "TracerPid:") != 0) {
        why_not_ = "the process is traced (a debugger or strace holds it)";
        return Result::kNotStopped;
    }
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) {
        why_not_ = "the process is not dumpable, so ptrace is denied";
        return Result::kNotStopped;
    }
    shared_ = static_cast<Shared *>(map_pages(sizeof(Shared), MEMLEAK_REGION_REPORT));
    if (shared_ == nullptr) {
        why_not_ = "no memory for the tracer";
        return Result::kNotStopped;
    }
    shared_->pid = static_cast<uint32_t>(getpid());
    shared_->caller_tid = static_cast<uint32_t>(syscall(SYS_gettid));

    // Every signal blocked in the tracer from its first instruction: a
    // handler of the program must never run there.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int tid =
        clone(tracer_main, shared_->stack + kTracerStack,
              CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID,
              shared_, nullptr, nullptr, &shared_->tracer_alive);
    const int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (tid < 0) {
        why_not_ = clone_errno == EPERM ? "creating the tracer task was denied"
                                        : "the tracer task could not be created";
        unmap_pages(shared_, sizeof(Shared));
        shared_ = nullptr;
        return Result::kNotStopped;
    }
    tracer_ = tid;
    __atomic_store_n(&shared_->tracer_alive, static_cast<uint32_t>(tid), __ATOMIC_RELEASE);
    if (yama_needs_ptracer())
        prctl(PR_SET_PTRACER, tid, 0, 0, 0);
    __atomic_store_n(&shared_->go, 1, __ATOMIC_RELEASE);
    futex_wake(&shared_->go);

    const int64_t deadline = now_ns() + kStopBoundNs + 500000000;
    uint32_t state;
    while ((state = __atomic_load_n(&shared_->state, __ATOMIC_ACQUIRE)) == kStarting) {
        if (__atomic_load_n(&shared_->tracer_alive, __ATOMIC_ACQUIRE) == 0 || now_ns() > deadline)
            break;
        futex_wait(&shared_->state, kStarting, 10000000);
    }
    if (state == kAllStopped)
        return Result::kStopped;
    switch (state == kFailed ? shared_->failed_step : kStepNone) {
    case kStepAttach:
        why_not_ = shared_->error == EPERM ? "ptrace was denied (Yama, seccomp or a security module)"
                                           : "ptrace could not attach to a thread";
        break;
    case kStepStop:
        why_not_ = "a thread did not stop within 2 seconds";
        break;
    case kStepTooMany:
        why_not_ = "more than 8192 threads";
        break;
    default:
        why_not_ = "the tracer task failed";
        break;
    }
    resume();
    return Result::kNotStopped;
}

const StoppedThread *WorldStop::threads() const { return shared_ ? shared_->threads : nullptr; }

unsigned WorldStop::count() const {
    return shared_ && __atomic_load_n(&shared_->state, __ATOMIC_ACQUIRE) == kAllStopped ? shared_->count : 0;
}

void WorldStop::resume() {
    if (shared_ == nullptr)
        return;
    if (tracer_ > 0) {
        __atomic_store_n(&shared_->state, kRelease, __ATOMIC_RELEASE);
        futex_wake(&shared_->state);
        const int64_t deadline = now_ns() + kResumeBoundNs;
        uint32_t alive;
        while ((alive = __atomic_load_n(&shared_->tracer_alive, __ATOMIC_ACQUIRE)) != 0) {
            if (now_ns() > deadline) {
                // Its tracees are let go by the kernel when it dies.
                kill(tracer_, SIGKILL);
                break;
            }
            futex_wait(&shared_->tracer_alive, alive, 10000000);
        }
        int status;
        while (waitpid(tracer_, &status, __WALL) < 0 && errno == EINTR) {
        }
        tracer_ = 0;
    }
    unmap_pages(shared_, sizeof(Shared));
    shared_ = nullptr;
}

}  // namespace memleak::report
