#include <pthread.h>
#include <sys/resource.h>

#include "table/futex_lock.h"
#include "table/internal_alloc.h"
#include "core/reentry_guard.h"
#include "unwind/eh_frame.h"
#include "unwind/rule_cache.h"
#include "unwind/unwinder.h"

namespace memleak::unwind {

namespace {

// No real frame is this large; a CFA further up means a rule or a saved
// %rbp that does not describe this stack, and libunwind gets the stack.
constexpr uintptr_t kMaxFrameBytes = uintptr_t(64) << 20;

// Consecutive allocations of a thread mostly share their outer frames (the
// event loop, the request handler, the query executor). Each thread keeps
// the last stack it unwound with what every step read, so the next unwind
// stops stepping where it reaches a frame of that stack in the same
// register state: from there on the old frames hold as long as every word
// the old steps read from the stack still holds the same value, and those
// checks are independent loads, not a chain of dependent ones.
constexpr int kMemoFrames = 64;

struct MemoFrame {
    uintptr_t pc;
    uintptr_t sp;
    uintptr_t rbp;
    // Where the step to the caller read its return address (a multiple of
    // 8), plus kCfaRbpBit when the step computed the CFA from %rbp: one word
    // less to copy for each frame taken from the last stack.
    uintptr_t ra_slot_rbp;
    uintptr_t rbp_slot;  // where it read the caller's %rbp; 0: kept
};

constexpr uintptr_t kCfaRbpBit = 1;

struct MemoTrace {
    int count;
    bool ended;  // the last frame is the outermost (its rule is kRuleEnd)
    // Some step computed its CFA from %rbp. Without such a step (code built
    // without frame pointers, where %rbp is an ordinary register whose value
    // differs from call to call) %rbp decides nothing, and a match ignores it.
    bool uses_rbp;
    MemoFrame frames[kMemoFrames];
};

struct Memo {
    uint64_t generation;
    int current;  // traces[current] is the last stack; the other is scratch
    MemoTrace traces[2];
    Memo *next_free;
};

uint64_t g_generation = 1;
pthread_key_t g_memo_key;
bool g_memo_key_ok;
Memo *g_free_memos;
uint32_t g_memo_lock;

// What a thread whose memo went back to the pool holds instead: it is
// exiting, and what it still allocates (in later key destructors) is
// unwound without a memo rather than with a new one nobody would release.
Memo *const kRetiredMemo = reinterpret_cast<Memo *>(uintptr_t{1});

// Thread exit: the memo goes back to the pool for the next thread.
void release_memo(void *p) {
    ReentryGuard reentry;  // a signal handler that allocates must not wait on the pool's lock
    ErrnoSaver saved;
    auto *memo = static_cast<Memo *>(p);
    if (t_thread_state.unwind_memo == memo)
        t_thread_state.unwind_memo = kRetiredMemo;
    FutexGuard guard(&g_memo_lock);
    memo->next_free = g_free_memos;
    g_free_memos = memo;
}

Memo *new_memo() {
    FutexGuard guard(&g_memo_lock);
    if (!g_free_memos) {
        constexpr size_t kSlab = 64 * 1024;
        auto *slab = static_cast<Memo *>(map_pages(kSlab, MEMLEAK_REGION_UNWIND));
        if (!slab)
            return nullptr;
        for (size_t i = 0; i < kSlab / sizeof(Memo); ++i) {
            slab[i].next_free = g_free_memos;
            g_free_memos = &slab[i];
        }
    }
    Memo *memo = g_free_memos;
    g_free_memos = memo->next_free;
    memo->generation = 0;
    memo->traces[memo->current].count = 0;
    return memo;
}

// The calling thread's memo, made on its first unwind; nullptr when none
// can be had (then every frame is stepped).
Memo *thread_memo() {
    Memo *memo = static_cast<Memo *>(t_thread_state.unwind_memo);
    if (__builtin_expect(memo != nullptr, 1))
        return memo == kRetiredMemo ? nullptr : memo;
    if (!g_memo_key_ok || !(memo = new_memo()))
        return nullptr;
    if (pthread_setspecific(g_memo_key, memo) != 0) {
        release_memo(memo);
        return nullptr;
    }
    t_thread_state.unwind_memo = memo;
    return memo;
}

// The main thread's stack: from __libc_stack_end (the stack pointer _start
// was given) down by the stack size limit, which the kernel keeps free of
// other mappings.
uintptr_t g_main_stack_lo;
uintptr_t g_main_stack_hi;

// The calling thread's stack, found once: every word the unwinder reads
// lies between the stack pointer and its top, so no rule, stale or wrong,
// can send a read outside the stack. False when it cannot be told (then
// libunwind unwinds).
bool stack_bounds(uintptr_t *lo, uintptr_t *hi) {
    ThreadState &ts = t_thread_state;
    if (__builtin_expect(ts.stack_hi == 0, 0)) {
        ts.stack_hi = 1;  // asked: an empty range until found
        if (current_tid() == static_cast<uint32_t>(getpid())) {
            ts.stack_lo = g_main_stack_lo;
            ts.stack_hi = g_main_stack_hi;
        } else {
            pthread_attr_t attr;
            if (pthread_getattr_np(pthread_self(), &attr) == 0) {
                void *addr;
                size_t size;
                if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                    ts.stack_lo = reinterpret_cast<uintptr_t>(addr);
                    ts.stack_hi = ts.stack_lo + size;
                }
                pthread_attr_destroy(&attr);
            }
        }
    }
    *lo = ts.stack_lo;
    *hi = ts.stack_hi;
    return *hi > *lo;
}

}  // namespace

extern "C" void *__libc_stack_end;

void init_fast_unwind() {
    modules_unloaded();
    g_memo_key_ok = pthread_key_create(&g_memo_key, release_memo) == 0;
    g_main_stack_hi = reinterpret_cast<uintptr_t>(__libc_stack_end);
    struct rlimit limit;
    uintptr_t size = uintptr_t(8) << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        size = limit.rlim_cur;
    g_main_stack_lo = g_main_stack_hi > size ? g_main_stack_hi - size : 0;
}

void forget_unwind_memos() { __atomic_add_fetch(&g_generation, 1, __ATOMIC_RELEASE); }

namespace {
uint32_t g_unloads_checked_at;
}  // namespace

void poll_unloads(uint32_t ticks) {
    // About once a second: glibc unloads some modules without dlclose, and
    // a rule read from one must not be applied to what comes next at its
    // addresses.
    constexpr uint32_t kEveryTicks = 100;
    uint32_t last = __atomic_load_n(&g_unloads_checked_at, __ATOMIC_RELAXED);
    if (ticks - last < kEveryTicks || !__atomic_compare_exchange_n(&g_unloads_checked_at, &last, ticks, false,
                                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    if (modules_unloaded())
        forget_unwind_info();
}

void lock_memos() { futex_lock(&g_memo_lock); }
void unlock_memos() { futex_unlock(&g_memo_lock); }
void reset_memos_lock() { futex_reset(&g_memo_lock); }

__attribute__((noinline)) int fast_backtrace_from(const uintptr_t *fp, uint64_t *buf, int max) {
    uintptr_t rbp = fp[0];
    uintptr_t pc = fp[1];
    uintptr_t sp = reinterpret_cast<uintptr_t>(fp + 2);
    uintptr_t stack_lo, stack_hi;
    if (!stack_bounds(&stack_lo, &stack_hi) || sp < stack_lo || sp >= stack_hi)
        return -1;

    Memo *memo = max <= kMemoFrames ? thread_memo() : nullptr;
    const MemoTrace *old = nullptr;
    MemoTrace *next = nullptr;
    if (memo) {
        const uint64_t generation = __atomic_load_n(&g_generation, __ATOMIC_ACQUIRE);
        if (memo->generation == generation)
            old = &memo->traces[memo->current];
        memo->generation = generation;
        next = &memo->traces[memo->current ^ 1];
    }
    int mi = 0;  // the first old frame not below sp
    bool ended = false;
    bool uses_rbp = false;
    int n = 0;
    while (n < max) {
        buf[n] = pc;
        if (old) {
            while (mi < old->count && old->frames[mi].sp < sp)
                ++mi;
            if (mi < old->count && old->frames[mi].sp == sp && old->frames[mi].pc == pc &&
                (!old->uses_rbp || old->frames[mi].rbp == rbp)) {
                // Frame n is old frame mi: take old frames while the words
                // their steps read still hold what they held.
                int m = mi;
                while (n + 1 < max && m + 1 < old->count) {
                    const MemoFrame &o = old->frames[m];
                    const MemoFrame &up = old->frames[m + 1];
                    if (*reinterpret_cast<const uintptr_t *>(o.ra_slot_rbp & ~kCfaRbpBit) != up.pc ||
                        (o.rbp_slot && *reinterpret_cast<const uintptr_t *>(o.rbp_slot) != up.rbp))
                        break;
                    next->frames[n] = MemoFrame{o.pc, o.sp, rbp, o.ra_slot_rbp, o.rbp_slot};
                    uses_rbp |= (o.ra_slot_rbp & kCfaRbpBit) != 0;
                    if (o.rbp_slot)
                        rbp = up.rbp;
                    ++n;
                    ++m;
                    buf[n] = up.pc;
                }
                pc = old->frames[m].pc;
                sp = old->frames[m].sp;
                mi = m + 1;
                if (m + 1 == old->count && old->ended) {
                    next->frames[n] = MemoFrame{pc, sp, rbp, 0, 0};
                    ended = true;
                    ++n;
                    break;
                }
            }
        }
        uint64_t rule = cached_rule(pc);
        if (__builtin_expect(rule == kRuleNone, 0))
            rule = learn_rule(pc);
        const RuleKind kind = rule_kind(rule);
        if (kind == kRuleEnd) {
            if (next)
                next->frames[n] = MemoFrame{pc, sp, rbp, 0, 0};
            ended = true;
            ++n;
            break;
        }
        const uintptr_t cfa = ((rule & kRuleCfaRbp) ? rbp : sp) + rule_cfa_offset(rule);
        const uintptr_t ra_slot = cfa + rule_ra_offset(rule);
        const uintptr_t rbp_slot = (rule & kRuleRbpSaved) ? cfa + rule_rbp_offset(rule) : 0;
        const bool fits = cfa > sp && !(cfa & 7) && cfa - sp <= kMaxFrameBytes && ra_slot >= sp &&
                          ra_slot <= stack_hi - 8 &&
                          (!rbp_slot || (rbp_slot >= sp && rbp_slot <= stack_hi - 8));
        if (kind != kRuleStep || !fits) {
            // This stack goes to libunwind; the memo must not describe it.
            if (memo)
                memo->traces[memo->current].count = 0;
            // A rule that does not fit this stack: the code it was read
            // from may have been unloaded without dlclose.
            if (kind == kRuleStep && modules_unloaded())
                forget_unwind_info();
            return -1;
        }
        if (next)
            next->frames[n] =
                MemoFrame{pc, sp, rbp, ra_slot | ((rule & kRuleCfaRbp) ? kCfaRbpBit : 0), rbp_slot};
        uses_rbp |= (rule & kRuleCfaRbp) != 0;
        ++n;
        if (rbp_slot)
            rbp = *reinterpret_cast<const uintptr_t *>(rbp_slot);
        pc = *reinterpret_cast<const uintptr_t *>(ra_slot);
        sp = cfa;
        if (pc == 0)
            break;
    }
    if (next) {
        next->count = n;
        next->ended = ended;
        next->uses_rbp = uses_rbp;
        memo->current ^= 1;
    }
    return n;
}

// The frame pointer this function is made to keep gives the caller's
// return address, stack pointer and %rbp without saving any other register.
__attribute__((noinline)) int fast_backtrace(uint64_t *buf, int max) {
    const int n = fast_backtrace_from(static_cast<const uintptr_t *>(__builtin_frame_address(0)), buf, max);
    __asm__ volatile("" ::: "memory");  // no tail call: the frame read must stay
    return n;
}

}  // namespace memleak::unwind
