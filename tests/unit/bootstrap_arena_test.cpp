#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "hooks/bootstrap_arena.h"

namespace memleak {
namespace {

using Arena = BootstrapArena<4096>;

TEST(BootstrapArena, ServesAlignedBlocksItOwns) {
    auto a = std::make_unique<Arena>();
    void *p = a->allocate(10, 16);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(a->owns(p));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    EXPECT_EQ(a->usable_size(p), 10u);
    for (size_t align : {32u, 64u, 256u, 1024u}) {
        void *q = a->allocate(3, align);
        ASSERT_NE(q, nullptr) << align;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % align, 0u) << align;
    }
    EXPECT_EQ(a->allocate(8, 24), nullptr);  // not a power of two
    int local = 0;
    EXPECT_FALSE(a->owns(&local));
    void *heap = malloc(8);
    EXPECT_FALSE(a->owns(heap));
    free(heap);
}

TEST(BootstrapArena, FreeOfTheNewestBlockRollsBack) {
    auto a = std::make_unique<Arena>();
    void *p = a->allocate(100, 16);
    const size_t after_p = a->used();
    void *q = a->allocate(100, 16);
    a->release(p);  // not the newest: space stays used
    EXPECT_GT(a->used(), after_p);
    a->release(q);
    EXPECT_EQ(a->used(), after_p);
    void *r = a->allocate(100, 16);
    EXPECT_EQ(r, q);
}

TEST(BootstrapArena, ExhaustionReturnsNull) {
    auto a = std::make_unique<Arena>();
    EXPECT_EQ(a->allocate(5000, 16), nullptr);
    EXPECT_EQ(a->allocate(SIZE_MAX, 16), nullptr);
    void *p = a->allocate(4000, 16);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(a->allocate(100, 16), nullptr);
}

TEST(BootstrapArena, ReallocMovesTheBlockOutWithItsContents) {
    auto a = std::make_unique<Arena>();
    auto *p = static_cast<unsigned char *>(a->allocate(40, 16));
    for (int i = 0; i < 40; ++i)
        p[i] = static_cast<unsigned char>(i + 1);
    const size_t before = a->used();
    auto *grown = static_cast<unsigned char *>(a->move_out(p, 1000, malloc));
    ASSERT_NE(grown, nullptr);
    EXPECT_FALSE(a->owns(grown));
    for (int i = 0; i < 40; ++i)
        ASSERT_EQ(grown[i], i + 1);
    EXPECT_LT(a->used(), before);  // the newest block was rolled back
    free(grown);

    auto *q = static_cast<unsigned char *>(a->allocate(40, 16));
    memset(q, 0xab, 40);
    auto *shrunk = static_cast<unsigned char *>(a->move_out(q, 8, malloc));
    ASSERT_NE(shrunk, nullptr);
    for (int i = 0; i < 8; ++i)
        ASSERT_EQ(shrunk[i], 0xab);
    free(shrunk);

    void *z = a->allocate(16, 16);
    EXPECT_EQ(a->move_out(z, 0, malloc), nullptr);  // realloc(p, 0) frees
}

}  // namespace
}  // namespace memleak
