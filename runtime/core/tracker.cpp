#include "core/tracker.h"

#include <time.h>
#include <unistd.h>

#include "core/abi_export.h"
#include "core/marks.h"
#include "core/options.h"
#include "core/reentry_guard.h"
#include "table/regions.h"
#include "table/stack_depot.h"

namespace memleak {

__thread ThreadState t_thread_state __attribute__((tls_model("initial-exec")));

namespace tracker {

bool g_recording;

namespace {

// Everything below is zero-initialized static storage with no constructor:
// hooks may run before this library's C++ initializers would.
AllocTable g_table;
StackDepot g_depot;
memleak_introspect_t *g_root;
uint32_t g_depth;
clockid_t g_clock;
constexpr uint64_t kTickNs = 10 * 1000 * 1000;

uint64_t clock_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void count(uint64_t *counter) { __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED); }

// Out of memory for its bookkeeping, the runtime stops recording new
// allocations for good rather than keep a table with holes in it: what it
// holds stays exact (frees still take records out), every later
// allocation counts in dropped_records, and the flags say so.
bool g_stopped;

void stop_recording() {
    if (__atomic_exchange_n(&g_stopped, true, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&g_root->flags, MEMLEAK_FLAG_DISABLED, __ATOMIC_RELEASE);
}

}  // namespace

uint32_t now_ticks() {
    const uint64_t now = clock_ns(g_clock);
    const uint64_t start = g_root->start_monotonic_ns;
    return now > start ? static_cast<uint32_t>((now - start) / kTickNs) : 0;
}

uint64_t last_seq() { return __atomic_load_n(&g_root->seq, __ATOMIC_RELAXED); }

void start() {
    g_root = &memleak_introspect;
    load_options();
    g_depth = options().depth;

    struct timespec res;
    g_clock = CLOCK_MONOTONIC;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 &&
        static_cast<uint64_t>(res.tv_nsec) <= kTickNs)
        g_clock = CLOCK_MONOTONIC_COARSE;
    g_root->start_realtime_ns = clock_ns(CLOCK_REALTIME);
    g_root->start_monotonic_ns = clock_ns(CLOCK_MONOTONIC);
    g_root->tick_ns = kTickNs;
    g_root->pid = getpid();

    publish_layout(g_root);
    g_table.track_global_bytes(&g_root->live_bytes, &g_root->peak_bytes);
    g_root->shards = reinterpret_cast<uint64_t>(g_table.shards());
    g_root->shard_count = AllocTable::kShardCount;
    g_root->records_per_chunk = AllocTable::kRecordsPerChunk;
    g_root->max_chunks_per_shard = AllocTable::kMaxChunksPerShard;
    g_root->max_depth = g_depth;
    g_depot.init(g_root);
    init_marks(g_root);
    publish_region_layout(g_root);
}

void begin_recording() {
    __atomic_store_n(&g_root->flags, MEMLEAK_FLAG_RECORDING, __ATOMIC_RELAXED);
    __atomic_store_n(&g_root->magic, MEMLEAK_ABI_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&g_recording, true, __ATOMIC_RELEASE);  // pairs with recording()
}

uint32_t prepare_alloc(void *p) {
    // The insert's first cache misses, started now, end during the unwind.
    g_table.prefetch(reinterpret_cast<uint64_t>(p));
    return g_depth;
}

uint32_t record_alloc(void *p, size_t size, const uint64_t *pcs, uint32_t depth, bool truncated) {
    if (__builtin_expect(__atomic_load_n(&g_stopped, __ATOMIC_RELAXED), 0)) {
        count(&g_root->dropped_records);
        return 0;
    }
    uint32_t stack_id = 0;
    if (depth) {
        stack_id = g_depot.intern(pcs, depth, truncated ? MEMLEAK_STACK_TRUNCATED : 0);
        if (!stack_id) {
            count(&g_root->dropped_stacks);
            stop_recording();
        }
    }
    RecordData rec;
    rec.address = reinterpret_cast<uint64_t>(p);
    rec.size = size;
    rec.seq = __atomic_add_fetch(&g_root->seq, 1, __ATOMIC_RELAXED);
    rec.ticks = now_ticks();
    rec.tid = current_tid();
    rec.stack_id = stack_id;
    uint64_t replaced = 0;
    if (g_table.insert(rec, &replaced) == AllocTable::InsertResult::kNoMemory) {
        count(&g_root->dropped_records);
        stop_recording();
    }
    return rec.ticks;
}

void lock_for_fork() {
    g_depot.lock();
    g_table.lock_all();
}

void unlock_after_fork() {
    g_table.unlock_all();
    g_depot.unlock();
}

void reset_in_child() {
    g_table.reset_locks();
    g_depot.reset_lock();
    t_thread_state.tid = 0;
    g_root->pid = getpid();
}

void on_free(void *p) {
    RecordData rec;
    if (!g_table.remove(reinterpret_cast<uint64_t>(p), now_ticks(), &rec))
        note_untracked_free();
}

bool take(void *p, RecordData *out) {
    return g_table.remove(reinterpret_cast<uint64_t>(p), now_ticks(), out);
}

void put_back(const RecordData &rec) {
    if (!g_table.restore(rec)) {
        count(&g_root->dropped_records);
        stop_recording();
    }
}

void note_untracked_free() { count(&g_root->untracked_frees); }

void add_bootstrap_bytes(size_t n) {
    __atomic_add_fetch(&memleak_introspect.bootstrap_bytes, n, __ATOMIC_RELAXED);
}

}  // namespace tracker
}  // namespace memleak
