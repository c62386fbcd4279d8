#include <link.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/line_writer.h"
#include "core/options.h"
#include "unwind/rule_cache.h"
#include "unwind/unwinder.h"

namespace memleak::unwind {

TextRange g_runtime_text[2];
uint32_t g_runtime_frames;
bool g_fast_unwind;
bool g_check_unwind;
bool g_modules_unloaded;

namespace {

struct RangeQuery {
    uintptr_t addr;
    TextRange *out;
};

int find_object(struct dl_phdr_info *info, size_t, void *data) {
    auto *q = static_cast<RangeQuery *>(data);
    bool contains = false;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD)
            continue;
        const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
        const uintptr_t end = start + ph.p_memsz;
        if (q->addr >= start && q->addr < end)
            contains = true;
        if (ph.p_flags & PF_X) {
            if (start < lo)
                lo = start;
            if (end > hi)
                hi = end;
        }
    }
    if (!contains)
        return 0;
    q->out->lo = lo;
    q->out->hi = hi;
    return 1;
}

void find_text(uintptr_t addr, TextRange *out) {
    RangeQuery q{addr, out};
    GateGuard gate;
    dl_iterate_phdr(find_object, &q);
}

// libunwind 1.6 and 1.7 check a word before reading it where a frame's
// unwind information may be wrong (under their default conservative
// checks, every unw_step): mincore, then a write of the byte to a pipe
// made at initialization, whose EFAULT tells an unreadable address. That
// pipe would hold two descriptors for the program's whole life, so its
// first open() would not get 3. The runtime reads such words with
// process_vm_readv on its own process instead, which needs no descriptor,
// and has libunwind initialized while no descriptor can be had, so the
// pipe is never made. Elsewhere (another version, a sandbox refusing
// process_vm_readv) libunwind is left as it is.
#if UNW_VERSION >= UNW_VERSION_CODE(1, 6) && UNW_VERSION < UNW_VERSION_CODE(1, 8)
#define MEMLEAK_OWN_MEMORY_CHECK 1

using AccessMemFn = int (*)(unw_addr_space_t, unw_word_t, unw_word_t *, int, void *);
AccessMemFn g_libunwind_access_mem;

// The low bit of the argument libunwind passes its local accessors: "check
// before reading" (AS_ARG_VALIDATE_MASK in its tdep-x86_64/libunwind_i.h).
constexpr uintptr_t kValidateBit = 1;

bool read_own_word(uintptr_t addr, unw_word_t *out) {
    struct iovec local = {out, sizeof *out};
    struct iovec remote = {reinterpret_cast<void *>(addr), sizeof *out};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(sizeof *out);
}

// The pages checked last, per thread, as libunwind keeps them: consecutive
// checks mostly fall on the same few stack pages.
constexpr int kCheckedPages = 4;
__thread uintptr_t t_checked_pages[kCheckedPages] __attribute__((tls_model("initial-exec")));
__thread unsigned t_checked_next __attribute__((tls_model("initial-exec")));

int access_mem_checked(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg) {
    if (write || !(reinterpret_cast<uintptr_t>(arg) & kValidateBit))
        return g_libunwind_access_mem(as, addr, val, write, arg);
    const uintptr_t page = addr & ~uintptr_t{4095};
    // A word that straddles two pages is read, and so checked, whole.
    const bool one_page = ((addr + sizeof *val - 1) & ~uintptr_t{4095}) == page;
    if (one_page && page != 0) {
        for (uintptr_t checked : t_checked_pages)
            if (checked == page) {
                *val = *reinterpret_cast<const unw_word_t *>(addr);
                return 0;
            }
    }
    if (!read_own_word(addr, val))
        return -1;
    if (one_page)
        t_checked_pages[t_checked_next++ % kCheckedPages] = page;
    return 0;
}

// Initializes libunwind (its first call does) with the file-descriptor
// limit at zero, so its pipe cannot be made, and routes its checked reads
// through access_mem_checked. False when that cannot be done.
bool init_libunwind_without_descriptors() {
    unw_word_t probe = 0x6d656d6c65616bu, copy = 0;
    if (!read_own_word(reinterpret_cast<uintptr_t>(&probe), &copy) || copy != probe)
        return false;
    struct rlimit old;
    if (getrlimit(RLIMIT_NOFILE, &old) != 0)
        return false;
    struct rlimit none = {0, old.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &none) != 0)
        return false;
    unw_accessors_t *acc = unw_get_accessors(unw_local_addr_space);
    setrlimit(RLIMIT_NOFILE, &old);
    if (acc == nullptr || acc->access_mem == nullptr)
        return false;
    g_libunwind_access_mem = acc->access_mem;
    acc->access_mem = access_mem_checked;
    return true;
}
#endif

}  // namespace

void init() {
#ifdef MEMLEAK_OWN_MEMORY_CHECK
    init_libunwind_without_descriptors();
#endif
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    find_text(reinterpret_cast<uintptr_t>(&init), &g_runtime_text[0]);
    find_text(reinterpret_cast<uintptr_t>(&unw_backtrace), &g_runtime_text[1]);
    g_fast_unwind = options().fast_unwind != 0;
    g_check_unwind = options().fast_unwind == 2;
    init_fast_unwind();
}

namespace {

uint64_t g_checked;
uint64_t g_differed;
uint64_t g_given_up;

}  // namespace

// Not inlined, so that both lists start at known frames: libunwind's at
// [this function, its caller, the caller's caller...], fast_backtrace's at
// [its caller, the caller's caller...].
__attribute__((noinline)) void check_against_libunwind(const uint64_t *fast, int n, int want) {
    if (n < 0) {
        __atomic_add_fetch(&g_given_up, 1, __ATOMIC_RELAXED);
        return;
    }
    // Room for the frames between this one and the program's, which are
    // more when the caller runs on the runtime stack.
    constexpr int kMargin = 4;
    uint64_t slow[want + kMargin];
    const int m = libunwind_backtrace(slow, want + kMargin);
    __asm__ volatile("" ::: "memory");  // keeps the call above out of tail position
    // The program's frames start after fast[0] in `fast`. In `slow` they
    // start after this function's return address and the hook's (offset 2),
    // or, from the runtime stack, after fast[0] itself (the hook's return
    // address from the switch, found in both lists).
    int offset = 2;
    for (int j = 0; j < m && j < 2 * kMargin; ++j)
        if (n > 0 && slow[j] == fast[0]) {
            offset = j + 1;
            break;
        }
    const int fast_frames = n > 1 ? n - 1 : 0, slow_frames = m > offset ? m - offset : 0;
    const int common = fast_frames < slow_frames ? fast_frames : slow_frames;
    int differ = -1;
    for (int i = 0; i < common && differ < 0; ++i)
        if (fast[1 + i] != slow[offset + i])
            differ = i;
    const bool fast_ended = n < want, slow_ended = m < want + kMargin;
    if (differ < 0 && (fast_ended || slow_ended) && fast_frames != slow_frames)
        differ = common;
    __atomic_add_fetch(&g_checked, 1, __ATOMIC_RELAXED);
    if (differ < 0)
        return;
    if (__atomic_add_fetch(&g_differed, 1, __ATOMIC_RELAXED) > 10)
        return;
    LineWriter w;
    w.add("memleak: unwinder check: stacks differ at frame #").add(static_cast<uint64_t>(differ));
    w.add(": ");
    w.add(static_cast<uint64_t>(fast_frames)).add(" frames from cached rules,");
    for (int i = differ; i < fast_frames && i < differ + 3; ++i)
        w.add(" ").add_hex(fast[1 + i]);
    w.add("; ").add(static_cast<uint64_t>(slow_frames)).add(" from libunwind,");
    for (int i = differ; i < slow_frames && i < differ + 3; ++i)
        w.add(" ").add_hex(slow[offset + i]);
    w.write_line(2);
}

void finish_unwind_check() {
    if (!g_check_unwind)
        return;
    LineWriter w;
    w.add("memleak: unwinder check: ").add(__atomic_load_n(&g_checked, __ATOMIC_RELAXED));
    w.add(" stacks compared with libunwind, ").add(__atomic_load_n(&g_differed, __ATOMIC_RELAXED));
    w.add(" differed, ").add(__atomic_load_n(&g_given_up, __ATOMIC_RELAXED));
    w.add(" given up by the cached rules (libunwind's alone)");
    w.write_line(2);
}

__attribute__((noinline)) int step_backtrace(uint64_t *buf, int max) {
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0)
        return 0;
    int n = 0;
    while (n < max && unw_step(&cursor) > 0) {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0)
            break;
        buf[n++] = ip;
    }
    return n;
}

void prepare_fork_unwind() {
    uint64_t pcs[2];
    libunwind_backtrace(pcs, 2);
}

void forget_unwind_info() {
    forget_rules();
    forget_unwind_memos();
    // Flushes what unw_step uses; unw_backtrace's per-thread trace cache
    // has no flush, so libunwind_backtrace stops using it.
    unw_flush_cache(unw_local_addr_space, 0, 0);
    __atomic_store_n(&g_modules_unloaded, true, __ATOMIC_RELAXED);
}

}  // namespace memleak::unwind
