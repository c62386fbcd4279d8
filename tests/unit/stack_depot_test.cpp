#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <memory>
#include <thread>
#include <vector>

#include "table/stack_depot.h"

namespace memleak {
namespace {

struct DepotFixture : ::testing::Test {
    std::unique_ptr<memleak_introspect_t> root = std::make_unique<memleak_introspect_t>();
    std::unique_ptr<StackDepot> depot = std::make_unique<StackDepot>();
    void SetUp() override { depot->init(root.get()); }
};

std::vector<uint64_t> stack_for(uint64_t n, uint32_t depth) {
    std::vector<uint64_t> pcs(depth);
    for (uint32_t i = 0; i < depth; ++i)
        pcs[i] = 0x400000 + n * 0x1000 + i * 8;
    return pcs;
}

// Decodes an id exactly as abi.h tells a reader to, from the root alone.
const memleak_stack_t *decode(const memleak_introspect_t &root, uint32_t id) {
    const uint64_t words_per_chunk = root.stack_chunk_size / 8;
    const uint64_t chunk = (id - 1) / words_per_chunk;
    const uint64_t word = (id - 1) % words_per_chunk;
    if (chunk >= root.stack_chunk_count)
        return nullptr;
    const auto *dir = reinterpret_cast<const uint64_t *>(root.stack_chunks);
    return reinterpret_cast<const memleak_stack_t *>(dir[chunk] + word * 8);
}

TEST_F(DepotFixture, IdenticalStacksAreInternedOnce) {
    auto pcs = stack_for(1, 12);
    const uint32_t a = depot->intern(pcs.data(), 12, 0);
    const uint32_t b = depot->intern(pcs.data(), 12, 0);
    EXPECT_NE(a, 0u);
    EXPECT_EQ(a, b);
    EXPECT_EQ(root->stack_count, 1u);
}

TEST_F(DepotFixture, DistinctStacksGetDistinctIds) {
    auto p1 = stack_for(1, 12);
    auto p2 = stack_for(2, 12);
    const uint32_t a = depot->intern(p1.data(), 12, 0);
    const uint32_t b = depot->intern(p2.data(), 12, 0);
    const uint32_t c = depot->intern(p1.data(), 11, 0);  // a prefix is another stack
    const uint32_t d = depot->intern(p1.data(), 12, MEMLEAK_STACK_TRUNCATED);
    EXPECT_NE(a, b);
    EXPECT_NE(a, c);
    EXPECT_NE(a, d);
    EXPECT_NE(b, c);
    EXPECT_EQ(root->stack_count, 4u);
    const memleak_stack_t *e = decode(*root, d);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->flags, MEMLEAK_STACK_TRUNCATED);
}

TEST_F(DepotFixture, IdsDecodeThroughTheAbiAcrossChunks) {
    // 10000 stacks of 32 frames need 2.6 MB: three depot chunks.
    constexpr uint32_t kStacks = 10000, kDepth = 32;
    std::vector<uint32_t> ids;
    for (uint32_t n = 0; n < kStacks; ++n) {
        auto pcs = stack_for(n, kDepth);
        ids.push_back(depot->intern(pcs.data(), kDepth, 0));
        ASSERT_NE(ids.back(), 0u);
    }
    EXPECT_EQ(root->stack_chunk_count, 3u);
    EXPECT_EQ(root->stack_count, kStacks);
    for (uint32_t n = 0; n < kStacks; ++n) {
        const memleak_stack_t *e = decode(*root, ids[n]);
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->depth, kDepth);
        const auto *pcs = reinterpret_cast<const uint64_t *>(e + 1);
        auto want = stack_for(n, kDepth);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), pcs)) << "stack " << n;
        ASSERT_EQ(e->hash, StackDepot::hash_stack(want.data(), kDepth, 0));
        ASSERT_EQ(depot->find(ids[n]), e);
    }
}

TEST_F(DepotFixture, LookupOfAKnownStackTakesNoLock) {
    auto pcs = stack_for(5, 20);
    const uint32_t id = depot->intern(pcs.data(), 20, 0);
    depot->lock();
    uint32_t again = 0;
    // If the lookup took the lock this thread would wait forever (and the
    // test time out).
    std::thread t([&] { again = depot->intern(pcs.data(), 20, 0); });
    t.join();
    depot->unlock();
    EXPECT_EQ(again, id);
}

TEST_F(DepotFixture, ThreadsInterningTheSameStacksAgreeOnIds) {
    constexpr uint32_t kStacks = 20000, kThreads = 4;
    std::vector<std::vector<uint32_t>> ids(kThreads, std::vector<uint32_t>(kStacks));
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            // Each thread walks the stacks in its own order (multipliers
            // coprime with kStacks) so inserts race with lookups and with
            // table growth.
            static const uint32_t kMultiplier[kThreads] = {1, 3, 7, 9};
            for (uint32_t i = 0; i < kStacks; ++i) {
                const uint32_t n = (i * kMultiplier[t] + t * 7919) % kStacks;
                auto pcs = stack_for(n, 8 + n % 16);
                ids[t][n] = depot->intern(pcs.data(), 8 + n % 16, 0);
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(root->stack_count, kStacks);
    for (uint32_t n = 0; n < kStacks; ++n) {
        ASSERT_NE(ids[0][n], 0u);
        for (uint32_t t = 1; t < kThreads; ++t)
            ASSERT_EQ(ids[t][n], ids[0][n]) << "stack " << n;
    }
}

}  // namespace
}  // namespace memleak

namespace memleak {
namespace {

// With the address space capped, the depot runs out of chunks: intern()
// returns 0 for new stacks and keeps serving the ones it holds. Run in a
// child process so the cap does not touch the test runner.
TEST(StackDepotOutOfMemory, NewStacksGetIdZeroOldOnesStillResolve) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto root = std::make_unique<memleak_introspect_t>();
        auto depot = std::make_unique<StackDepot>();
        depot->init(root.get());
        auto first = stack_for(0, 30);
        const uint32_t first_id = depot->intern(first.data(), 30, 0);
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%lu", &pages) != 1)
            _exit(10);
        fclose(f);
        struct rlimit lim = {pages * 4096ul + (4ul << 20), RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(11);
        std::vector<uint64_t> pcs(30);
        uint32_t n = 1, id = 1;
        for (; n < 2000000 && id != 0; ++n) {
            for (uint32_t i = 0; i < 30; ++i)
                pcs[i] = 0x400000 + n * 0x1000 + i * 8;
            id = depot->intern(pcs.data(), 30, 0);
        }
        if (id != 0)
            _exit(12);  // never ran out
        if (depot->intern(first.data(), 30, 0) != first_id)
            _exit(13);
        const memleak_stack_t *e = decode(*root, first_id);
        if (!e || e->depth != 30 || memcmp(e + 1, first.data(), 30 * 8) != 0)
            _exit(14);
        if (root->stack_count != n - 1)
            _exit(15);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace memleak
