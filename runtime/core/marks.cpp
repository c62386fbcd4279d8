#include "core/marks.h"

#include "core/export.h"
#include "core/tracker.h"
#include "memleak/abi.h"
#include "memleak/memleak.h"

namespace memleak {

namespace {

constexpr uint32_t kMarkCapacity = 256;
memleak_mark_t g_marks[kMarkCapacity];
memleak_introspect_t *g_mark_root;

void write_mark(memleak_mark_t *m, const char *name, uint64_t seq, uint32_t ticks) {
    __atomic_store_n(&m->state, MEMLEAK_MARK_WRITING, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    uint32_t i = 0;
    for (; i + 1 < MEMLEAK_MARK_NAME_SIZE && name[i]; ++i)
        m->name[i] = name[i];
    for (; i < MEMLEAK_MARK_NAME_SIZE; ++i)
        m->name[i] = '\0';
    m->seq = seq;
    m->ticks = ticks;
    __atomic_store_n(&m->state, MEMLEAK_MARK_VALID, __ATOMIC_RELEASE);
}

bool same_name(const memleak_mark_t &m, const char *name) {
    for (uint32_t i = 0; i + 1 < MEMLEAK_MARK_NAME_SIZE; ++i) {
        if (m.name[i] != name[i])
            return false;
        if (name[i] == '\0')
            return true;
    }
    return true;  // both cut at the same length
}

}  // namespace

void init_marks(memleak_introspect_t *root) {
    g_mark_root = root;
    root->mark_capacity = kMarkCapacity;
    __atomic_store_n(&root->marks, reinterpret_cast<uint64_t>(g_marks), __ATOMIC_RELEASE);
}

uint64_t set_mark(const char *name) {
    if (!name || !g_mark_root)
        return 0;
    const uint64_t seq = tracker::last_seq();
    const uint32_t ticks = tracker::now_ticks();
    // Marking a name again moves its mark, as gdb's `memleak mark` does, so
    // a program that marks the same phase in a loop never fills the table.
    const uint32_t used = __atomic_load_n(&g_mark_root->mark_count, __ATOMIC_ACQUIRE);
    for (uint32_t i = used < kMarkCapacity ? used : kMarkCapacity; i-- > 0;) {
        if (__atomic_load_n(&g_marks[i].state, __ATOMIC_ACQUIRE) == MEMLEAK_MARK_VALID &&
            same_name(g_marks[i], name)) {
            write_mark(&g_marks[i], name, seq, ticks);
            return seq;
        }
    }
    uint32_t slot = used;
    while (slot < kMarkCapacity) {
        if (__atomic_compare_exchange_n(&g_mark_root->mark_count, &slot, slot + 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            write_mark(&g_marks[slot], name, seq, ticks);
            return seq;
        }
    }
    return 0;
}

}  // namespace memleak

extern "C" MEMLEAK_EXPORT uint64_t memleak_mark(const char *name) { return memleak::set_mark(name); }
