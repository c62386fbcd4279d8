// In-process symbolization of return addresses with elfutils (libdwfl/libdw):
// function, file:line and the chain of inlined frames behind one address.
// elfutils allocates with malloc; callers hold the runtime's re-entrancy
// guard so those blocks go to the real allocator untracked.
#pragma once

#include <cstddef>
#include <cstdint>

#include "report/scratch.h"

struct Dwfl;
struct Dwfl_Module;

namespace memleak::report {

// One frame as shown to the user. Several frames share a pc when calls were
// inlined: the innermost comes first, each `inlined` one was expanded into
// the next. Strings are valid only during the callback.
struct Frame {
    uint64_t pc;               // the return address as recorded
    const char *function;      // demangled when possible, cleaned (names.h); null: unknown
    const char *raw_function;  // demangled, as the demangler or the DWARF spells it
    const char *file;          // null: no line information
    unsigned line;
    const char *object;  // the ELF object holding pc; null: not mapped
    uint64_t offset;     // pc - the object's load bias (what addr2line takes)
    bool inlined;
};

using FrameFn = bool (*)(const Frame &frame, void *ctx);  // false: stop

class Symbolizer {
public:
    Symbolizer() = default;
    ~Symbolizer();
    Symbolizer(const Symbolizer &) = delete;
    Symbolizer &operator=(const Symbolizer &) = delete;

    // Reports the modules of the current process. Without it (or when it
    // fails) every frame is shown as a bare address. `ask_debuginfod`: debug
    // info not on this machine is asked of DEBUGINFOD_URLS' servers.
    bool open(bool ask_debuginfod = false);

    // Calls `fn` for each frame behind return address `pc`, innermost first.
    // Returns false if `fn` asked to stop.
    bool frames(uint64_t pc, FrameFn fn, void *ctx);

    // True if `pc` returns into the global operator new or new[] (any
    // variant): the allocation's real call site is the frame after it.
    bool in_operator_new(uint64_t pc);

private:
    // A compile unit's address range, for modules without .debug_aranges
    // (clang emits none), where elfutils cannot map an address to its CU.
    struct CuRange {
        uint64_t start;  // as in the DWARF: run-time address minus the module's bias
        uint64_t end;
        uint64_t cu_offset;
    };

    const char *demangle(const char *name);
    // Sets frame->raw_function to `name` and frame->function to its clean
    // form, for a lambda's call operator with where it was written (`caller`:
    // the function it was inlined into, null when it was not).
    void name_frame(Frame *frame, const char *name, const char *caller = nullptr);
    // The .debug_info offset of the CU whose own ranges hold `addr` (an
    // address as in the DWARF); false if none does.
    bool find_cu(Dwfl_Module *mod, uint64_t addr, uint64_t *cu_offset);
    struct Indexed {
        Dwfl_Module *module;
        size_t first;  // its ranges are cu_ranges_[first, first + count)
        size_t count;
    };
    const Indexed *index_cus(Dwfl_Module *mod);

    Dwfl *dwfl_ = nullptr;
    char *(*cxa_demangle_)(const char *, char *, size_t *, int *) = nullptr;
    char *demangled_ = nullptr;   // from __cxa_demangle, released on the next call
    char cleaned_[4096];          // the last frame's clean name
    Scratch<CuRange> cu_ranges_;  // one run per module, sorted by start
    Scratch<Indexed> indexed_;
};

}  // namespace memleak::report
