#include "report/leak_roots.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "table/regions.h"

namespace memleak::report {

namespace {

constexpr uint64_t kRedZone = 128;
// glibc's HEAP_MAX_SIZE on 64-bit targets: every heap of a non-main arena
// starts at a multiple of it.
constexpr uint64_t kArenaHeapAlign = uint64_t{64} << 20;
constexpr uint64_t kPage = 4096;

constexpr uint32_t kRead = 1;
constexpr uint32_t kWrite = 2;
constexpr uint32_t kShared = 4;
constexpr uint32_t kFile = 8;      // backed by a file (inode nonzero)
constexpr uint32_t kBrkHeap = 16;  // [heap]
constexpr uint32_t kPseudo = 32;   // [vvar], [vdso], [vsyscall]; [stack] is not one
constexpr uint32_t kDevZero = 64;  // shared anonymous memory (/dev/zero (deleted))
constexpr uint32_t kDevice = 128;  // some other /dev file: reading may have effects
constexpr uint32_t kExec = 256;

struct Mapping {
    uint64_t lo, hi;
    uint32_t flags;
    uint32_t unused;
    bool exec() const { return (flags & kExec) != 0; }
};

uint64_t parse_hex(const char *&p, const char *end) {
    uint64_t v = 0;
    for (; p < end; ++p) {
        const char c = *p;
        if (c >= '0' && c <= '9')
            v = v << 4 | static_cast<uint64_t>(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | static_cast<uint64_t>(c - 'a' + 10);
        else
            break;
    }
    return v;
}

void skip_field(const char *&p, const char *end) {
    while (p < end && *p != ' ')
        ++p;
    while (p < end && *p == ' ')
        ++p;
}

bool starts_with(const char *p, const char *end, const char *prefix) {
    const size_t n = strlen(prefix);
    return static_cast<size_t>(end - p) >= n && memcmp(p, prefix, n) == 0;
}

// One line of /proc/self/maps: "lo-hi perms offset dev inode   path".
bool parse_line(const char *p, const char *end, Mapping *m) {
    m->lo = parse_hex(p, end);
    if (p >= end || *p != '-')
        return false;
    ++p;
    m->hi = parse_hex(p, end);
    if (p >= end || *p != ' ' || end - p < 5)
        return false;
    ++p;
    m->flags = (p[0] == 'r' ? kRead : 0) | (p[1] == 'w' ? kWrite : 0) | (p[2] == 'x' ? kExec : 0) |
               (p[3] == 's' ? kShared : 0);
    skip_field(p, end);  // perms
    skip_field(p, end);  // offset
    skip_field(p, end);  // device
    bool inode = false;
    while (p < end && *p >= '0' && *p <= '9')
        inode |= *p++ != '0';
    while (p < end && *p == ' ')
        ++p;
    if (inode)
        m->flags |= kFile;
    if (starts_with(p, end, "[heap]"))
        m->flags |= kBrkHeap;
    else if (starts_with(p, end, "[v"))
        m->flags |= kPseudo;
    else if (starts_with(p, end, "/dev/zero"))
        m->flags |= kDevZero;
    else if (starts_with(p, end, "/dev/"))
        m->flags |= kDevice;
    return m->lo < m->hi;
}

// Reads /proc/self/maps with read(2) into a fixed buffer: no stdio, no malloc.
bool read_maps(Scratch<Mapping> *out) {
    int fd;
    do
        fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return false;
    char buf[16384];
    size_t have = 0;
    bool ok = true;
    for (;;) {
        const ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ok = false;
            break;
        }
        have += static_cast<size_t>(n);
        size_t start = 0;
        for (size_t i = 0; i < have; ++i) {
            if (buf[i] != '\n')
                continue;
            Mapping m{};
            if (parse_line(buf + start, buf + i, &m) && !out->push(m)) {
                ok = false;
                break;
            }
            start = i + 1;
        }
        if (!ok || n == 0)
            break;
        if (start == 0 && have == sizeof buf) {
            ok = false;  // a line longer than the buffer: not /proc/self/maps as we know it
            break;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    close(fd);
    return ok;
}

int module_cb(struct dl_phdr_info *info, size_t, void *data) {
    auto *out = static_cast<Scratch<ModuleSegment> *>(data);
    for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        const uint64_t lo = info->dlpi_addr + ph.p_vaddr;
        const uint64_t hi = lo + ph.p_memsz;
        if (!out->push(
                ModuleSegment{lo & ~(kPage - 1), (hi + kPage - 1) & ~(kPage - 1), (ph.p_flags & PF_W) != 0}))
            return 1;
    }
    return 0;
}

uint64_t word_at(uint64_t addr) {
    uint64_t v;
    memcpy(&v, reinterpret_cast<const void *>(addr), sizeof v);
    return v;
}

// The stack of an exited thread that glibc keeps for the next thread: an
// anonymous mapping whose top holds a struct pthread (its first word and
// its `self` word point at itself) with a thread id no live thread has.
bool dead_thread_stack(const Mapping &m, const RootInput &in) {
#if defined(__x86_64__)
    const uint64_t size = in.layout.sizeof_pthread;
    if (!in.layout.known() || m.hi - m.lo < size + kPage)
        return false;
    const uint64_t top = (m.hi - size) & ~uint64_t{63};
    const uint64_t bottom = top - std::min<uint64_t>(top - m.lo, 65536);
    for (uint64_t pd = top; pd > bottom; pd -= 64) {
        if (word_at(pd) != pd || word_at(pd + 16) != pd)
            continue;
        int32_t tid;
        memcpy(&tid, reinterpret_cast<const void *>(pd + in.layout.tid_offset), sizeof tid);
        if (tid <= 0)
            return true;
        if (static_cast<uint32_t>(tid) == in.caller.tid)
            return false;
        for (unsigned i = 0; i < in.thread_count; ++i)
            if (in.threads[i].tid == static_cast<uint32_t>(tid))
                return false;
        return true;
    }
#endif
    (void)m;
    (void)in;
    return false;
}

// The part of each glibc arena heap inside `m` that is in use: it holds
// chunks, live or free, never a root.
bool add_arena_heaps(const Mapping &m, Scratch<Span> *excl) {
    for (uint64_t a = (m.lo + kArenaHeapAlign - 1) & ~(kArenaHeapAlign - 1); a + 64 <= m.hi && a >= m.lo;
         a += kArenaHeapAlign) {
        // heap_info: ar_ptr, prev, size, mprotect_size.
        const uint64_t ar_ptr = word_at(a), prev = word_at(a + 8), size = word_at(a + 16),
                       mprotect_size = word_at(a + 24);
        if (ar_ptr == 0 || ar_ptr % 8 != 0 || prev % kArenaHeapAlign != 0 || size == 0 ||
            size > mprotect_size || mprotect_size > kArenaHeapAlign || mprotect_size % kPage != 0 ||
            a + mprotect_size > m.hi)
            continue;
        if (!excl->push(Span{a, a + mprotect_size}))
            return false;
    }
    return true;
}

// Sorts and coalesces spans in place.
void normalize(Scratch<Span> *spans) {
    std::sort(spans->begin(), spans->end(), [](const Span &a, const Span &b) { return a.lo < b.lo; });
    size_t n = 0;
    for (size_t i = 0; i < spans->size(); ++i) {
        const Span s = (*spans)[i];
        if (s.lo >= s.hi)
            continue;
        if (n > 0 && s.lo <= (*spans)[n - 1].hi)
            (*spans)[n - 1].hi = std::max((*spans)[n - 1].hi, s.hi);
        else
            (*spans)[n++] = s;
    }
    spans->resize(n);
}

// out = in minus the sorted, disjoint spans `ex`; `in` sorted and disjoint.
bool subtract(const Scratch<RootRange> &in, const Span *ex, size_t n, Scratch<RootRange> *out) {
    size_t j = 0;
    for (const RootRange &r : in) {
        while (j < n && ex[j].hi <= r.lo)
            ++j;
        uint64_t cur = r.lo;
        for (size_t k = j; k < n && ex[k].lo < r.hi; ++k) {
            if (ex[k].lo > cur && !out->push(RootRange{cur, ex[k].lo, r.kind, r.tid}))
                return false;
            cur = std::max(cur, ex[k].hi);
        }
        if (cur < r.hi && !out->push(RootRange{cur, r.hi, r.kind, r.tid}))
            return false;
    }
    return true;
}

// The live part of a stack mapping, if some thread's stack pointer is in it.
bool stack_in(const Mapping &m, const RootInput &in, uint64_t *lo, uint32_t *tid) {
    bool found = false;
    if (in.caller.sp >= m.lo && in.caller.sp < m.hi) {
        *lo = in.caller.sp;
        *tid = in.caller.tid;
        found = true;
    }
    for (unsigned i = 0; i < in.thread_count; ++i) {
        const uint64_t sp = in.threads[i].sp;
        if (sp < m.lo || sp >= m.hi)
            continue;
        const uint64_t live = sp - kRedZone < m.lo ? m.lo : sp - kRedZone;
        if (!found || live < *lo) {
            *lo = live;
            *tid = in.threads[i].tid;
        }
        found = true;
    }
    return found;
}

}  // namespace

ThreadLayout find_thread_layout() {
    ThreadLayout layout;
    const auto *size = static_cast<const uint32_t *>(dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread"));
    // libthread_db's field descriptor: bits, count, offset.
    const auto *tid = static_cast<const uint32_t *>(dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
    if (size != nullptr && tid != nullptr && tid[0] == 32 && *size >= 64 && *size < 65536 &&
        tid[2] + 4 <= *size) {
        layout.sizeof_pthread = *size;
        layout.tid_offset = tid[2];
    }
    return layout;
}

bool collect_module_segments(Scratch<ModuleSegment> *out) {
    out->resize(0);
    if (dl_iterate_phdr(module_cb, out) != 0)
        return false;
    std::sort(out->begin(), out->end(),
              [](const ModuleSegment &a, const ModuleSegment &b) { return a.lo < b.lo; });
    return true;
}

bool collect_roots(const RootInput &in, Scratch<RootRange> *out, Scratch<SegmentRange> *segments,
                   const char **why) {
    *why = "out of memory for the roots";
    Scratch<Mapping> maps;
    if (!read_maps(&maps)) {
        *why = maps.capacity() == 0 ? "/proc/self/maps cannot be read" : "out of memory for /proc/self/maps";
        return false;
    }
    Scratch<RootRange> cand;
    Scratch<Span> excl;
    segments->resize(0);
    for (const Mapping &m : maps) {
        if (!(m.flags & kRead) || (m.flags & (kPseudo | kDevice)))
            continue;
        const bool file = (m.flags & kFile) && !(m.flags & kDevZero);
        if (file) {
            // A file mapping is read only where a module's segment lies:
            // past the end of some other file, a read would raise SIGBUS.
            uint64_t at = m.lo;
            for (size_t i = 0; i < in.module_count && at < m.hi; ++i) {
                const uint64_t lo = std::max(at, in.modules[i].lo), hi = std::min(m.hi, in.modules[i].hi);
                if (lo >= hi)
                    continue;
                if ((at < lo && !segments->push(SegmentRange{at, lo, true, m.exec(), false})) ||
                    !segments->push(SegmentRange{lo, hi, true, m.exec(), true}))
                    return false;
                if ((m.flags & kWrite) && in.modules[i].writable &&
                    !cand.push(RootRange{lo, hi, RootKind::kData, 0}))
                    return false;
                at = hi;
            }
            if (at < m.hi && !segments->push(SegmentRange{at, m.hi, true, m.exec(), false}))
                return false;
            continue;
        }
        if (!segments->push(SegmentRange{m.lo, m.hi, false, m.exec(), true}))
            return false;
        if (!(m.flags & kWrite) || (m.flags & kBrkHeap))
            continue;
        uint64_t live = 0;
        uint32_t tid = 0;
        if (stack_in(m, in, &live, &tid)) {
            if (!cand.push(RootRange{live, m.hi, RootKind::kStack, tid}))
                return false;
            continue;
        }
        if (dead_thread_stack(m, in))
            continue;
        if (!add_arena_heaps(m, &excl))
            return false;
        bool module = false;
        for (size_t i = 0; i < in.module_count && !module; ++i)
            module = in.modules[i].lo < m.hi && m.lo < in.modules[i].hi;
        if (!cand.push(RootRange{m.lo, m.hi, module ? RootKind::kData : RootKind::kMapping, 0}))
            return false;
    }
    bool ok = true;
    for_each_region([&](uint64_t start, uint64_t size, uint32_t) {
        ok = ok && excl.push(Span{start, start + size});
    });
    if (!ok)
        return false;
    normalize(&excl);
    // Overlaps between candidates (a module segment that shares a mapping
    // with another) are cut by sorting and trimming.
    std::sort(cand.begin(), cand.end(), [](const RootRange &a, const RootRange &b) { return a.lo < b.lo; });
    size_t n = 0;
    for (size_t i = 0; i < cand.size(); ++i) {
        RootRange r = cand[i];
        if (n > 0 && r.lo < cand[n - 1].hi)
            r.lo = cand[n - 1].hi;
        if (r.lo < r.hi)
            cand[n++] = r;
    }
    cand.resize(n);

    out->resize(0);
    if (!subtract(cand, excl.data(), excl.size(), out))
        return false;

    for (unsigned i = 0; i < in.thread_count; ++i) {
        const uint64_t lo = reinterpret_cast<uint64_t>(in.threads[i].regs);
        if (kRegisterWords != 0 &&
            !out->push(RootRange{lo, lo + kRegisterWords * 8, RootKind::kRegisters, in.threads[i].tid}))
            return false;
    }
    if (in.caller.reg_count != 0) {
        const uint64_t lo = reinterpret_cast<uint64_t>(in.caller.regs);
        if (!out->push(RootRange{lo, lo + in.caller.reg_count * 8, RootKind::kRegisters, in.caller.tid}))
            return false;
    }
    std::sort(out->begin(), out->end(), [](const RootRange &a, const RootRange &b) { return a.lo < b.lo; });
    *why = "";
    return true;
}

}  // namespace memleak::report
