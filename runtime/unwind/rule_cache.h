// The process-wide cache of step rules, keyed by return address. Reads are
// lock-free. A writer (under one lock) stores an entry's rule before its
// address, and empties an entry by clearing its rule before its address;
// a reader loads the address, the rule, then the address again, and takes
// the rule only if the address held still, so it never pairs an address
// with a rule stored for another. A table that fills up is replaced by one
// twice its size; the old one stays mapped, since a reader may still be
// walking it.
#pragma once

#include <cstdint>

#include "unwind/step_rule.h"

namespace memleak::unwind {

struct RuleEntry {
    uint64_t pc;  // 0: free
    uint64_t rule;
};

struct RuleTable {
    uint64_t mask;  // capacity - 1; the table is at most half full
    uint64_t used;
    RuleEntry entries[1];  // `mask + 1` of them
};

extern RuleTable *g_rule_table;

inline uint64_t rule_slot(uint64_t pc, uint64_t mask) {
    return ((pc * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & mask;
}

// The cached rule word for `pc`, or kRuleNone.
inline uint64_t cached_rule(uint64_t pc) {
    const RuleTable *t = __atomic_load_n(&g_rule_table, __ATOMIC_ACQUIRE);
    if (!t)
        return kRuleNone;
    for (uint64_t i = rule_slot(pc, t->mask);; i = (i + 1) & t->mask) {
        const uint64_t key = __atomic_load_n(&t->entries[i].pc, __ATOMIC_ACQUIRE);
        if (key == pc) {
            const uint64_t rule = __atomic_load_n(&t->entries[i].rule, __ATOMIC_ACQUIRE);
            return __atomic_load_n(&t->entries[i].pc, __ATOMIC_RELAXED) == pc ? rule : kRuleNone;
        }
        if (key == 0)
            return kRuleNone;
    }
}

// Reads the rule for `pc` from .eh_frame and caches it (unless the cache
// cannot grow: then the next lookup reads it again).
uint64_t learn_rule(uint64_t pc);

// Empties the cache: after a module is unloaded, an address may come to
// hold other code.
void forget_rules();

// Fork: the forking thread holds the writers' lock across fork().
void lock_rules();
void unlock_rules();
void reset_rules_lock();

}  // namespace memleak::unwind
