// fast_backtrace against libunwind: in each stack shape below, both
// unwinders run at one point of one frame and must report the same return
// addresses. The two calls are different call sites of one function, so
// their first frames differ but must both lie in that function, and the
// frames after them must be equal. Some libunwind releases report
// unw_backtrace's own frame first: that frame is skipped when present.
//
// The test functions are noinline and keep every call out of tail position
// (a store to a volatile after it): at -O2 a tail call becomes a jump and
// its frame would vanish from both stacks, testing nothing.
#include <gtest/gtest.h>

#include <alloca.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "unwind/eh_frame.h"
#include "unwind/rule_cache.h"
#include "unwind/step_rule.h"
#include "unwind/unwinder.h"

namespace memleak::unwind {
namespace {

constexpr int kBuf = 512;
constexpr int kWhole = kBuf - 2;  // more than any stack here is deep
// What capture() asks for with the default depth of 32: the frames kept,
// up to 8 of the runtime's, and one to tell truncation.
constexpr int kDefaultWant = 41;
constexpr int kLong = 64;

// The buffer sizes a capture may ask for: the runtime's usual ones, any
// smaller one, and more than the stack holds.
int pick_max(std::mt19937 &rng) {
    switch (rng() % 5) {
    case 0:
        return kDefaultWant;
    case 1:
        return kLong;
    case 2:
        return 1 + static_cast<int>(rng() % kLong);
    case 3:
        return kWhole;
    default:
        return 33;
    }
}

volatile int g_sink;

// One capture by each unwinder at the same point of the same frame.
struct Pair {
    uint64_t fast[kBuf];
    int nfast = 0;
    void *unw[kBuf + 2];
    int nunw = 0;
    int max = 0;
};

// SIGUSR1, for a thread that takes it anywhere but inside its captures.
sigset_t g_usr1;
thread_local bool t_signals_between_captures;

__attribute__((noinline)) void capture_pair(Pair *p, int max) {
    if (t_signals_between_captures)
        pthread_sigmask(SIG_BLOCK, &g_usr1, nullptr);
    p->max = max;
    p->nfast = fast_backtrace(p->fast, max);
    p->nunw = unw_backtrace(p->unw, max + 1);
    if (t_signals_between_captures)
        pthread_sigmask(SIG_UNBLOCK, &g_usr1, nullptr);
    g_sink = p->nunw;
}

uintptr_t addr_of(const void *fn) { return reinterpret_cast<uintptr_t>(fn); }

// The entry of the function holding return address `ra`, from its FDE as
// libunwind reads it.
uintptr_t function_start(uintptr_t ra) {
    unw_proc_info_t pi;
    if (unw_get_proc_info_by_ip(unw_local_addr_space, ra - 1, &pi, nullptr) != 0)
        return 0;
    return pi.start_ip;
}

std::string module_of(uintptr_t pc) {
    Dl_info info;
    if (!dladdr(reinterpret_cast<void *>(pc), &info) || !info.dli_fname)
        return "?";
    return info.dli_fname;
}

bool in_module(uintptr_t pc, const char *name) { return module_of(pc).find(name) != std::string::npos; }

std::string describe(uintptr_t pc) {
    Dl_info info{};
    std::ostringstream os;
    os << std::hex << "0x" << pc;
    if (dladdr(reinterpret_cast<void *>(pc), &info) && info.dli_sname)
        os << " " << info.dli_sname << "+0x" << pc - reinterpret_cast<uintptr_t>(info.dli_saddr);
    else if (info.dli_fbase)
        os << " +0x" << pc - reinterpret_cast<uintptr_t>(info.dli_fbase);
    os << " (" << module_of(pc) << ")";
    return os.str();
}

std::vector<uint64_t> fast_frames(const Pair &p) {
    if (p.nfast < 1)
        return {};
    return std::vector<uint64_t>(p.fast + 1, p.fast + p.nfast);
}

bool in_function(uintptr_t ra, const void *fn) { return ra && function_start(ra) == addr_of(fn); }

// The index of libunwind's frame in `fn` among its first two (the first
// being unw_backtrace's own, with some releases), or -1.
int unw_first(void *const *unw, int n, const void *fn) {
    for (int i = 0; i < 2 && i < n; ++i)
        if (in_function(reinterpret_cast<uintptr_t>(unw[i]), fn))
            return i;
    return -1;
}

// libunwind's frames after the one in the capturing function, cut to the
// length the other unwinder could fill when that one filled its buffer.
std::vector<uint64_t> unw_after(void *const *unw, int n, int first, size_t cut) {
    std::vector<uint64_t> v;
    for (int i = first + 1; i < n && v.size() < cut; ++i)
        v.push_back(reinterpret_cast<uint64_t>(unw[i]));
    return v;
}

::testing::AssertionResult same_lists(const std::vector<uint64_t> &fast, const std::vector<uint64_t> &unw) {
    if (fast == unw)
        return ::testing::AssertionSuccess();
    auto out = ::testing::AssertionFailure();
    out << "fast " << fast.size() << " frames, libunwind " << unw.size() << " frames\n";
    for (size_t i = 0; i < std::max(fast.size(), unw.size()); ++i) {
        out << (i < fast.size() && i < unw.size() && fast[i] == unw[i] ? "   " : "!! ") << i << ": ";
        out << (i < fast.size() ? describe(fast[i]) : std::string("-")) << "  |  ";
        out << (i < unw.size() ? describe(unw[i]) : std::string("-")) << "\n";
    }
    return out;
}

// The frames of both unwinders agree, and both started in capture_pair.
::testing::AssertionResult same_frames(const Pair &p) {
    const void *fn = reinterpret_cast<const void *>(&capture_pair);
    if (p.nfast < 1)
        return ::testing::AssertionFailure() << "fast_backtrace returned " << p.nfast;
    if (!in_function(p.fast[0], fn))
        return ::testing::AssertionFailure()
               << "fast frame 0 is not in capture_pair: " << describe(p.fast[0]);
    const int first = unw_first(p.unw, p.nunw, fn);
    if (first < 0)
        return ::testing::AssertionFailure() << "libunwind has no frame in capture_pair among its first two";
    const std::vector<uint64_t> fast = fast_frames(p);
    // A full buffer: the rest of the stack is unknown, libunwind's may go on.
    const size_t cut = p.nfast == p.max ? fast.size() : SIZE_MAX;
    return same_lists(fast, unw_after(p.unw, p.nunw, first, cut));
}

// Where a frame needs libunwind (a signal frame) fast_backtrace may give up;
// what it does return must still be right.
::testing::AssertionResult same_frames_or_gave_up(const Pair &p) {
    if (p.nfast == -1)
        return ::testing::AssertionSuccess();
    return same_frames(p);
}

// The unwinder as the runtime sets it up (per-thread state included), but
// with no text counted as the runtime's: here the runtime is linked into
// the test program itself.
class UnwinderEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        init();
        g_runtime_text[0] = TextRange{0, 0};
        g_runtime_text[1] = TextRange{0, 0};
    }
};

[[maybe_unused]] ::testing::Environment *const g_environment =
    ::testing::AddGlobalTestEnvironment(new UnwinderEnvironment);

// ---------------------------------------------------------------------------
// A deep chain of distinct functions, some with %rbp-based CFAs.

struct ChainCtx {
    Pair *pair;
    int max;
    size_t len;
};

template <int N>
int fp_frame(ChainCtx *c);

template <int N>
__attribute__((noinline)) int chain(ChainCtx *c) {
    int r;
    if constexpr (N == 0) {
        capture_pair(c->pair, c->max);
        r = 1;
    } else if constexpr (N % 5 == 2) {
        // A frame of run-time size: its CFA is %rbp-based.
        char *scratch = static_cast<char *>(alloca(c->len + N));
        std::memset(scratch, N, c->len + N);
        r = chain<N - 1>(c) + scratch[c->len / 2];
    } else if constexpr (N % 7 == 4) {
        r = fp_frame<N - 1>(c);
    } else {
        r = chain<N - 1>(c);
    }
    g_sink = r;
    return r + 1;
}

volatile void *g_frame;

// __builtin_frame_address makes GCC keep a frame pointer here, as code
// built with -fno-omit-frame-pointer does: the CFA is %rbp + 16.
template <int N>
__attribute__((noinline)) int fp_frame(ChainCtx *c) {
    g_frame = __builtin_frame_address(0);
    const int r = chain<N>(c);
    g_sink = r;
    return r + 1;
}

constexpr int kChain = 60;

// Frames of the chain whose CFA is %rbp + 16.
constexpr int rbp_frames_in_chain() {
    int n = 0;
    for (int i = 1; i <= kChain; ++i)
        if (i % 5 == 2 || i % 7 == 4)
            ++n;
    return n;
}

__attribute__((noinline)) void run_chain(Pair *p, int max) {
    ChainCtx c{p, max, static_cast<size_t>(24 + max % 7)};
    g_sink = chain<kChain>(&c);
}

// The frames up to the first in `fn`: further out, call sites in the test
// bodies differ from one capture to the next.
template <typename Fn>
std::vector<uint64_t> through(const std::vector<uint64_t> &v, Fn *fn) {
    for (size_t i = 0; i < v.size(); ++i)
        if (in_function(v[i], reinterpret_cast<const void *>(fn)))
            return std::vector<uint64_t>(v.begin(), v.begin() + i + 1);
    ADD_FAILURE() << "no frame in the function";
    return v;
}

int count_rbp_cfa(const Pair &p) {
    int n = 0;
    for (int i = 0; i < p.nfast; ++i) {
        const uint64_t rule = rule_for_return_address(p.fast[i]);
        if (rule_kind(rule) == kRuleStep && (rule & kRuleCfaRbp))
            ++n;
    }
    return n;
}

TEST(FastUnwind, DeepChainTruncatedAtEveryDepth) {
    auto p = std::make_unique<Pair>();
    for (int max : {1, 2, 3, 8, 20, 41, 41, 55, 64, 64, 70, 33, 64, 2}) {
        run_chain(p.get(), max);
        ASSERT_EQ(p->nfast, max) << "max " << max;
        ASSERT_TRUE(same_frames(*p)) << "max " << max;
    }
}

TEST(FastUnwind, DeepChainToTheEndOfTheStack) {
    auto p = std::make_unique<Pair>();
    run_chain(p.get(), kWhole);
    ASSERT_TRUE(same_frames(*p));
    EXPECT_GT(p->nfast, kChain + 2);
    EXPECT_LT(p->nfast, kWhole) << "the stack ended at _start, not at the buffer's end";
    EXPECT_EQ(rule_kind(rule_for_return_address(p->fast[p->nfast - 1])), kRuleEnd)
        << describe(p->fast[p->nfast - 1]);
    // The shapes this test claims are really there.
    EXPECT_GE(count_rbp_cfa(*p), rbp_frames_in_chain());

    // Again with every rule cached, and again after the cache forgot them:
    // the same frames, out to run_chain's.
    auto again = std::make_unique<Pair>();
    for (int round = 0; round < 2; ++round) {
        run_chain(again.get(), kWhole);
        ASSERT_TRUE(same_frames(*again)) << "round " << round;
        EXPECT_EQ(fast_frames(*again).size(), fast_frames(*p).size());
        EXPECT_EQ(through(fast_frames(*again), &run_chain), through(fast_frames(*p), &run_chain));
        forget_rules();
    }
}

TEST(FastUnwind, MaxZeroWritesNothing) {
    uint64_t buf[2] = {0x1111, 0x2222};
    EXPECT_EQ(fast_backtrace(buf, 0), 0);
    EXPECT_EQ(buf[0], 0x1111u);
}

// ---------------------------------------------------------------------------
// Frames inside libc and libstdc++.so that call back into this file.

struct CallbackCtx {
    Pair pair;
    bool captured = false;
    uintptr_t ra = 0;  // the callback's return address, in the library
};

CallbackCtx *g_callback;

__attribute__((noinline)) void capture_in_callback(uintptr_t ra) {
    if (g_callback->captured)
        return;
    g_callback->captured = true;
    g_callback->ra = ra;
    ChainCtx c{&g_callback->pair, kWhole, 40};
    g_sink = chain<9>(&c);
}

int compare_ints(const void *a, const void *b) {
    capture_in_callback(reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    const int x = *static_cast<const int *>(a), y = *static_cast<const int *>(b);
    return (x > y) - (x < y);
}

TEST(FastUnwind, QsortComparator) {
    auto ctx = std::make_unique<CallbackCtx>();
    g_callback = ctx.get();
    int v[64];
    for (int i = 0; i < 64; ++i)
        v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof v[0], compare_ints);
    ASSERT_TRUE(ctx->captured);
    EXPECT_TRUE(in_module(ctx->ra, "libc.so")) << describe(ctx->ra);
    EXPECT_TRUE(same_frames(ctx->pair));
    for (int i = 0; i < 64; ++i)
        EXPECT_EQ(v[i], i);
}

TEST(FastUnwind, BsearchComparator) {
    auto ctx = std::make_unique<CallbackCtx>();
    g_callback = ctx.get();
    int v[100];
    for (int i = 0; i < 100; ++i)
        v[i] = i * 2;
    const int key = 130;
    // Through a pointer: the inline bsearch of <stdlib.h> would keep the
    // search in this file, with no libc frame.
    void *(*volatile search)(const void *, const void *, size_t, size_t,
                             int (*)(const void *, const void *)) = &bsearch;
    const void *hit = search(&key, v, 100, sizeof v[0], compare_ints);
    ASSERT_TRUE(ctx->captured);
    EXPECT_EQ(hit, &v[65]);
    EXPECT_TRUE(in_module(ctx->ra, "libc.so")) << describe(ctx->ra);
    EXPECT_TRUE(same_frames(ctx->pair));
}

int phdr_callback(struct dl_phdr_info *, size_t, void *) {
    capture_in_callback(reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    return 1;
}

TEST(FastUnwind, DlIteratePhdrCallback) {
    auto ctx = std::make_unique<CallbackCtx>();
    g_callback = ctx.get();
    dl_iterate_phdr(phdr_callback, nullptr);
    ASSERT_TRUE(ctx->captured);
    EXPECT_TRUE(in_module(ctx->ra, "libc.so")) << describe(ctx->ra);
    EXPECT_TRUE(same_frames(ctx->pair));
}

// std::call_once: libc's pthread_once calls libstdc++'s proxy, which jumps
// to the callable.
TEST(FastUnwind, CallOnceThroughPthreadOnce) {
    auto ctx = std::make_unique<CallbackCtx>();
    g_callback = ctx.get();
    std::once_flag once;
    std::call_once(once, [] {
        capture_in_callback(reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
        g_sink = 1;
    });
    ASSERT_TRUE(ctx->captured);
    EXPECT_TRUE(same_frames(ctx->pair));
    bool libc = false;
    for (uint64_t pc : fast_frames(ctx->pair))
        libc |= in_module(pc, "libc.so");
    EXPECT_TRUE(libc);
}

// A new thread's stack: the function std::thread runs, then
// execute_native_thread_routine (libstdc++), start_thread and clone3 (libc),
// whose return address is undefined.
TEST(FastUnwind, StdThreadToClone) {
    auto p = std::make_unique<Pair>();
    std::thread t([&] {
        ChainCtx c{p.get(), kWhole, 17};
        g_sink = chain<12>(&c);
    });
    t.join();
    ASSERT_TRUE(same_frames(*p));
    const std::vector<uint64_t> frames = fast_frames(*p);
    ASSERT_GE(frames.size(), 3u);
    bool libstdcxx = false;
    for (uint64_t pc : frames)
        libstdcxx |= in_module(pc, "libstdc++.so");
    EXPECT_TRUE(libstdcxx);
    const uint64_t last = frames.back();
    EXPECT_TRUE(in_module(last, "libc.so")) << describe(last);
    EXPECT_EQ(rule_kind(rule_for_return_address(last)), kRuleEnd) << describe(last);
}

// A destructor run by the unwinder's cleanup: its caller is a landing pad,
// which GCC moves out of the function's hot code into a .cold part with an
// FDE of its own.
struct CaptureOnDestroy {
    Pair *pair;
    ~CaptureOnDestroy() {
        if (pair)
            capture_pair(pair, kWhole);
        g_sink = 2;
    }
};

__attribute__((noinline)) void throw_if_odd(int v) {
    g_sink = v;
    if (v & 1)
        throw std::runtime_error("unwind test");
}

__attribute__((noinline)) void throw_through(Pair *p, int v) {
    CaptureOnDestroy guard{v & 1 ? p : nullptr};
    throw_if_odd(v);
    g_sink = 3;
}

__attribute__((noinline)) bool catch_from(Pair *p) {
    bool caught = false;
    try {
        throw_through(p, 5);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    g_sink = caught;
    return caught;
}

TEST(FastUnwind, DestructorInLandingPad) {
    auto p = std::make_unique<Pair>();
    ASSERT_TRUE(catch_from(p.get()));
    ASSERT_TRUE(same_frames(*p));
    // The landing pad's frame: code covered by another FDE than the one
    // starting at throw_through, called from catch_from.
    const std::vector<uint64_t> frames = fast_frames(*p);
    ASSERT_GE(frames.size(), 2u);
    EXPECT_NE(function_start(frames[0]), 0u);
    EXPECT_FALSE(in_function(frames[0], reinterpret_cast<const void *>(&throw_through)))
        << describe(frames[0]);
    EXPECT_TRUE(in_function(frames[1], reinterpret_cast<const void *>(&catch_from))) << describe(frames[1]);
}

// ---------------------------------------------------------------------------
// Paths chosen at run time: each level runs one of four step functions, so
// consecutive captures can share their inner frames and differ further out,
// or the reverse, with the same stack pointers throughout. Whatever a
// capture remembers of the previous one must not outlive a changed slot.

struct PathCtx {
    const uint8_t *choice;
    int depth;
    Pair *pair;
    int max;
    size_t len;
};

int dispatch(PathCtx *c, int level);

template <int K>
__attribute__((noinline)) int step(PathCtx *c, int level) {
    int r;
    if constexpr (K == 2) {
        char *scratch = static_cast<char *>(alloca(c->len + level));
        std::memset(scratch, level, c->len + level);
        r = dispatch(c, level + 1) + scratch[0];
    } else {
        r = dispatch(c, level + 1);
    }
    g_sink = r + K;
    return r + K;
}

__attribute__((noinline)) int step_fp(PathCtx *c, int level) {
    g_frame = __builtin_frame_address(0);
    const int r = dispatch(c, level + 1);
    g_sink = r + 7;
    return r + 7;
}

__attribute__((noinline)) int dispatch(PathCtx *c, int level) {
    if (level == c->depth) {
        capture_pair(c->pair, c->max);
        g_sink = level;
        return 1;
    }
    int r;
    switch (c->choice[level]) {
    case 0:
        r = step<0>(c, level);
        break;
    case 1:
        r = step<1>(c, level);
        break;
    case 2:
        r = step<2>(c, level);
        break;
    default:
        r = step_fp(c, level);
        break;
    }
    g_sink = r;
    return r;
}

__attribute__((noinline)) void run_path(const std::vector<uint8_t> &choice, Pair *p, int max,
                                        size_t len = 16) {
    PathCtx c{choice.data(), static_cast<int>(choice.size()), p, max, len};
    g_sink = dispatch(&c, 0);
}

// In fast_frames(), innermost first: the return address into the dispatch
// that captured, then into the step and the dispatch of each level up to
// level 0 (frame 2*depth), then into run_path. Frame 2*(depth-1-level)+1 is
// the return address into step<choice[level]>.
size_t step_frame(size_t depth, size_t level) { return 2 * (depth - 1 - level) + 1; }

TEST(FastUnwind, SamePathRepeated) {
    auto first = std::make_unique<Pair>();
    auto p = std::make_unique<Pair>();
    const std::vector<uint8_t> path = {0, 1, 2, 3, 1, 0, 2, 2, 3, 0, 1, 1};
    for (int max : {kDefaultWant, kLong, kWhole})
        for (int i = 0; i < 100; ++i) {
            run_path(path, p.get(), max);
            ASSERT_TRUE(same_frames(*p)) << "max " << max << " repeat " << i;
            if (i == 0)
                *first = *p;
            ASSERT_EQ(fast_frames(*p), fast_frames(*first)) << "max " << max << " repeat " << i;
        }
}

TEST(FastUnwind, OuterFramesChangeUnderIdenticalInnerFrames) {
    auto a = std::make_unique<Pair>();
    auto b = std::make_unique<Pair>();
    const size_t depth = 16;
    for (int max : {kDefaultWant, kLong, kWhole}) {
        for (size_t level : {size_t(0), size_t(1), depth / 2, depth - 2, depth - 1}) {
            std::vector<uint8_t> path(depth, 0);
            std::vector<uint8_t> flipped = path;
            flipped[level] = 1;
            for (int round = 0; round < 3; ++round) {
                run_path(path, a.get(), max);
                ASSERT_TRUE(same_frames(*a)) << "max " << max << " level " << level << " round " << round;
                run_path(flipped, b.get(), max);
                ASSERT_TRUE(same_frames(*b)) << "max " << max << " level " << level << " round " << round;
                // The two stacks differ exactly where the test means them to.
                const auto fa = fast_frames(*a), fb = fast_frames(*b);
                const size_t at = step_frame(depth, level);
                ASSERT_EQ(fa.size(), fb.size());
                for (size_t i = 0; i < at; ++i)
                    ASSERT_EQ(fa[i], fb[i]) << "frame " << i;
                ASSERT_NE(fa[at], fb[at]);
                ASSERT_NE(fa[at + 1], fb[at + 1]);
                // Out to the frame in run_path; the test body calls it from two sites.
                ASSERT_GE(fa.size(), 2 * depth + 2);
                ASSERT_TRUE(in_function(fa[2 * depth + 1], reinterpret_cast<const void *>(&run_path)));
                for (size_t i = at + 2; i < 2 * depth + 2; ++i)
                    ASSERT_EQ(fa[i], fb[i]) << "frame " << i;
            }
        }
    }
}

TEST(FastUnwind, DepthAndFrameSizesChangeBetweenCaptures) {
    auto p = std::make_unique<Pair>();
    auto zeros = [](size_t n) { return std::vector<uint8_t>(n, 0); };
    auto with = [&](size_t n, size_t at, uint8_t choice) {
        std::vector<uint8_t> v = zeros(n);
        v[at] = choice;
        return v;
    };
    const std::vector<std::vector<uint8_t>> paths = {
        zeros(16),      zeros(8),  zeros(16), zeros(17), with(16, 0, 2),
        with(16, 9, 3), zeros(16), {3},       {},        with(16, 15, 2),
    };
    run_path({}, p.get(), kWhole);
    ASSERT_TRUE(same_frames(*p));
    const int base = p->nfast;
    ASSERT_LT(base + 2 * 17, kLong) << "the deepest path must end within a buffer of " << kLong;
    for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < paths.size(); ++i) {
            // A different alloca size moves every frame above it.
            run_path(paths[i], p.get(), kLong, 16 + 32 * ((i + round) % 3));
            ASSERT_TRUE(same_frames(*p)) << "path " << i << " round " << round;
            // Two frames per level on top of the same outer frames.
            ASSERT_EQ(p->nfast, base + 2 * static_cast<int>(paths[i].size())) << "path " << i;
        }
}

TEST(FastUnwind, TruncationBetweenWholeCaptures) {
    auto p = std::make_unique<Pair>();
    const std::vector<uint8_t> path = {1, 0, 3, 2, 0, 1, 3, 0, 0, 2, 1, 1, 0, 2, 3};
    run_path(path, p.get(), kWhole);
    ASSERT_TRUE(same_frames(*p));
    const int whole = p->nfast;
    ASSERT_GT(whole, kDefaultWant);
    for (int max : {kWhole, 3, kWhole, 1, 12, kWhole, 21, 22, 23, kLong, kDefaultWant, 3, kLong, kWhole}) {
        run_path(path, p.get(), max);
        ASSERT_TRUE(same_frames(*p)) << "max " << max;
        ASSERT_EQ(p->nfast, std::min(max, whole)) << "max " << max;
    }
}

__attribute__((noinline)) void shallow_capture(Pair *p) {
    capture_pair(p, kWhole);
    g_sink = 4;
}

TEST(FastUnwind, RandomPaths) {
    auto p = std::make_unique<Pair>();
    std::mt19937 rng(12345);
    for (int i = 0; i < 3000; ++i) {
        const size_t depth = rng() % 30;
        std::vector<uint8_t> path(depth);
        for (auto &c : path)
            c = static_cast<uint8_t>(rng() % 4);
        const int max = pick_max(rng);
        run_path(path, p.get(), max, 8 + rng() % 64);
        ASSERT_TRUE(same_frames(*p)) << "capture " << i << " depth " << depth << " max " << max;
        if (i % 100 == 0) {
            shallow_capture(p.get());
            ASSERT_TRUE(same_frames(*p)) << "shallow capture after " << i;
        }
    }
}

// ---------------------------------------------------------------------------
// Many threads at once, sharing the rule cache, while one thread keeps
// making it forget every rule as a dlclose does.

TEST(FastUnwind, ThreadsShareTheRuleCache) {
    constexpr int kThreads = 8;
    constexpr int kCaptures = 400;
    std::atomic<int> failures{0};
    std::atomic<int> captures{0};
    std::mutex report_lock;
    std::string first_failure;
    std::atomic<bool> stop{false};
    std::thread forgetter([&] {
        while (!stop.load()) {
            forget_rules();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            auto p = std::make_unique<Pair>();
            std::mt19937 rng(777 + t);
            for (int i = 0; i < kCaptures; ++i) {
                std::vector<uint8_t> path(rng() % 24);
                for (auto &c : path)
                    c = static_cast<uint8_t>(rng() % 4);
                const int max = pick_max(rng);
                if (i % 3 == 0) {
                    ChainCtx c{p.get(), max, 8 + rng() % 32};
                    g_sink = chain<kChain>(&c);
                } else {
                    run_path(path, p.get(), max, 8 + rng() % 64);
                }
                const auto ok = same_frames(*p);
                ++captures;
                if (!ok) {
                    std::lock_guard<std::mutex> guard(report_lock);
                    if (failures++ == 0)
                        first_failure = ok.message();
                }
            }
        });
    for (auto &t : threads)
        t.join();
    stop = true;
    forgetter.join();
    EXPECT_EQ(captures.load(), kThreads * kCaptures);
    EXPECT_EQ(failures.load(), 0) << first_failure;
}

// ---------------------------------------------------------------------------
// Signal handlers: the frame of the signal trampoline has rules this
// unwinder does not model, so fast_backtrace may give up (-1), and capture()
// then falls back to libunwind; either way the frames must be libunwind's.

struct SignalCapture {
    Pair pair;
    uint64_t cap[kCaptureCapacity];
    uint32_t cap_first = 0;
    uint32_t cap_depth = 0;
    bool cap_truncated = false;
    void *cap_unw[kBuf];
    int cap_nunw = 0;
    std::atomic<int> handled{0};
};

SignalCapture *g_signal;

__attribute__((noinline)) void capture_with_fallback(SignalCapture *s) {
    s->cap_depth = capture(s->cap, kMaxDepthLimit, &s->cap_first, &s->cap_truncated);
    s->cap_nunw = unw_backtrace(s->cap_unw, kBuf);
    g_sink = s->cap_nunw;
}

// capture() strips frames of the runtime and of libunwind, as init() finds
// them in a preloaded process; here the runtime is linked into the test
// itself, so only libunwind's text is named.
void use_libunwind_as_runtime_text() {
    struct Query {
        uintptr_t pc;
        TextRange range;
    } q{reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "unw_backtrace")), {0, 0}};
    ASSERT_TRUE(in_module(q.pc, "libunwind")) << describe(q.pc);
    dl_iterate_phdr(
        [](struct dl_phdr_info *info, size_t, void *data) {
            auto *qq = static_cast<Query *>(data);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr) &ph = info->dlpi_phdr[i];
                const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
                if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && qq->pc - lo < ph.p_memsz) {
                    qq->range = TextRange{lo, lo + ph.p_memsz};
                    return 1;
                }
            }
            return 0;
        },
        &q);
    ASSERT_NE(q.range.hi, 0u);
    g_runtime_text[0] = TextRange{0, 0};
    g_runtime_text[1] = q.range;
}

::testing::AssertionResult capture_matches_libunwind(const SignalCapture &s) {
    const void *fn = reinterpret_cast<const void *>(&capture_with_fallback);
    if (s.cap_depth < 1)
        return ::testing::AssertionFailure() << "capture kept " << s.cap_depth << " frames";
    if (s.cap_truncated)
        return ::testing::AssertionFailure() << "a stack this shallow was reported truncated";
    const uint64_t top = s.cap[s.cap_first];
    if (!in_function(top, fn))
        return ::testing::AssertionFailure()
               << "capture's first frame is not in capture_with_fallback: " << describe(top);
    const int first = unw_first(s.cap_unw, s.cap_nunw, fn);
    if (first < 0)
        return ::testing::AssertionFailure() << "libunwind has no frame in capture_with_fallback";
    std::vector<uint64_t> cap(s.cap + s.cap_first + 1, s.cap + s.cap_first + s.cap_depth);
    return same_lists(cap, unw_after(s.cap_unw, s.cap_nunw, first, SIZE_MAX));
}

void on_signal(int, siginfo_t *, void *) {
    capture_pair(&g_signal->pair, kWhole);
    capture_with_fallback(g_signal);
    g_signal->handled.fetch_add(1);
}

struct SignalFixture : ::testing::Test {
    struct sigaction old {};
    std::unique_ptr<SignalCapture> s = std::make_unique<SignalCapture>();

    void install(int flags) {
        struct sigaction sa {};
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | flags;
        sigemptyset(&sa.sa_mask);
        ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    }
    bool fast_unwind = g_fast_unwind;

    void SetUp() override {
        use_libunwind_as_runtime_text();
        g_fast_unwind = true;
        g_signal = s.get();
    }
    void TearDown() override {
        sigaction(SIGUSR1, &old, nullptr);
        g_fast_unwind = fast_unwind;
        g_runtime_text[1] = TextRange{0, 0};
    }
};

__attribute__((noinline)) void raise_deep(int levels) {
    if (levels > 0)
        raise_deep(levels - 1);
    else
        raise(SIGUSR1);
    g_sink = levels;
}

TEST_F(SignalFixture, RaiseFromDeepChain) {
    install(0);
    auto before = std::make_unique<Pair>();
    auto after = std::make_unique<Pair>();
    const std::vector<uint8_t> path = {1, 2, 3, 0, 1};
    run_path(path, before.get(), kDefaultWant);
    raise_deep(20);
    run_path(path, after.get(), kDefaultWant);
    ASSERT_EQ(s->handled.load(), 1);
    EXPECT_TRUE(same_frames_or_gave_up(s->pair));
    EXPECT_TRUE(capture_matches_libunwind(*s));
    // Captures on either side of the handler's are unaffected by it.
    EXPECT_TRUE(same_frames(*before));
    EXPECT_TRUE(same_frames(*after));
    EXPECT_EQ(through(fast_frames(*before), &run_path), through(fast_frames(*after), &run_path));
}

TEST_F(SignalFixture, RaiseOnAlternateStack) {
    install(SA_ONSTACK);
    std::vector<char> altstack(1 << 16);
    stack_t ss{}, old_ss{};
    ss.ss_sp = altstack.data();
    ss.ss_size = altstack.size();
    ASSERT_EQ(sigaltstack(&ss, &old_ss), 0);
    raise_deep(7);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    ASSERT_EQ(s->handled.load(), 1);
    EXPECT_TRUE(same_frames_or_gave_up(s->pair));
    EXPECT_TRUE(capture_matches_libunwind(*s));
}

// Signals sent to a thread between its captures, at any instruction of
// the functions on its path (prologues and epilogues included): the
// handler captures on top of them, and the thread's next captures must be
// unaffected. The worker checks its own captures, the handler its own.
// Neither unwinder is called again from a handler that interrupted it (the
// runtime's reentry guard keeps a handler's allocations from being
// recorded inside a hook), so the signal is kept out of the captures and
// out of the checks, which call libunwind.
struct SignalStress {
    std::atomic<bool> stop{false};
    std::atomic<int> worker_captures{0};
    std::atomic<int> handler_captures{0};
    std::atomic<int> handler_gave_up{0};
    std::atomic<int> failures{0};
    std::string first_failure;
    std::unique_ptr<SignalCapture> in_handler = std::make_unique<SignalCapture>();
};

SignalStress *g_stress;

void note_failure(SignalStress *st, const ::testing::AssertionResult &r, const char *who) {
    if (st->failures.fetch_add(1) == 0)
        st->first_failure = std::string(who) + ": " + r.message();
}

void on_signal_checked(int, siginfo_t *, void *) {
    SignalStress *st = g_stress;
    SignalCapture *s = st->in_handler.get();
    // The handler runs with the signal blocked: capture_pair leaves the mask alone.
    const bool between = t_signals_between_captures;
    t_signals_between_captures = false;
    capture_pair(&s->pair, kDefaultWant);
    capture_with_fallback(s);
    if (s->pair.nfast == -1)
        st->handler_gave_up.fetch_add(1);
    if (auto r = same_frames_or_gave_up(s->pair); !r) {
        note_failure(st, r, "handler fast_backtrace");
    }
    if (auto r = capture_matches_libunwind(*s); !r) {
        note_failure(st, r, "handler capture()");
    }
    t_signals_between_captures = between;
    st->handler_captures.fetch_add(1);
}

void signalled_worker(SignalStress *st) {
    pthread_sigmask(SIG_BLOCK, &g_usr1, nullptr);
    auto p = std::make_unique<Pair>();
    std::mt19937 rng(99);
    t_signals_between_captures = true;
    while (!st->stop.load()) {
        std::vector<uint8_t> path(rng() % 16);
        for (auto &c : path)
            c = static_cast<uint8_t>(rng() % 4);
        const int max = pick_max(rng);
        pthread_sigmask(SIG_UNBLOCK, &g_usr1, nullptr);
        run_path(path, p.get(), max, 8 + rng() % 64);
        pthread_sigmask(SIG_BLOCK, &g_usr1, nullptr);
        if (auto r = same_frames(*p); !r) {
            note_failure(st, r, "worker");
        }
        st->worker_captures.fetch_add(1);
    }
    t_signals_between_captures = false;
}

TEST_F(SignalFixture, SignalsBetweenCaptures) {
    struct sigaction sa {};
    sa.sa_sigaction = on_signal_checked;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    SignalStress st;
    g_stress = &st;
    sigemptyset(&g_usr1);
    sigaddset(&g_usr1, SIGUSR1);
    std::thread worker(signalled_worker, &st);
    constexpr int kSignals = 2000;
    for (int i = 0; i < kSignals; ++i) {
        pthread_kill(worker.native_handle(), SIGUSR1);
        // One signal at a time: a second one sent while the first is still
        // pending would merge with it.
        while (st.handler_captures.load() <= i)
            sched_yield();
    }
    st.stop = true;
    worker.join();
    EXPECT_EQ(st.handler_captures.load(), kSignals);
    EXPECT_GT(st.worker_captures.load(), 0);
    EXPECT_EQ(st.failures.load(), 0) << st.first_failure;
    RecordProperty("handler_fast_gave_up", st.handler_gave_up.load());
}

}  // namespace
}  // namespace memleak::unwind
