#include "report/symbolizer.h"

#include <dlfcn.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "report/names.h"

namespace memleak::report {
namespace {

char *g_debuginfo_path = nullptr;

// With DEBUGINFOD_URLS set, elfutils' standard search ends in a download
// that may take minutes, so a report written while the program exits looks
// only on this machine (the build-id tree where distributions install
// debug packages) unless asked to download (MEMLEAK_DEBUGINFOD=1): then
// libdw's standard search loads libdebuginfod and asks the servers for
// what it did not find here.
int find_debuginfo_here(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                        const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                        char **debuginfo_file_name) {
    const char *urls = secure_getenv("DEBUGINFOD_URLS");
    if (urls != nullptr && urls[0] != '\0')
        return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                            debuglink_crc, debuginfo_file_name);
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

const Dwfl_Callbacks kCallbacksHere = {
    dwfl_linux_proc_find_elf,
    find_debuginfo_here,
    nullptr,
    &g_debuginfo_path,
};

const Dwfl_Callbacks kCallbacksDebuginfod = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,
    &g_debuginfo_path,
};

bool is_function(Dwarf_Die *die) {
    const int tag = dwarf_tag(die);
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

// The linkage name carries namespaces and overloads, so it is preferred;
// C functions have only DW_AT_name. Both may sit on the abstract origin or
// the declaration, which dwarf_attr_integrate follows.
const char *die_name(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (name == nullptr)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (name == nullptr)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
    return name;
}

constexpr int kMaxInlineDepth = 64;

}  // namespace

Symbolizer::~Symbolizer() {
    free(demangled_);
    if (dwfl_ != nullptr)
        dwfl_end(dwfl_);
}

bool Symbolizer::open(bool ask_debuginfod) {
    // elfutils has no demangler and libstdc++ must not be a dependency of
    // the runtime; a C++ program has it loaded already, a C program has
    // nothing to demangle.
    cxa_demangle_ = reinterpret_cast<char *(*)(const char *, char *, size_t *, int *)>(
        dlsym(RTLD_DEFAULT, "__cxa_demangle"));
    dwfl_ = dwfl_begin(ask_debuginfod ? &kCallbacksDebuginfod : &kCallbacksHere);
    if (dwfl_ == nullptr)
        return false;
    dwfl_report_begin(dwfl_);
    if (dwfl_linux_proc_report(dwfl_, getpid()) != 0 || dwfl_report_end(dwfl_, nullptr, nullptr) != 0) {
        dwfl_end(dwfl_);
        dwfl_ = nullptr;
        return false;
    }
    return true;
}

const char *Symbolizer::demangle(const char *name) {
    if (name == nullptr || cxa_demangle_ == nullptr || name[0] != '_' || name[1] != 'Z')
        return name;
    free(demangled_);
    int status = -1;
    demangled_ = cxa_demangle_(name, nullptr, nullptr, &status);
    if (status != 0 || demangled_ == nullptr) {
        free(demangled_);
        demangled_ = nullptr;
        return name;
    }
    return demangled_;
}

void Symbolizer::name_frame(Frame *frame, const char *name, const char *caller) {
    frame->raw_function = name;
    frame->function = caller != nullptr && is_lambda_call(name)
                          ? lambda_name(name, caller, cleaned_, sizeof cleaned_)
                          : clean_name(name, cleaned_, sizeof cleaned_);
}

const Symbolizer::Indexed *Symbolizer::index_cus(Dwfl_Module *mod) {
    for (const Indexed &done : indexed_)
        if (done.module == mod)
            return &done;
    const size_t first = cu_ranges_.size();
    Dwarf_Addr bias = 0;
    if (Dwarf *dw = dwfl_module_getdwarf(mod, &bias)) {
        Dwarf_CU *cu = nullptr;
        Dwarf_Die cudie;
        bool room = true;
        while (room && dwarf_get_units(dw, cu, &cu, nullptr, nullptr, &cudie, nullptr) == 0) {
            Dwarf_Addr base = 0, start = 0, end = 0;
            ptrdiff_t offset = 0;
            while (room && (offset = dwarf_ranges(&cudie, offset, &base, &start, &end)) > 0)
                if (end > start)
                    room = cu_ranges_.push(CuRange{start, end, dwarf_dieoffset(&cudie)});
        }
        std::sort(cu_ranges_.begin() + first, cu_ranges_.end(),
                  [](const CuRange &a, const CuRange &b) { return a.start < b.start; });
    }
    if (!indexed_.push(Indexed{mod, first, cu_ranges_.size() - first}))
        return nullptr;
    return &indexed_[indexed_.size() - 1];
}

bool Symbolizer::find_cu(Dwfl_Module *mod, uint64_t addr, uint64_t *cu_offset) {
    const Indexed *index = index_cus(mod);
    if (index == nullptr || index->count == 0)
        return false;
    const CuRange *begin = cu_ranges_.begin() + index->first;
    const CuRange *end = begin + index->count;
    // Ranges of different CUs do not overlap: only the last one starting
    // at or before addr can hold it.
    const CuRange *after =
        std::upper_bound(begin, end, addr, [](uint64_t a, const CuRange &r) { return a < r.start; });
    if (after == begin || addr >= after[-1].end)
        return false;
    *cu_offset = after[-1].cu_offset;
    return true;
}

bool Symbolizer::in_operator_new(uint64_t pc) {
    if (dwfl_ == nullptr || pc == 0)
        return false;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl_, pc - 1);
    if (mod == nullptr)
        return false;
    GElf_Off offset = 0;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, pc - 1, &offset, &sym, nullptr, nullptr, nullptr);
    return name != nullptr && (strncmp(name, "_Znw", 4) == 0 || strncmp(name, "_Zna", 4) == 0);
}

bool Symbolizer::frames(uint64_t pc, FrameFn fn, void *ctx) {
    Frame frame{};
    frame.pc = pc;
    if (dwfl_ == nullptr || pc == 0)
        return fn(frame, ctx);

    // Every recorded pc is a return address; the call is the byte before.
    const Dwarf_Addr addr = pc - 1;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl_, addr);
    if (mod == nullptr)
        return fn(frame, ctx);

    Dwarf_Addr start = 0;
    frame.object = dwfl_module_info(mod, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    Dwarf_Addr bias = start;
    if (dwfl_module_getelf(mod, &bias) == nullptr)
        bias = start;
    frame.offset = pc - bias;

    const char *src_file = nullptr;
    int src_line = 0;
    if (Dwfl_Line *line = dwfl_module_getsrc(mod, addr))
        src_file = dwfl_lineinfo(line, nullptr, &src_line, nullptr, nullptr, nullptr);

    // elfutils finds an address's CU through .debug_aranges only; without
    // them (clang's default) the CUs' own ranges say, and the line comes
    // from that CU's line table.
    Dwarf_Addr cu_bias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &cu_bias);
    Dwarf_Die found_cu;
    uint64_t cu_offset = 0;
    if (cudie == nullptr) {
        Dwarf *dw = dwfl_module_getdwarf(mod, &cu_bias);
        if (dw != nullptr && find_cu(mod, addr - cu_bias, &cu_offset) &&
            dwarf_offdie(dw, cu_offset, &found_cu) != nullptr) {
            cudie = &found_cu;
            if (src_file == nullptr)
                if (Dwarf_Line *line = dwarf_getsrc_die(cudie, addr - cu_bias)) {
                    src_file = dwarf_linesrc(line, nullptr, nullptr);
                    if (dwarf_lineno(line, &src_line) != 0)
                        src_line = 0;
                }
        }
    }

    // The chain of scopes around the address, innermost first, through the
    // concrete inlined instances (not their abstract origins).
    Dwarf_Die *scopes = nullptr;
    int nscopes = 0;
    if (cudie != nullptr) {
        Dwarf_Die *around = nullptr;
        if (dwarf_getscopes(cudie, addr - cu_bias, &around) > 0) {
            Dwarf_Die innermost = around[0];
            nscopes = dwarf_getscopes_die(&innermost, &scopes);
        }
        free(around);
    }

    int funcs[kMaxInlineDepth];
    int nfuncs = 0;
    for (int i = 0; i < nscopes && nfuncs < kMaxInlineDepth; ++i)
        if (is_function(&scopes[i]))
            funcs[nfuncs++] = i;

    if (nfuncs == 0) {
        GElf_Off sym_offset = 0;
        GElf_Sym sym;
        name_frame(&frame,
                   demangle(dwfl_module_addrinfo(mod, addr, &sym_offset, &sym, nullptr, nullptr, nullptr)));
        frame.file = src_file;
        frame.line = src_line > 0 ? static_cast<unsigned>(src_line) : 0;
        free(scopes);
        return fn(frame, ctx);
    }

    Dwarf_Files *files = nullptr;
    Dwarf_Die cu;
    if (dwarf_diecu(&scopes[0], &cu, nullptr, nullptr) == nullptr ||
        dwarf_getsrcfiles(&cu, &files, nullptr) != 0)
        files = nullptr;

    bool go_on = true;
    for (int j = 0; j < nfuncs && go_on; ++j) {
        Dwarf_Die *die = &scopes[funcs[j]];
        frame.inlined = dwarf_tag(die) == DW_TAG_inlined_subroutine;
        // An inlined lambda's DWARF name is a bare "operator()", a string of
        // the DWARF data: it outlives the caller's demangling below.
        const char *name = demangle(die_name(die));
        const bool lambda = frame.inlined && j + 1 < nfuncs && is_lambda_call(name);
        name_frame(&frame, name, lambda ? demangle(die_name(&scopes[funcs[j + 1]])) : nullptr);
        if (j == 0) {
            frame.file = src_file;
            frame.line = src_line > 0 ? static_cast<unsigned>(src_line) : 0;
        } else {
            // Where the inner function was expanded into this one.
            Dwarf_Die *callee = &scopes[funcs[j - 1]];
            Dwarf_Attribute attr;
            Dwarf_Word value = 0;
            frame.file = nullptr;
            frame.line = 0;
            if (files != nullptr && dwarf_formudata(dwarf_attr(callee, DW_AT_call_file, &attr), &value) == 0)
                frame.file = dwarf_filesrc(files, value, nullptr, nullptr);
            if (dwarf_formudata(dwarf_attr(callee, DW_AT_call_line, &attr), &value) == 0)
                frame.line = static_cast<unsigned>(value);
        }
        go_on = fn(frame, ctx);
    }
    free(scopes);
    return go_on;
}

}  // namespace memleak::report
