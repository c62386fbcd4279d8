// The exit scan's thread stop and root collection, in this process, with
// real threads: one parked in a system call with a known value in a
// callee-saved register, one spinning, one that exited and left its stack
// in glibc's cache.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "table/internal_alloc.h"
#include "report/leak_roots.h"
#include "report/stop_world.h"

namespace memleak::report {
namespace {

constexpr uint64_t kMagic = UINT64_C(0x6d656d6c65616b21);

std::atomic<uint32_t> g_parked_tid{0};
std::atomic<uint64_t> g_parked_local{0};
uint32_t g_wake;

#if defined(__x86_64__)
// Waits on g_wake with kMagic in %r15, without a C frame that could spill it.
void park_with_r15(uint32_t *word, uint64_t magic) {
    __asm__ volatile(
        "push %%r15\n"
        "mov %1, %%r15\n"
        "1:\n"
        "mov $202, %%eax\n"  // futex(word, FUTEX_WAIT, 0, NULL)
        "mov %0, %%rdi\n"
        "xor %%esi, %%esi\n"
        "xor %%edx, %%edx\n"
        "xor %%r10d, %%r10d\n"
        "syscall\n"
        "cmpl $0, (%0)\n"
        "je 1b\n"
        "pop %%r15\n"
        :
        : "r"(word), "r"(magic)
        : "rax", "rdi", "rsi", "rdx", "r10", "r11", "rcx", "memory");
}
#endif

void *parked(void *) {
    volatile uint64_t local = kMagic;
    g_parked_local = reinterpret_cast<uint64_t>(&local);
    g_parked_tid = static_cast<uint32_t>(syscall(SYS_gettid));
#if defined(__x86_64__)
    park_with_r15(&g_wake, kMagic);
#else
    while (__atomic_load_n(&g_wake, __ATOMIC_ACQUIRE) == 0)
        syscall(SYS_futex, &g_wake, 0 /* FUTEX_WAIT */, 0, nullptr, nullptr, 0);
#endif
    return nullptr;
}

void wake_parked() {
    __atomic_store_n(&g_wake, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &g_wake, 1 /* FUTEX_WAKE */, 1, nullptr, nullptr, 0);
}

struct Parked {
    pthread_t thread;
    Parked() {
        g_wake = 0;
        g_parked_tid = 0;
        pthread_create(&thread, nullptr, parked, nullptr);
        while (g_parked_tid == 0)
            usleep(1000);
        usleep(20000);  // into the futex wait
    }
    ~Parked() {
        wake_parked();
        pthread_join(thread, nullptr);
    }
};

const StoppedThread *find(const WorldStop &stop, uint32_t tid) {
    for (unsigned i = 0; i < stop.count(); ++i)
        if (stop.threads()[i].tid == tid)
            return &stop.threads()[i];
    return nullptr;
}

TEST(WorldStop, AloneWhenNoOtherThread) {
    WorldStop stop;
    EXPECT_EQ(stop.stop(), WorldStop::Result::kAlone);
}

TEST(WorldStop, ParkedThreadGivesItsRegistersAndStack) {
    Parked p;
    WorldStop stop;
    ASSERT_EQ(stop.stop(), WorldStop::Result::kStopped) << stop.why_not();
    const StoppedThread *t = find(stop, g_parked_tid);
    ASSERT_NE(t, nullptr);
#if defined(__x86_64__)
    EXPECT_EQ(t->regs[0], kMagic) << "user_regs_struct starts with r15";
    EXPECT_EQ(t->thread_pointer, reinterpret_cast<uint64_t>(p.thread));
#endif
    // Its local lies in the live stack, above the stack pointer.
    EXPECT_LT(t->sp, g_parked_local.load());
    EXPECT_LT(g_parked_local.load() - t->sp, 4096u);
    stop.resume();
}

TEST(WorldStop, SpinningThreadHoldsStillAndRunsAfter) {
    static std::atomic<uint64_t> counter{0};
    static std::atomic<bool> done{false};
    done = false;
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void *) -> void * {
            while (!done.load(std::memory_order_relaxed))
                counter.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
        },
        nullptr);
    while (counter.load() < 1000)
        sched_yield();
    {
        WorldStop stop;
        ASSERT_EQ(stop.stop(), WorldStop::Result::kStopped) << stop.why_not();
        const uint64_t held = counter.load();
        usleep(50000);
        EXPECT_EQ(counter.load(), held);
    }
    const uint64_t after = counter.load();
    usleep(50000);
    EXPECT_GT(counter.load(), after);
    done = true;
    pthread_join(t, nullptr);
}

std::atomic<int> g_signals{0};

TEST(WorldStop, SignalSentWhileStoppedArrivesOnceAfterAndDispositionsStay) {
    struct sigaction sa = {}, before = {}, after = {};
    sa.sa_handler = [](int) { g_signals.fetch_add(1); };
    sigaction(SIGUSR1, &sa, nullptr);
    sigaction(SIGUSR1, nullptr, &before);
    g_signals = 0;
    {
        Parked p;
        {
            WorldStop stop;
            ASSERT_EQ(stop.stop(), WorldStop::Result::kStopped) << stop.why_not();
            syscall(SYS_tgkill, getpid(), g_parked_tid.load(), SIGUSR1);
            usleep(20000);
            EXPECT_EQ(g_signals.load(), 0);
        }
        for (int i = 0; i < 200 && g_signals.load() == 0; ++i)
            usleep(5000);
        EXPECT_EQ(g_signals.load(), 1);
    }
    sigaction(SIGUSR1, nullptr, &after);
    EXPECT_EQ(reinterpret_cast<void *>(before.sa_handler), reinterpret_cast<void *>(after.sa_handler));
    signal(SIGUSR1, SIG_DFL);
}

bool covered(const Scratch<RootRange> &roots, uint64_t addr, RootKind *kind = nullptr) {
    for (const RootRange &r : roots)
        if (addr >= r.lo && addr < r.hi) {
            if (kind)
                *kind = r.kind;
            return true;
        }
    return false;
}

bool readable(const Scratch<SegmentRange> &segments, uint64_t addr) {
    for (const SegmentRange &s : segments)
        if (addr >= s.lo && addr < s.hi)
            return s.readable;
    return false;
}

uint64_t g_global_word = 1;

TEST(Roots, WhatIsARootAndWhatIsNot) {
    Parked p;
    // A thread that ran and exited: glibc keeps its stack for reuse.
    static std::atomic<uint64_t> dead_local{0};
    pthread_t gone;
    pthread_create(
        &gone, nullptr,
        [](void *) -> void * {
            volatile uint64_t local = 7;
            dead_local = reinterpret_cast<uint64_t>(&local);
            return nullptr;
        },
        nullptr);
    pthread_join(gone, nullptr);

    void *heap_block = malloc(100);
    void *big_block = malloc(64 << 20);
    void *own = mmap(nullptr, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *runtime = map_pages(1 << 16, MEMLEAK_REGION_REPORT);
    ASSERT_NE(runtime, nullptr);

    WorldStop stop;
    ASSERT_EQ(stop.stop(), WorldStop::Result::kStopped) << stop.why_not();
    Scratch<ModuleSegment> modules;
    ASSERT_TRUE(collect_module_segments(&modules));
    RootInput in;
    in.threads = stop.threads();
    in.thread_count = stop.count();
    in.caller.sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
    in.caller.tid = static_cast<uint32_t>(syscall(SYS_gettid));
    in.layout = find_thread_layout();
    in.modules = modules.data();
    in.module_count = modules.size();
    Scratch<RootRange> roots;
    Scratch<SegmentRange> segments;
    const char *why = nullptr;
    ASSERT_TRUE(collect_roots(in, &roots, &segments, &why)) << why;

    RootKind kind;
    EXPECT_TRUE(covered(roots, reinterpret_cast<uint64_t>(&g_global_word), &kind));
    EXPECT_EQ(kind, RootKind::kData);
    EXPECT_TRUE(covered(roots, reinterpret_cast<uint64_t>(own) + 100, &kind));
    EXPECT_EQ(kind, RootKind::kMapping);
    EXPECT_TRUE(covered(roots, g_parked_local, &kind));
    EXPECT_EQ(kind, RootKind::kStack);
    const StoppedThread *t = find(stop, g_parked_tid);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(covered(roots, t->sp - 128)) << "the red zone is live";
    EXPECT_FALSE(covered(roots, t->sp - 136)) << "below it the stack is dead";
    EXPECT_FALSE(covered(roots, reinterpret_cast<uint64_t>(runtime))) << "the runtime's own region";
    EXPECT_FALSE(covered(roots, reinterpret_cast<uint64_t>(heap_block))) << "glibc's heap";
    if (in.layout.known()) {
        EXPECT_FALSE(covered(roots, dead_local)) << "an exited thread's cached stack";
    }
    // Block contents are readable to the scan, though not roots.
    EXPECT_TRUE(readable(segments, reinterpret_cast<uint64_t>(heap_block)));
    EXPECT_TRUE(readable(segments, reinterpret_cast<uint64_t>(big_block)));
    // The stopped thread's registers are a root of their own.
    EXPECT_TRUE(covered(roots, reinterpret_cast<uint64_t>(&t->regs[0]), &kind));
    EXPECT_EQ(kind, RootKind::kRegisters);
    for (size_t i = 1; i < roots.size(); ++i)
        EXPECT_LE(roots[i - 1].hi, roots[i].lo);
    for (size_t i = 1; i < segments.size(); ++i)
        EXPECT_LE(segments[i - 1].hi, segments[i].lo);
    stop.resume();

    free(heap_block);
    free(big_block);
    munmap(own, 1 << 16);
    unmap_pages(runtime, 1 << 16);
}

}  // namespace
}  // namespace memleak::report
