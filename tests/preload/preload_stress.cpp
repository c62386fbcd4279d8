// Eight threads, one million allocator calls, blocks freed by other threads
// than the ones that allocated them, and a fork() from one thread while the
// others run. Afterwards, in the child and in the parent, the table holds
// exactly the blocks the test knows to be live, with their sizes.
//
// Every block the test makes has a size of the form 8k+3 and a sequence
// number above the baseline, which tells its records from the C library's.
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "introspect_walk.h"

namespace {

constexpr int kThreads = 8;
constexpr int kOpsPerThread = 1000000 / kThreads;
constexpr int kSlots = 1024;
constexpr uint32_t kRing = 1024;

const memleak_introspect_t *ix;
uint64_t g_base_seq;

struct Block {
    std::atomic<void *> ptr{nullptr};
    std::atomic<uint64_t> size{0};
};

// Blocks handed from thread i to thread (i + 1) % kThreads, which frees them.
struct Mailbox {
    std::atomic<uint32_t> head{0}, tail{0};
    Block items[kRing];
};

struct PerThread {
    Block slots[kSlots];
    Mailbox inbox;
};

PerThread g_threads[kThreads];
std::atomic<int> g_fork_status{-1};
std::atomic<uint64_t> g_allocations{0};

uint64_t pattern_size(uint64_t r) { return 8 * (1 + r % 512) + 3; }
bool is_pattern(uint64_t size) { return size % 8 == 3; }

using Known = std::vector<std::pair<uint64_t, uint64_t>>;  // address, size

// What the test knows is live: the slots, plus blocks still in a mailbox.
// A block between malloc returning and being stored, or between leaving the
// test's books and free(), is in neither (and is counted as in flight).
Known known_live() {
    Known k;
    k.reserve(kThreads * (kSlots + kRing));
    for (auto &t : g_threads) {
        for (auto &b : t.slots)
            if (void *p = b.ptr.load(std::memory_order_acquire))
                k.emplace_back(reinterpret_cast<uint64_t>(p), b.size.load(std::memory_order_relaxed));
        const uint32_t tail = t.inbox.tail.load(std::memory_order_acquire);
        const uint32_t head = t.inbox.head.load(std::memory_order_acquire);
        for (uint32_t i = tail; i != head; ++i) {
            Block &b = t.inbox.items[i % kRing];
            k.emplace_back(reinterpret_cast<uint64_t>(b.ptr.load(std::memory_order_relaxed)),
                           b.size.load(std::memory_order_relaxed));
        }
    }
    // A block being handed over sits in a slot and a mailbox for a moment.
    std::sort(k.begin(), k.end());
    k.erase(std::unique(k.begin(), k.end()), k.end());
    return k;
}

struct Collect {
    Known *records;
};

void collect_visit(const memleak_record_t *r, void *ctx) {
    auto *c = static_cast<Collect *>(ctx);
    if (ml_seq(r) > g_base_seq && is_pattern(ml_size(r)) && c->records->size() < c->records->capacity())
        c->records->emplace_back(r->address, ml_size(r));
}

// Returns the number of failures; `in_flight` is how many test blocks may be
// recorded without being in the test's books.
int check_table(const char *who, size_t in_flight) {
    const int failures_before = ml_failures;
    Known known = known_live();
    Known records;
    records.reserve(known.size() + 4096);
    Collect c{&records};
    ml_walk(ix, collect_visit, &c);
    std::sort(records.begin(), records.end());
    size_t missing = 0, wrong_size = 0;
    for (auto &[addr, size] : known) {
        auto it = std::lower_bound(records.begin(), records.end(), std::make_pair(addr, uint64_t{0}));
        if (it == records.end() || it->first != addr)
            ++missing;
        else if (it->second != size)
            ++wrong_size;
    }
    const size_t extra = records.size() - (known.size() - missing);
    if (missing || wrong_size || extra > in_flight)
        fprintf(stderr, "%s: %zu known live, %zu records; %zu missing, %zu wrong size, %zu extra\n", who,
                known.size(), records.size(), missing, wrong_size, extra);
    ML_CHECK(missing == 0);
    ML_CHECK(wrong_size == 0);
    ML_CHECK(extra <= in_flight);
    ml_check_consistent(ix);
    return ml_failures - failures_before;
}

void *allocate(std::mt19937_64 &rng, uint64_t size) {
    switch (rng() % 5) {
    case 0:
        return malloc(size);
    case 1:
        return calloc(1, size);
    case 2:
        return realloc(nullptr, size);
    case 3:
        return ::operator new(size);
    default: {
        void *p = nullptr;
        return posix_memalign(&p, 64, size) == 0 ? p : nullptr;
    }
    }
}

// The child: single-threaded from here, it checks the inherited table, then
// shows that recording goes on (new pid, its own tid).
int child_checks() {
    ml_failures = 0;
    const size_t in_flight = kThreads - 1;
    check_table("child", in_flight);
    ML_CHECK(ix->pid == getpid());
    uint64_t c0, b0, c1, b1;
    ml_totals(ix, &c0, &b0);
    void *p = malloc(8 * 7 + 3);
    memleak_record_t r;
    ML_CHECK(ml_find(ix, p, &r));
    ML_CHECK(r.tid == static_cast<uint32_t>(syscall(SYS_gettid)));
    ml_totals(ix, &c1, &b1);
    ML_CHECK(c1 == c0 + 1 && b1 == b0 + 8 * 7 + 3);
    free(p);
    ml_totals(ix, &c1, &b1);
    ML_CHECK(c1 == c0 && b1 == b0);
    return ml_failures ? 1 : 0;
}

void drain(Mailbox &box) {
    uint32_t tail = box.tail.load(std::memory_order_relaxed);
    const uint32_t head = box.head.load(std::memory_order_acquire);
    for (; tail != head; ++tail) {
        void *p = box.items[tail % kRing].ptr.load(std::memory_order_relaxed);
        // Off the books first, then freed: a fork in between sees a live
        // block the test no longer counts (in flight), never the reverse.
        box.tail.store(tail + 1, std::memory_order_release);
        free(p);
    }
}

void worker(int id) {
    std::mt19937_64 rng(1000 + id);
    PerThread &me = g_threads[id];
    Mailbox &next = g_threads[(id + 1) % kThreads].inbox;
    for (int op = 0; op < kOpsPerThread; ++op) {
        if (id == 0 && op == kOpsPerThread / 2) {
            const pid_t pid = fork();
            if (pid == 0)
                _exit(child_checks());
            int status = 0;
            waitpid(pid, &status, 0);
            g_fork_status = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
        }
        if (op % 64 == 0)
            drain(me.inbox);
        Block &b = me.slots[rng() % kSlots];
        void *p = b.ptr.load(std::memory_order_relaxed);
        if (!p) {
            const uint64_t size = pattern_size(rng());
            void *q = allocate(rng, size);
            g_allocations.fetch_add(1, std::memory_order_relaxed);
            b.size.store(size, std::memory_order_relaxed);
            b.ptr.store(q, std::memory_order_release);
            continue;
        }
        const uint64_t choice = rng() % 4;
        if (choice == 0) {
            const uint32_t head = next.head.load(std::memory_order_relaxed);
            if (head - next.tail.load(std::memory_order_acquire) < kRing) {
                Block &slot = next.items[head % kRing];
                slot.ptr.store(p, std::memory_order_relaxed);
                slot.size.store(b.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
                // In the mailbox before it leaves the slot: never in neither.
                next.head.store(head + 1, std::memory_order_release);
                b.ptr.store(nullptr, std::memory_order_release);
                continue;
            }
        }
        b.ptr.store(nullptr, std::memory_order_release);
        if (choice == 1) {
            const uint64_t size = pattern_size(rng());
            void *q = realloc(p, size);
            g_allocations.fetch_add(1, std::memory_order_relaxed);
            b.size.store(size, std::memory_order_relaxed);
            b.ptr.store(q, std::memory_order_release);
        } else {
            free(p);
        }
    }
}

}  // namespace

int main() {
    ix = ml_root();
    if (!ix)
        return 0;
    g_base_seq = ix->seq;
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back(worker, i);
    for (auto &t : threads)
        t.join();
    ML_CHECK(g_fork_status == 0);

    check_table("parent", 0);
    for (auto &t : g_threads)
        drain(t.inbox);
    check_table("parent after drain", 0);
    for (auto &t : g_threads)
        for (auto &b : t.slots)
            if (void *p = b.ptr.exchange(nullptr))
                free(p);
    check_table("parent after freeing all", 0);
    // Every allocation and realloc took a sequence number.
    ML_CHECK(ix->seq - g_base_seq >= g_allocations.load());
    ML_CHECK(g_allocations.load() > 300000);
    return ml_failures ? 1 : 0;
}
