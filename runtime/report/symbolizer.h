// In-process symbolization of return addresses with elfutils (libdwfl/libdw):
// function, file:line and the chain of inlined frames behind one address.
// elfutils allocates with malloc; callers hold the runtime's re-entrancy
// guard so those blocks go to the real allocator untracked.
#pragma once

#include <cstddef>
#include <cstdint>

struct Dwfl;

namespace memleak::report {

// One frame as shown to the user. Several frames share a pc when calls were
// inlined: the innermost comes first, each `inlined` one was expanded into
// the next. Strings are valid only during the callback.
struct Frame {
    uint64_t pc;          // the return address as recorded
    const char *function; // demangled when possible; null: unknown
    const char *file;     // null: no line information
    unsigned line;
    const char *object;   // the ELF object holding pc; null: not mapped
    uint64_t offset;      // pc - the object's load bias (what addr2line takes)
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
    // fails) every frame is shown as a bare address.
    bool open();

    // Calls `fn` for each frame behind return address `pc`, innermost first.
    // Returns false if `fn` asked to stop.
    bool frames(uint64_t pc, FrameFn fn, void *ctx);

    // True if `pc` returns into the global operator new or new[] (any
    // variant): the allocation's real call site is the frame after it.
    bool in_operator_new(uint64_t pc);

private:
    const char *demangle(const char *name);

    Dwfl *dwfl_ = nullptr;
    char *(*cxa_demangle_)(const char *, char *, size_t *, int *) = nullptr;
    char *demangled_ = nullptr;  // from __cxa_demangle, released on the next call
};

}  // namespace memleak::report
