#include "unwind/rule_cache.h"
#include "unwind/unwinder.h"

namespace memleak::unwind {

namespace {

// No real frame is this large; a CFA further up means a rule or a saved
// %rbp that does not describe this stack, and libunwind gets the stack.
constexpr uintptr_t kMaxFrameBytes = uintptr_t(64) << 20;

}  // namespace

// The frame pointer this function is made to keep gives the caller's
// return address, stack pointer and %rbp without saving any other register.
__attribute__((noinline)) int fast_backtrace(uint64_t *buf, int max) {
    const auto *fp = static_cast<const uintptr_t *>(__builtin_frame_address(0));
    uintptr_t rbp = fp[0];
    uintptr_t pc = fp[1];
    uintptr_t sp = reinterpret_cast<uintptr_t>(fp + 2);
    int n = 0;
    while (n < max) {
        buf[n++] = pc;
        uint64_t rule = cached_rule(pc);
        if (__builtin_expect(rule == kRuleNone, 0))
            rule = learn_rule(pc);
        const RuleKind kind = rule_kind(rule);
        if (kind == kRuleEnd)
            return n;
        if (kind != kRuleStep)
            return -1;
        const uintptr_t cfa = ((rule & kRuleCfaRbp) ? rbp : sp) + rule_cfa_offset(rule);
        if (cfa <= sp || (cfa & 7) || cfa - sp > kMaxFrameBytes)
            return -1;
        if (rule & kRuleRbpSaved)
            rbp = *reinterpret_cast<const uintptr_t *>(cfa + rule_rbp_offset(rule));
        pc = *reinterpret_cast<const uintptr_t *>(cfa + rule_ra_offset(rule));
        sp = cfa;
        if (pc == 0)
            return n;
    }
    return n;
}

}  // namespace memleak::unwind
