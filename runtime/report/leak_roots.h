// The roots of the exit scan, found in process: what a leak check must
// take as live memory, and what it must not.
//
// Roots: each thread's general-purpose registers and its live stack (from
// the stack pointer less the 128-byte red zone to the top of the stack's
// mapping, where glibc also keeps the thread's static TLS and its DTV
// pointer, through which dynamic TLS blocks are reached); the writable
// data and bss of the program and of every loaded library; the program's
// own writable anonymous mappings. Never roots: the runtime's own regions
// (table/regions.h), glibc's heap (the brk heap and the heaps of the other
// arenas, whose free chunks keep stale pointers), the live blocks
// themselves (they are scanned as blocks, when reached), the dead part of
// each stack, and the stacks of exited threads glibc keeps for reuse.
//
// Collected while every other thread is stopped (or none exists): nothing
// here takes a lock the program could hold or calls malloc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memleak/scan.h"
#include "report/scratch.h"
#include "report/stop_world.h"

namespace memleak::report {

// The scanner's root kinds (memleak/scan.h).
enum class RootKind : uint32_t {
    kStack = MEMLEAK_SCAN_ROOT_STACK,
    kRegisters = MEMLEAK_SCAN_ROOT_REGISTERS,
    kData = MEMLEAK_SCAN_ROOT_DATA,
    kMapping = MEMLEAK_SCAN_ROOT_MAPPING,
};

struct RootRange {
    uint64_t lo, hi;  // [lo, hi), readable in this process
    RootKind kind;
    uint32_t tid;  // kStack, kRegisters: the thread
};

struct Span {
    uint64_t lo, hi;
};

// Memory the scan may read: every readable mapping, and whether it is
// backed by a file or executable (the multiple-inheritance heuristic asks).
// `readable` is false where reading could fault (a file mapping that is no
// module's segment may end before its mapping does).
struct SegmentRange {
    uint64_t lo, hi;
    bool file, exec, readable;
};

struct ModuleSegment {
    uint64_t lo, hi;  // page-rounded PT_LOAD extent
    bool writable;
};

// The calling thread's part: its stack from `sp` up is live (the frames of
// exit() and of whatever called it), and `regs` holds its callee-saved
// registers as they were on entry to the report.
struct CallerState {
    uint64_t sp = 0;
    uint64_t regs[12] = {};
    unsigned reg_count = 0;
    uint32_t tid = 0;
};

// What glibc tells libthread_db about struct pthread; looked up before the
// threads are stopped (dlsym is not safe while another thread is held).
struct ThreadLayout {
    uint32_t sizeof_pthread = 0;
    uint32_t tid_offset = 0;
    bool known() const { return sizeof_pthread != 0; }
};
ThreadLayout find_thread_layout();

// The PT_LOAD segments of every loaded module. Call with the loader's lock
// held (from inside dl_iterate_phdr) so the list cannot change before the
// scan is over.
bool collect_module_segments(Scratch<ModuleSegment> *out);

struct RootInput {
    const StoppedThread *threads = nullptr;  // every other thread, stopped
    unsigned thread_count = 0;
    CallerState caller;
    ThreadLayout layout;
    const ModuleSegment *modules = nullptr;  // from collect_module_segments
    size_t module_count = 0;
};

// Fills `roots` (sorted, disjoint; registers last, in their own copies)
// and `segments` (sorted, disjoint). Words of live blocks inside a root
// are the scanner's to skip. False when /proc/self/maps cannot be read or
// memory runs out (`why` says which).
bool collect_roots(const RootInput &in, Scratch<RootRange> *roots, Scratch<SegmentRange> *segments,
                   const char **why);

}  // namespace memleak::report
