#include "unwind/rule_cache.h"

#include "table/futex_lock.h"
#include "table/internal_alloc.h"
#include "unwind/eh_frame.h"

namespace memleak::unwind {

RuleTable *g_rule_table;

namespace {

uint32_t g_lock;

// 4096 rules (64 KiB) hold every return address of a large program's hot
// paths; 2^22 is far past any real program and bounds the memory spent.
constexpr uint64_t kInitialCapacity = 4096;
constexpr uint64_t kMaxCapacity = UINT64_C(1) << 22;

size_t table_bytes(uint64_t capacity) { return sizeof(RuleTable) + (capacity - 1) * sizeof(RuleEntry); }

void put(RuleTable *t, uint64_t pc, uint64_t rule) {
    for (uint64_t i = rule_slot(pc, t->mask);; i = (i + 1) & t->mask) {
        RuleEntry &e = t->entries[i];
        const uint64_t key = __atomic_load_n(&e.pc, __ATOMIC_RELAXED);
        if (key == pc) {
            __atomic_store_n(&e.rule, rule, __ATOMIC_RELEASE);
            return;
        }
        if (key == 0) {
            __atomic_store_n(&e.rule, rule, __ATOMIC_RELEASE);
            __atomic_store_n(&e.pc, pc, __ATOMIC_RELEASE);
            ++t->used;
            return;
        }
    }
}

// A table with room for one more rule, or nullptr when none can be had.
RuleTable *room_for_one() {
    RuleTable *old = g_rule_table;
    const uint64_t capacity = old ? old->mask + 1 : 0;
    if (old && (old->used + 1) * 2 <= capacity)
        return old;
    const uint64_t grown = old ? capacity * 2 : kInitialCapacity;
    if (grown > kMaxCapacity)
        return nullptr;
    auto *t = static_cast<RuleTable *>(map_pages(table_bytes(grown), MEMLEAK_REGION_UNWIND));
    if (!t)
        return nullptr;
    t->mask = grown - 1;
    if (old)
        for (uint64_t i = 0; i < capacity; ++i)
            if (old->entries[i].pc)
                put(t, old->entries[i].pc, old->entries[i].rule);
    __atomic_store_n(&g_rule_table, t, __ATOMIC_RELEASE);
    return t;
}

}  // namespace

uint64_t learn_rule(uint64_t pc) {
    const uint64_t rule = rule_for_return_address(pc);
    FutexGuard guard(&g_lock);
    if (RuleTable *t = room_for_one())
        put(t, pc, rule);
    return rule;
}

void forget_rules() {
    FutexGuard guard(&g_lock);
    RuleTable *t = g_rule_table;
    if (!t)
        return;
    for (uint64_t i = 0; i <= t->mask; ++i)
        __atomic_store_n(&t->entries[i].rule, static_cast<uint64_t>(kRuleNone), __ATOMIC_RELEASE);
    for (uint64_t i = 0; i <= t->mask; ++i)
        __atomic_store_n(&t->entries[i].pc, uint64_t{0}, __ATOMIC_RELEASE);
    t->used = 0;
}

void lock_rules() { futex_lock(&g_lock); }
void unlock_rules() { futex_unlock(&g_lock); }
void reset_rules_lock() { futex_reset(&g_lock); }

}  // namespace memleak::unwind
