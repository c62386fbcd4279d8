// How to step from a frame to its caller on x86-64, reduced from the
// .eh_frame rules for one return address to what a backtrace needs: where
// the CFA is, and where the return address and the caller's %rbp were
// saved. Packed in one word so that a cache entry is replaced with a single
// store and a reader never sees half of one rule and half of another.
//
//   bits 0-1   kind
//   bit  2     the CFA is %rbp + offset (else %rsp + offset)
//   bit  3     the caller's %rbp is saved at CFA + rbp offset (else unchanged)
//   bits 8-39  CFA offset, signed
//   bits 40-51 %rbp save offset from the CFA, in 8-byte words, signed
//   bits 52-63 return address offset from the CFA, in 8-byte words, signed
#pragma once

#include <cstdint>

namespace memleak::unwind {

enum RuleKind : uint64_t {
    kRuleNone = 0,         // not known yet (or forgotten after a dlclose)
    kRuleStep = 1,         // the fields below say how to reach the caller
    kRuleEnd = 2,          // the outermost frame: the return address is undefined
    kRuleUnsupported = 3,  // no FDE, or rules this decoder does not model
};

constexpr uint64_t kRuleCfaRbp = 1u << 2;
constexpr uint64_t kRuleRbpSaved = 1u << 3;

struct StepRule {
    bool cfa_rbp;
    int32_t cfa_offset;
    bool rbp_saved;
    int32_t rbp_offset;  // bytes from the CFA
    int32_t ra_offset;   // bytes from the CFA
};

inline RuleKind rule_kind(uint64_t word) { return static_cast<RuleKind>(word & 3); }

// Offsets that do not fit (or are not multiples of 8) make the frame
// kRuleUnsupported rather than a wrong step.
inline uint64_t pack_step(const StepRule &r) {
    const bool fits = r.rbp_offset % 8 == 0 && r.ra_offset % 8 == 0 && r.rbp_offset / 8 >= -2048 &&
                      r.rbp_offset / 8 < 2048 && r.ra_offset / 8 >= -2048 && r.ra_offset / 8 < 2048;
    if (!fits)
        return kRuleUnsupported;
    uint64_t w = kRuleStep;
    if (r.cfa_rbp)
        w |= kRuleCfaRbp;
    if (r.rbp_saved)
        w |= kRuleRbpSaved;
    w |= static_cast<uint64_t>(static_cast<uint32_t>(r.cfa_offset)) << 8;
    w |= (static_cast<uint64_t>(r.rbp_offset / 8) & 0xfff) << 40;
    w |= (static_cast<uint64_t>(r.ra_offset / 8) & 0xfff) << 52;
    return w;
}

inline int64_t rule_cfa_offset(uint64_t w) { return static_cast<int32_t>(w >> 8); }
inline int64_t rule_rbp_offset(uint64_t w) { return (static_cast<int64_t>(w << 12) >> 52) * 8; }
inline int64_t rule_ra_offset(uint64_t w) { return (static_cast<int64_t>(w) >> 52) * 8; }

inline StepRule unpack_step(uint64_t w) {
    return StepRule{(w & kRuleCfaRbp) != 0, static_cast<int32_t>(rule_cfa_offset(w)),
                    (w & kRuleRbpSaved) != 0, static_cast<int32_t>(rule_rbp_offset(w)),
                    static_cast<int32_t>(rule_ra_offset(w))};
}

}  // namespace memleak::unwind
