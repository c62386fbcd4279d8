// Reading the step rule for one return address out of the loaded modules'
// .eh_frame, the unwind tables every x86-64 object carries for C++
// exceptions. Only what a backtrace needs is modelled: the CFA as %rsp or
// %rbp plus an offset, and the return address and %rbp as "saved at CFA +
// n", "unchanged" or "undefined". Anything else (DWARF expressions, signal
// frames, other CFA registers) gives kRuleUnsupported, and the caller
// unwinds that stack with libunwind instead.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memleak::unwind {

// DWARF register numbers of x86-64 (System V psABI, figure 3.36).
constexpr unsigned kDwarfRbp = 6;
constexpr unsigned kDwarfRsp = 7;
constexpr unsigned kDwarfReturnAddress = 16;

// The rule word (step_rule.h) for the frame whose return address, or
// whose pc for the innermost frame, is `pc`: its rules are those of the
// call instruction, at pc - 1. Finds the module with _dl_find_object and
// the FDE with the module's .eh_frame_hdr search table. Never allocates.
uint64_t rule_for_return_address(uintptr_t pc);

// True when the loader has unloaded a module since the previous call
// (the first call sets the count). glibc unloads some modules itself
// (iconv's converters) without calling dlclose.
bool modules_unloaded();

// The rule word for `target` from the FDE at `fde` (the length field's
// address), whose CIE it finds through the FDE's CIE pointer. `datarel_base`
// is the base of DW_EH_PE_datarel pointers (the .eh_frame_hdr's address).
// Reads nothing outside the FDE's and the CIE's declared lengths.
uint64_t rule_from_fde(const uint8_t *fde, uintptr_t target, uintptr_t datarel_base);

// The FDE that may cover `target` (the last one starting at or before it)
// in the binary search table of an .eh_frame_hdr of `size` bytes, or
// nullptr.
const uint8_t *find_fde(const uint8_t *eh_frame_hdr, size_t size, uintptr_t target);

}  // namespace memleak::unwind
