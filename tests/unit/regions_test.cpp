// The region table: what a reader walking memleak_introspect finds after
// publishing, unpublishing, growth past one chunk, and racing threads.
#include "table/regions.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <thread>
#include <vector>

#include "core/abi_export.h"
#include "table/internal_alloc.h"
#include "memleak/abi.h"

namespace memleak {
namespace {

// The regions as a reader sees them through the root, and nothing else.
struct Seen {
    uint64_t start, size;
    uint32_t kind;
};

// A root the region table is published in, as the runtime's start does.
memleak_introspect_t &test_root() {
    static memleak_introspect_t root{};
    static bool published = false;
    if (!published) {
        publish_layout(&root);
        publish_region_layout(&root);
        published = true;
    }
    return root;
}

uint32_t chunk_count() { return test_root().region_chunk_count; }

std::vector<Seen> read_through_root() {
    const memleak_introspect_t &root = test_root();
    std::vector<Seen> out;
    const uint32_t count = chunk_count();
    EXPECT_LE(count, root.max_region_chunks);
    const auto *dir = reinterpret_cast<const uint64_t *>(root.region_chunks);
    for (uint32_t c = 0; c < count; ++c) {
        const char *chunk = reinterpret_cast<const char *>(dir[c]);
        for (uint32_t i = 0; i < root.regions_per_chunk; ++i) {
            const char *slot = chunk + uint64_t{i} * root.region_size;
            uint64_t start, size;
            uint32_t kind;
            memcpy(&start, slot + root.region_offsets[MEMLEAK_REGION_START], 8);
            memcpy(&size, slot + root.region_offsets[MEMLEAK_REGION_SIZE], 8);
            memcpy(&kind, slot + root.region_offsets[MEMLEAK_REGION_KIND], 4);
            if (start != 0 && size != 0)
                out.push_back({start, size, kind});
        }
    }
    return out;
}

int count_of(const std::vector<Seen> &seen, const void *p, uint64_t size, uint32_t kind) {
    int n = 0;
    for (const Seen &s : seen)
        n += s.start == reinterpret_cast<uint64_t>(p) && s.size == size && s.kind == kind;
    return n;
}

TEST(Regions, MapPagesPublishesAndUnmapUnpublishes) {
    void *p = map_pages(10000, MEMLEAK_REGION_TABLE);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(count_of(read_through_root(), p, 12288, MEMLEAK_REGION_TABLE), 1);
    unmap_pages(p, 10000);
    EXPECT_EQ(count_of(read_through_root(), p, 12288, MEMLEAK_REGION_TABLE), 0);
}

TEST(Regions, TheTableListsItsOwnChunks) {
    const auto seen = read_through_root();
    const auto *dir = reinterpret_cast<const uint64_t *>(test_root().region_chunks);
    for (uint32_t c = 0; c < chunk_count(); ++c)
        EXPECT_EQ(count_of(seen, reinterpret_cast<void *>(dir[c]), kRegionChunkBytes, MEMLEAK_REGION_REGIONS),
                  1);
}

TEST(Regions, GrowsPastOneChunkAndReusesSlots) {
    // Fake regions (never dereferenced): more than one chunk's worth.
    const uint64_t base = UINT64_C(0x7e0000000000);
    const uint32_t n = kRegionsPerChunk + 100;
    for (uint32_t i = 0; i < n; ++i)
        ASSERT_TRUE(publish_region(reinterpret_cast<void *>(base + i * 4096ull), 4096, MEMLEAK_REGION_DEPOT));
    EXPECT_GE(chunk_count(), 2u);
    auto seen = read_through_root();
    for (uint32_t i = 0; i < n; i += 97)
        EXPECT_EQ(count_of(seen, reinterpret_cast<void *>(base + i * 4096ull), 4096, MEMLEAK_REGION_DEPOT), 1)
            << i;
    const uint32_t chunks = chunk_count();
    for (uint32_t i = 0; i < n; ++i)
        unpublish_region(reinterpret_cast<void *>(base + i * 4096ull), 4096);
    seen = read_through_root();
    for (const Seen &s : seen)
        EXPECT_FALSE(s.start >= base && s.start < base + n * 4096ull);
    // Freed slots are taken again before the table grows.
    for (uint32_t i = 0; i < n; ++i)
        ASSERT_TRUE(publish_region(reinterpret_cast<void *>(base + i * 4096ull), 4096, MEMLEAK_REGION_DEPOT));
    EXPECT_EQ(chunk_count(), chunks);
    for (uint32_t i = 0; i < n; ++i)
        unpublish_region(reinterpret_cast<void *>(base + i * 4096ull), 4096);
}

TEST(Regions, UnpublishMatchesStartAndSize) {
    const uint64_t a = UINT64_C(0x7d0000000000);
    ASSERT_TRUE(publish_region(reinterpret_cast<void *>(a), 8192, MEMLEAK_REGION_TABLE));
    unpublish_region(reinterpret_cast<void *>(a), 4096);
    EXPECT_EQ(count_of(read_through_root(), reinterpret_cast<void *>(a), 8192, MEMLEAK_REGION_TABLE), 1);
    unpublish_region(reinterpret_cast<void *>(a), 8192);
    EXPECT_EQ(count_of(read_through_root(), reinterpret_cast<void *>(a), 8192, MEMLEAK_REGION_TABLE), 0);
}

TEST(Regions, ThreadsPublishingAtOnceEachGetTheirOwnSlot) {
    constexpr int kThreads = 4, kEach = 3000;
    const uint64_t base = UINT64_C(0x7c0000000000);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([=] {
            for (int i = 0; i < kEach; ++i) {
                const uint64_t a = base + (uint64_t(t) * kEach + i) * 4096;
                publish_region(reinterpret_cast<void *>(a), 4096, MEMLEAK_REGION_UNWIND);
                if (i % 3 == 0)
                    unpublish_region(reinterpret_cast<void *>(a), 4096);
            }
        });
    for (auto &t : threads)
        t.join();
    int listed = 0;
    for (const Seen &s : read_through_root())
        if (s.start >= base && s.start < base + uint64_t(kThreads) * kEach * 4096) {
            ++listed;
            EXPECT_NE((s.start - base) / 4096 % kEach % 3, 0u);
        }
    EXPECT_EQ(listed, kThreads * (kEach - kEach / 3));
    for (int i = 0; i < kThreads * kEach; ++i)
        unpublish_region(reinterpret_cast<void *>(base + uint64_t(i) * 4096), 4096);
}

TEST(Regions, ForEachRegionSeesWhatTheRootShows) {
    void *p = map_pages(4096, MEMLEAK_REGION_REPORT);
    ASSERT_NE(p, nullptr);
    int hits = 0;
    for_each_region([&](uint64_t start, uint64_t size, uint32_t kind) {
        hits += start == reinterpret_cast<uint64_t>(p) && size == 4096 && kind == MEMLEAK_REGION_REPORT;
    });
    EXPECT_EQ(hits, 1);
    unmap_pages(p, 4096);
}

}  // namespace
}  // namespace memleak
