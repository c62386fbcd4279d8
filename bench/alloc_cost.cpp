// Where the runtime's time goes per allocation: each step of the hook timed
// alone (through the runtime's own core library), then the whole
// malloc+free pair measured natively and under libmemleak.so in the same
// run, at several call depths. Figures are ns per operation on this
// machine; the README quotes the ratios.
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "table/alloc_table.h"
#include "table/futex_lock.h"
#include "table/hash.h"
#include "table/stack_depot.h"
#include "unwind/unwinder.h"

namespace {

double now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

template <typename F>
double per_op(long n, F &&f) {
    f(n / 10);
    const double t0 = now_ns();
    f(n);
    return (now_ns() - t0) / static_cast<double>(n);
}

volatile int g_guard;
void *g_frames[300];

// `levels` frames deep, times `unwind(keep)`.
template <typename Unwind>
__attribute__((noinline)) double unwind_at(int levels, int keep, long n, Unwind unwind) {
    if (levels > 0) {
        const double r = unwind_at(levels - 1, keep, n, unwind);
        g_guard += levels;
        return r;
    }
    return per_op(n, [&](long k) {
        for (long i = 0; i < k; ++i)
            unwind(keep);
    });
}

// Runs alloc_pairs (natively or preloaded) and returns its ns per pair.
double run_pairs(const char *pairs_bin, const char *preload, int depth, long n) {
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        if (preload)
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        const std::string d = std::to_string(depth), c = std::to_string(n);
        execl(pairs_bin, pairs_bin, d.c_str(), c.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    char buf[64] = {};
    const ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? atof(buf) : -1;
}

}  // namespace

int main(int argc, char **argv) {
    // Defaults: the runtime and workload of the build this was built in.
    const char *lib = argc > 1 ? argv[1] : MEMLEAK_LIB_PATH;
    const char *pairs_bin = argc > 2 ? argv[2] : MEMLEAK_PAIRS_PATH;
    const long n = 2000000;
    using namespace memleak;

    printf("step                                   ns/op\n");
    uint64_t seq = 0;
    printf("sequence number (atomic fetch_add)  %8.1f\n", per_op(n, [&](long k) {
               for (long i = 0; i < k; ++i)
                   __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
           }));
    printf("clock (CLOCK_MONOTONIC_COARSE)      %8.1f\n", per_op(n, [&](long k) {
               struct timespec ts;
               for (long i = 0; i < k; ++i)
                   clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
           }));
    uint32_t lock_word = 0;
    printf("futex lock+unlock, uncontended      %8.1f\n", per_op(n, [&](long k) {
               for (long i = 0; i < k; ++i) {
                   futex_lock(&lock_word);
                   futex_unlock(&lock_word);
               }
           }));

    auto root = std::make_unique<memleak_introspect_t>();
    auto depot = std::make_unique<StackDepot>();
    depot->init(root.get());
    uint64_t stack[24];
    for (int i = 0; i < 24; ++i)
        stack[i] = 0x400000 + i * 0x40;
    depot->intern(stack, 24, 0);
    printf("depot: hash + lookup of a known stack%7.1f\n", per_op(n, [&](long k) {
               for (long i = 0; i < k; ++i) {
                   g_guard += depot->intern(stack, 24, 0);
               }
           }));

    // Insert + remove: two shard locks, the address hash, index probes.
    auto table = std::make_unique<AllocTable>();
    std::vector<uint64_t> live(100000);
    uint64_t replaced = 0;
    for (size_t i = 0; i < live.size(); ++i) {
        live[i] = 0x7f0000000000ull + mix64(i) % (1ull << 34) * 16;
        RecordData r{live[i], 64, i, 0, 1, 1};
        table->insert(r, &replaced);
    }
    printf("table: insert + remove (100k live)  %8.1f\n", per_op(n, [&](long k) {
               RecordData out;
               for (long i = 0; i < k; ++i) {
                   const uint64_t a = 0x600000000000ull + (static_cast<uint64_t>(i) & 1023) * 48;
                   RecordData r{a, 64, static_cast<uint64_t>(i), 0, 1, 1};
                   table->insert(r, &replaced);
                   table->remove(a, 0, &out);
               }
           }));

    memleak::unwind::init();
    for (int d : {8, 16, 24, 32}) {
        const int levels = d > 6 ? d - 6 : 0;
        printf("unwind, %2d frames (unw_backtrace)   %8.1f\n", d,
               unwind_at(levels, d, n / 4, [](int keep) { unw_backtrace(g_frames, keep); }));
        printf("unwind, %2d frames (cached rules)    %8.1f\n", d, unwind_at(levels, d, n / 4, [](int keep) {
                   memleak::unwind::fast_backtrace(reinterpret_cast<uint64_t *>(g_frames), keep);
               }));
    }

    printf("\nmalloc+free pair       native   preloaded   overhead   ratio\n");
    for (int depth : {8, 15, 25, 40}) {
        const double native = run_pairs(pairs_bin, nullptr, depth, n);
        const double traced = run_pairs(pairs_bin, lib, depth, n);
        printf("call depth %2d       %8.1f   %9.1f   %8.1f   %5.1fx\n", depth, native, traced,
               traced - native, traced / native);
    }
    return 0;
}
