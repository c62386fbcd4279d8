// The reachability scanner on hand-built address spaces: a heap of blocks,
// a data area whose words are roots, and whatever segments a case needs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <memleak/scan.h>

namespace {

constexpr uint64_t kHeap = 0x100000;  // blocks live here
constexpr uint64_t kHeapSize = 0x8000;
constexpr uint64_t kData = kHeap + kHeapSize;  // the root area
constexpr uint64_t kDataSize = 0x1000;
constexpr uint64_t kCode = 0x400000;    // an executable file mapping
constexpr uint64_t kRodata = 0x500000;  // a read-only file mapping (vtables)

// An address space of one readable segment (heap then data), blocks in the
// heap, and the data area as one root.
struct Space {
    std::vector<uint8_t> memory = std::vector<uint8_t>(kHeapSize + kDataSize, 0);
    std::vector<memleak_scan_block_t> blocks;
    std::vector<memleak_scan_segment_t> segments;
    std::vector<memleak_scan_root_t> roots;
    uint32_t heuristics = MEMLEAK_SCAN_HEURISTICS_ALL;

    uint64_t block(uint64_t offset, uint64_t size) {
        blocks.push_back({kHeap + offset, size});
        return kHeap + offset;
    }
    void put(uint64_t addr, uint64_t value) { std::memcpy(&memory.at(addr - kHeap), &value, 8); }
    // Roots: the data area, as a DATA root.
    uint64_t root_word(int i) { return kData + 8 * static_cast<uint64_t>(i); }

    memleak_scan_input_t input() {
        if (segments.empty())
            segments.push_back({kHeap, memory.size(), memory.data(), 0, 0});
        if (roots.empty())
            roots.push_back({kData, kDataSize, nullptr, MEMLEAK_SCAN_ROOT_DATA, 0});
        memleak_scan_input_t in{};
        in.blocks = blocks.data();
        in.block_count = blocks.size();
        in.segments = segments.data();
        in.segment_count = segments.size();
        in.roots = roots.data();
        in.root_count = roots.size();
        in.heuristics = heuristics;
        return in;
    }
};

struct Classes {
    int status = -1;
    std::string message;
    std::vector<uint8_t> kinds;
    std::vector<uint8_t> heuristics;
    std::vector<memleak_scan_ref_t> preds;
    memleak_scan_result_t result{};
};

Classes classify(Space &s) {
    Classes c;
    memleak_scan_input_t in = s.input();
    c.kinds.assign(s.blocks.size(), 0xee);
    c.heuristics.assign(s.blocks.size(), 0xee);
    c.preds.resize(s.blocks.size());
    c.result.kinds = c.kinds.data();
    c.result.heuristics = c.heuristics.data();
    c.result.predecessors = c.preds.data();
    c.status = memleak_scan_classify(&in, &c.result);
    c.message = c.result.message;
    return c;
}

std::vector<uint8_t> kinds_of(Space &s) {
    Classes c = classify(s);
    EXPECT_EQ(c.status, MEMLEAK_SCAN_OK) << c.message;
    return c.kinds;
}

constexpr uint8_t DL = MEMLEAK_SCAN_DEFINITELY_LOST;
constexpr uint8_t IL = MEMLEAK_SCAN_INDIRECTLY_LOST;
constexpr uint8_t PL = MEMLEAK_SCAN_POSSIBLY_LOST;
constexpr uint8_t SR = MEMLEAK_SCAN_STILL_REACHABLE;
using Kinds = std::vector<uint8_t>;

TEST(Scan, StartPointersFromARootMakeAChainStillReachable) {
    Space s;
    uint64_t a = s.block(0x000, 32), b = s.block(0x100, 16), lost = s.block(0x200, 16);
    s.put(s.root_word(3), a);
    s.put(a + 8, b);
    (void)lost;
    Classes c = classify(s);
    ASSERT_EQ(c.status, MEMLEAK_SCAN_OK) << c.message;
    EXPECT_EQ(c.kinds, (Kinds{SR, SR, DL}));
    EXPECT_EQ(c.preds[0].from, MEMLEAK_SCAN_FROM_ROOT);
    EXPECT_EQ(c.preds[0].index, 0u);
    EXPECT_EQ(c.preds[0].offset, 24u);
    EXPECT_EQ(c.preds[1].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(c.preds[1].index, 0u);
    EXPECT_EQ(c.preds[1].offset, 8u);
    EXPECT_EQ(c.preds[1].target_offset, 0u);
    EXPECT_EQ(c.preds[2].from, MEMLEAK_SCAN_FROM_NONE);
    EXPECT_EQ(c.result.class_blocks[SR], 2u);
    EXPECT_EQ(c.result.class_bytes[SR], 48u);
    EXPECT_EQ(c.result.class_blocks[DL], 1u);
    EXPECT_EQ(c.result.class_bytes[DL], 16u);
    // The data area, the two reachable blocks, and the lost one once more
    // when it leads its clique.
    EXPECT_EQ(c.result.scanned_bytes, kDataSize + 48 + 16);
    EXPECT_EQ(c.result.unreadable_bytes, 0u);
    EXPECT_EQ(c.message, "");
}

TEST(Scan, InteriorPointerMakesPossiblyLostAndSoIsWhatItReaches) {
    Space s;
    s.heuristics = 0;
    uint64_t a = s.block(0x000, 64), b = s.block(0x100, 16), c = s.block(0x200, 16);
    s.put(s.root_word(0), a + 24);
    s.put(a + 16, b);     // a start pointer, but from a possibly-lost block
    s.put(b + 8, c + 4);  // an unaligned interior value is still a pointer
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{PL, PL, PL}));
    EXPECT_EQ(r.preds[0].target_offset, 24u);
    EXPECT_EQ(r.preds[1].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(r.preds[1].index, 0u);
    EXPECT_EQ(r.preds[2].index, 1u);
    EXPECT_EQ(r.preds[2].target_offset, 4u);
}

TEST(Scan, PossiblyLostIsUpgradedWhenAStartPointerChainAlsoReachesIt) {
    Space s;
    s.heuristics = 0;
    uint64_t a = s.block(0x000, 64), b = s.block(0x100, 16);
    s.put(s.root_word(0), a + 40);  // interior first
    s.put(s.root_word(1), b);
    s.put(b, a);  // then a start pointer through b
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR, SR}));
    EXPECT_EQ(r.preds[0].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(r.preds[0].index, 1u);
}

TEST(Scan, LostBlockMakesWhatItPointsToIndirectlyLost) {
    Space s;
    uint64_t a = s.block(0x000, 32), b = s.block(0x100, 32), c = s.block(0x200, 32);
    s.put(a, b);
    s.put(b + 8, c + 8);  // interior pointers count within a clique
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{DL, IL, IL}));
    EXPECT_EQ(r.preds[1].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(r.preds[1].index, 0u);
    EXPECT_EQ(r.preds[2].index, 1u);
    EXPECT_EQ(r.preds[2].offset, 8u);
    EXPECT_EQ(r.preds[0].from, MEMLEAK_SCAN_FROM_NONE);
}

TEST(Scan, UnreachableCycleHasOneDefinitelyLostBlock) {
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16), c = s.block(0x200, 16);
    s.put(a, b);
    s.put(b, c);
    s.put(c, a);
    EXPECT_EQ(kinds_of(s), (Kinds{DL, IL, IL}));
}

TEST(Scan, LostBlockPointingToACycleLeaderTakesItOver) {
    // The cycle's first block led a clique first; a later lost block that
    // points to that leader takes the whole clique over, as Valgrind does.
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16), head = s.block(0x200, 16);
    s.put(a, b);
    s.put(b, a);
    s.put(head, a);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{IL, IL, DL}));
    EXPECT_EQ(r.preds[0].index, 2u);
    EXPECT_EQ(r.preds[1].index, 0u);
}

TEST(Scan, CliquesDoNotOverlap) {
    // head points to b, already claimed by a's clique: Valgrind counts a
    // block in one clique only, so head and a both stay definitely lost.
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16), head = s.block(0x200, 16);
    s.put(a, b);
    s.put(b, a);
    s.put(head, b);
    EXPECT_EQ(kinds_of(s), (Kinds{DL, IL, DL}));
}

TEST(Scan, SelfPointerStillDefinitelyLost) {
    Space s;
    uint64_t a = s.block(0x000, 16);
    s.put(a + 8, a);
    EXPECT_EQ(kinds_of(s), (Kinds{DL}));
}

TEST(Scan, ChainsAreShortestBreadthFirst) {
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16), x = s.block(0x200, 16),
             target = s.block(0x300, 16);
    s.put(s.root_word(0), a);
    s.put(s.root_word(1), x);
    s.put(a, b);
    s.put(b, target);  // depth 3 through a, b
    s.put(x, target);  // depth 2 through x
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR, SR, SR, SR}));
    EXPECT_EQ(r.preds[3].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(r.preds[3].index, 2u);
}

TEST(Scan, PointersInFreedOrUntrackedHeapMemoryAreNotRoots) {
    Space s;
    uint64_t a = s.block(0x100, 16);
    s.put(kHeap + 0x40, a);  // a stale pointer in a freed chunk, outside any block
    EXPECT_EQ(kinds_of(s), (Kinds{DL}));
}

TEST(Scan, RootRangesSkipTheContentsOfLiveBlocks) {
    // A mapping root that covers the heap (a large block's own mapping, say)
    // must not make a lost block's contents roots.
    Space s;
    uint64_t lost = s.block(0x100, 16), held = s.block(0x200, 16), kept = s.block(0x300, 16);
    s.put(lost, held);
    s.put(kHeap + 0x400, kept);  // outside blocks: counts as a root word
    s.roots.push_back({kHeap, kHeapSize, nullptr, MEMLEAK_SCAN_ROOT_MAPPING, 7});
    EXPECT_EQ(kinds_of(s), (Kinds{DL, IL, SR}));
}

TEST(Scan, UnalignedWordsAreNotPointers) {
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 32);
    s.put(s.root_word(0) + 4, a);  // straddles two aligned words
    s.put(s.root_word(4), b);
    s.put(b + 12, a);  // unaligned inside a block too
    EXPECT_EQ(kinds_of(s), (Kinds{DL, SR}));
}

TEST(Scan, RootRangeWithUnalignedEndsScansOnlyWholeAlignedWords) {
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16);
    s.put(s.root_word(0), a);
    s.put(s.root_word(2), b);
    // [word0+1, word2+7): word 0 starts before it, word 2 ends after it.
    s.roots.push_back({s.root_word(0) + 1, 22, nullptr, MEMLEAK_SCAN_ROOT_STACK, 0});
    EXPECT_EQ(kinds_of(s), (Kinds{DL, DL}));
}

TEST(Scan, RegisterRootsComeAsBytes) {
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16);
    uint64_t regs[3] = {0x1234, a + 8, b};
    s.heuristics = 0;
    s.roots.push_back({0, sizeof regs, regs, MEMLEAK_SCAN_ROOT_REGISTERS, 2});
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{PL, SR}));
    EXPECT_EQ(r.preds[1].from, MEMLEAK_SCAN_FROM_ROOT);
    EXPECT_EQ(r.preds[1].offset, 16u);
}

TEST(Scan, ZeroSizedBlockIsHitByItsStartOnly) {
    Space s;
    uint64_t z = s.block(0x000, 0), y = s.block(0x010, 0);
    s.put(s.root_word(0), z);
    s.put(s.root_word(1), y + 1);
    EXPECT_EQ(kinds_of(s), (Kinds{SR, DL}));
}

TEST(Scan, ZeroSizedBlockInARootRangeHidesNoWord) {
    // The word at 0x68 lies across a zero-sized block's address: the block
    // has no contents, so the word is still a root word.
    Space s;
    uint64_t z = s.block(0x06a, 0), a = s.block(0x100, 16);
    s.put(kHeap + 0x068, a);
    s.roots.push_back({kHeap, 0x100, nullptr, MEMLEAK_SCAN_ROOT_MAPPING, 0});
    (void)z;
    EXPECT_EQ(kinds_of(s), (Kinds{DL, SR}));
}

TEST(Scan, OverlappingRootsAreScannedOnce) {
    // Thousands of roots over the same memory (a corrupt core's mappings):
    // each word is read once, for the root of lowest address holding it.
    Space s;
    uint64_t a = s.block(0x000, 16);
    s.put(s.root_word(9), a);
    for (int i = 0; i < 5000; ++i)
        s.roots.push_back({kData + 8 * (i % 16), kDataSize - 8 * (i % 16), nullptr, MEMLEAK_SCAN_ROOT_MAPPING,
                           static_cast<uint32_t>(i)});
    Classes r = classify(s);
    ASSERT_EQ(r.status, MEMLEAK_SCAN_OK);
    EXPECT_EQ(r.kinds, (Kinds{SR}));
    EXPECT_EQ(r.result.scanned_bytes, kDataSize + 16);
    EXPECT_EQ(r.preds[0].index, 0u);
    EXPECT_EQ(r.preds[0].offset, 72u);
    memleak_scan_input_t in = s.input();
    memleak_scan_ref_t refs[4];
    memleak_scan_who_t q{};
    q.target = 0;
    q.refs = refs;
    q.capacity = 4;
    ASSERT_EQ(memleak_scan_who(&in, &q), MEMLEAK_SCAN_OK);
    EXPECT_EQ(q.total, 1u);
}

TEST(Scan, UnreadableRootsAndBlocksAreCountedNeverRead) {
    Space s;
    uint64_t a = s.block(0x000, 16);
    s.blocks.push_back({0x7000000, 64});  // a block outside every segment
    s.put(s.root_word(0), 0x7000000);
    s.roots.push_back({kData, kDataSize, nullptr, MEMLEAK_SCAN_ROOT_DATA, 0});
    s.roots.push_back({0x9000000, 4096, nullptr, MEMLEAK_SCAN_ROOT_STACK, 1});
    (void)a;
    Classes r = classify(s);
    ASSERT_EQ(r.status, MEMLEAK_SCAN_OK);
    EXPECT_EQ(r.kinds, (Kinds{DL, SR}));
    EXPECT_EQ(r.result.unreadable_bytes, 4096u + 64u);
}

TEST(Scan, SegmentWithoutBytesIsUnreadable) {
    Space s;
    uint64_t a = s.block(0x000, 16);
    s.put(s.root_word(0), a);
    s.segments.push_back({kHeap, kHeapSize, s.memory.data(), 0, 0});
    s.segments.push_back({kData, kDataSize, nullptr, 0, 0});
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{DL}));
    EXPECT_EQ(r.result.unreadable_bytes, kDataSize);
}

TEST(Scan, WordsAcrossAdjacentSegmentsAreRead) {
    // Memory read in chunks whose boundaries are not word aligned: a word
    // split between two segments is still read, from both.
    Space s;
    uint64_t a = s.block(0x000, 16), b = s.block(0x100, 16);
    s.put(s.root_word(1), a);
    s.put(s.root_word(5), b);
    const uint64_t cut = s.root_word(1) + 3;
    s.segments.push_back({kHeap, cut - kHeap, s.memory.data(), 0, 0});
    s.segments.push_back({cut, 2, s.memory.data() + (cut - kHeap), 0, 0});
    s.segments.push_back(
        {cut + 2, kHeap + s.memory.size() - cut - 2, s.memory.data() + (cut + 2 - kHeap), 0, 0});
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR, SR}));
    EXPECT_EQ(r.result.unreadable_bytes, 0u);
    EXPECT_EQ(r.result.scanned_bytes, kDataSize + 32);
}

TEST(Scan, WordAcrossAGapIsUnreadable) {
    Space s;
    uint64_t a = s.block(0x000, 16);
    s.put(s.root_word(1), a);
    const uint64_t cut = s.root_word(1) + 3;
    s.segments.push_back({kHeap, cut - kHeap, s.memory.data(), 0, 0});
    s.segments.push_back(
        {cut + 1, kHeap + s.memory.size() - cut - 1, s.memory.data() + (cut + 1 - kHeap), 0, 0});
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{DL}));
    EXPECT_EQ(r.result.unreadable_bytes, 8u);
}

// --- heuristics -----------------------------------------------------------

TEST(Scan, NewArrayHeuristic) {
    Space s;
    uint64_t arr = s.block(0x000, 8 + 3 * 16);  // count, then 3 elements of 16
    s.put(arr, 3);
    s.put(s.root_word(0), arr + 8);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR}));
    EXPECT_EQ(r.heuristics[0], MEMLEAK_SCAN_HEURISTIC_NEWARRAY);
    EXPECT_EQ(r.preds[0].heuristic, MEMLEAK_SCAN_HEURISTIC_NEWARRAY);
    s.put(arr, 5);  // 48 bytes are not 5 equal elements
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
    s.put(arr, 3);
    s.heuristics = MEMLEAK_SCAN_HEURISTICS_ALL & ~MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_NEWARRAY);
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
}

TEST(Scan, Length64HeuristicIsTriedBeforeNewArray) {
    Space s;
    uint64_t blk = s.block(0x000, 8 + 40);
    s.put(blk, 40);  // the length of the rest
    s.put(s.root_word(0), blk + 8);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR}));
    EXPECT_EQ(r.heuristics[0], MEMLEAK_SCAN_HEURISTIC_LENGTH64);
    s.heuristics = MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_LENGTH64);
    s.put(blk, 41);
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
}

TEST(Scan, StdStringHeuristic) {
    Space s;
    const uint64_t capacity = 29;
    uint64_t rep = s.block(0x000, 3 * 8 + capacity + 1);  // length, capacity, refcount, chars, NUL
    s.put(rep, 11);
    s.put(rep + 8, capacity);
    s.put(s.root_word(0), rep + 24);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR}));
    EXPECT_EQ(r.heuristics[0], MEMLEAK_SCAN_HEURISTIC_STDSTRING);
    s.put(rep, capacity + 1);  // longer than its capacity: not a string
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
}

struct VtableSpace : Space {
    std::vector<uint8_t> code = std::vector<uint8_t>(0x1000, 0xc3);
    std::vector<uint8_t> rodata = std::vector<uint8_t>(0x1000, 0);

    VtableSpace() {
        // Two vtables: null slots (offset-to-top, typeinfo here) then functions.
        put_ro(0x100, 0);
        put_ro(0x108, kCode + 0x10);
        put_ro(0x110, kCode + 0x20);
        put_ro(0x200, kCode + 0x30);
        put_ro(0x208, kCode + 0x40);
        put_ro(0x300, kData);  // not a vtable: points to writable memory
        put_ro(0x308, kCode);
    }
    void put_ro(uint64_t off, uint64_t v) { std::memcpy(&rodata.at(off), &v, 8); }
    void map() {
        segments.push_back({kHeap, memory.size(), memory.data(), 0, 0});
        segments.push_back(
            {kCode, code.size(), code.data(), MEMLEAK_SCAN_SEGMENT_FILE | MEMLEAK_SCAN_SEGMENT_EXEC, 0});
        segments.push_back({kRodata, rodata.size(), rodata.data(), MEMLEAK_SCAN_SEGMENT_FILE, 0});
    }
};

TEST(Scan, MultipleInheritanceHeuristic) {
    VtableSpace s;
    s.map();
    uint64_t obj = s.block(0x000, 32);
    s.put(obj, kRodata + 0x100);       // first base's vtable pointer
    s.put(obj + 16, kRodata + 0x200);  // second base's vtable pointer
    s.put(s.root_word(0), obj + 16);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR}));
    EXPECT_EQ(r.heuristics[0], MEMLEAK_SCAN_HEURISTIC_MULTIPLE_INHERITANCE);

    s.put(obj + 16, kRodata + 0x300);  // a table with a pointer to data
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
    s.put(obj + 16, kRodata + 0x200);
    s.segments[1].flags = MEMLEAK_SCAN_SEGMENT_FILE;  // functions not executable
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
    s.segments[1].flags = MEMLEAK_SCAN_SEGMENT_FILE | MEMLEAK_SCAN_SEGMENT_EXEC;
    s.segments[2].flags = 0;  // vtables in anonymous memory
    EXPECT_EQ(kinds_of(s), (Kinds{PL}));
}

TEST(Scan, StartPointerClearsTheHeuristicMark) {
    Space s;
    uint64_t arr = s.block(0x000, 8 + 32), holder = s.block(0x100, 16);
    s.put(arr, 4);
    s.put(s.root_word(0), arr + 8);
    s.put(s.root_word(1), holder);
    s.put(holder, arr);
    Classes r = classify(s);
    EXPECT_EQ(r.kinds, (Kinds{SR, SR}));
    EXPECT_EQ(r.heuristics[0], MEMLEAK_SCAN_HEURISTIC_NONE);
}

TEST(Scan, HeuristicFromAPossiblyLostBlockGivesOnlyPossiblyLost) {
    Space s;
    s.heuristics = MEMLEAK_SCAN_HEURISTICS_ALL;
    uint64_t p = s.block(0x000, 64), arr = s.block(0x100, 8 + 32);
    s.put(arr, 4);
    s.put(s.root_word(0), p + 8);  // p: possibly lost (8 isn't a plausible count: p[0] == 0)
    s.put(p + 16, arr + 8);
    EXPECT_EQ(kinds_of(s), (Kinds{PL, PL}));
}

// --- hostile input --------------------------------------------------------

int status_of(Space &s, std::string *message = nullptr) {
    Classes c = classify(s);
    if (message)
        *message = c.message;
    return c.status;
}

TEST(ScanInput, UnsortedBlocksAreRejected) {
    Space s;
    s.block(0x100, 16);
    s.block(0x000, 16);
    std::string m;
    EXPECT_EQ(status_of(s, &m), MEMLEAK_SCAN_EBLOCKS);
    EXPECT_EQ(m, "blocks not sorted by address: block 1 at 0x100000 follows 0x100100");
}

TEST(ScanInput, OverlappingAndDuplicateBlocksAreRejected) {
    Space s;
    s.block(0x000, 32);
    s.block(0x010, 16);
    std::string m;
    EXPECT_EQ(status_of(s, &m), MEMLEAK_SCAN_EBLOCKS);
    EXPECT_NE(m.find("overlap"), std::string::npos) << m;
    Space d;
    d.block(0x000, 0);
    d.block(0x000, 16);
    EXPECT_EQ(status_of(d), MEMLEAK_SCAN_EBLOCKS);
}

TEST(ScanInput, WrappingBlocksSegmentsAndRootsAreRejected) {
    Space s;
    s.blocks.push_back({UINT64_MAX - 8, 16});
    EXPECT_EQ(status_of(s), MEMLEAK_SCAN_EBLOCKS);
    Space g;
    g.segments.push_back({UINT64_MAX - 8, 16, g.memory.data(), 0, 0});
    EXPECT_EQ(status_of(g), MEMLEAK_SCAN_ESEGMENTS);
    Space r;
    r.roots.push_back({UINT64_MAX - 8, 16, nullptr, MEMLEAK_SCAN_ROOT_STACK, 0});
    EXPECT_EQ(status_of(r), MEMLEAK_SCAN_EROOTS);
    Space k;
    k.roots.push_back({kData, 8, nullptr, 99, 0});
    EXPECT_EQ(status_of(k), MEMLEAK_SCAN_EROOTS);
}

TEST(ScanInput, UnsortedOrOverlappingSegmentsAreRejected) {
    Space s;
    s.segments.push_back({kData, kDataSize, s.memory.data() + kHeapSize, 0, 0});
    s.segments.push_back({kHeap, kHeapSize, s.memory.data(), 0, 0});
    EXPECT_EQ(status_of(s), MEMLEAK_SCAN_ESEGMENTS);
}

TEST(ScanInput, CountsTooBigOrArraysMissingAreRejectedBeforeAnyRead) {
    Space s;
    memleak_scan_input_t in = s.input();
    in.block_count = UINT64_C(1) << 40;  // the array is empty: never read
    uint8_t kinds[1];
    memleak_scan_result_t out{};
    out.kinds = kinds;
    EXPECT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_EINVAL);
    EXPECT_NE(std::string(out.message).find("too many blocks"), std::string::npos);

    Space t;
    t.block(0, 16);
    in = t.input();
    out.kinds = nullptr;
    EXPECT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_EINVAL);
    EXPECT_EQ(memleak_scan_classify(nullptr, &out), MEMLEAK_SCAN_EINVAL);
    EXPECT_EQ(memleak_scan_classify(&in, nullptr), MEMLEAK_SCAN_EINVAL);
    in.heuristics = 1u << 20;
    out.kinds = kinds;
    EXPECT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_EINVAL);
}

TEST(ScanInput, AllocatorRefusalIsAnErrorNotACrash) {
    Space s;
    s.block(0, 16);
    memleak_scan_allocator_t refuse{[](void *, size_t) -> void * { return nullptr; },
                                    [](void *, void *, size_t) {}, nullptr};
    memleak_scan_input_t in = s.input();
    in.allocator = &refuse;
    uint8_t kinds[1];
    memleak_scan_result_t out{};
    out.kinds = kinds;
    EXPECT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_ENOMEM);
    EXPECT_NE(std::string(out.message).find("out of memory"), std::string::npos);
}

TEST(ScanInput, CallerAllocatorGetsBackEverythingItGave) {
    struct Ledger {
        int live = 0;
        int calls = 0;
    } ledger;
    memleak_scan_allocator_t counting{[](void *ctx, size_t bytes) -> void * {
                                          auto *l = static_cast<Ledger *>(ctx);
                                          ++l->live;
                                          ++l->calls;
                                          return ::operator new(bytes);
                                      },
                                      [](void *ctx, void *p, size_t) {
                                          --static_cast<Ledger *>(ctx)->live;
                                          ::operator delete(p);
                                      },
                                      &ledger};
    Space s;
    uint64_t a = s.block(0, 16);
    s.put(s.root_word(0), a);
    memleak_scan_input_t in = s.input();
    in.allocator = &counting;
    uint8_t kinds[1];
    memleak_scan_result_t out{};
    out.kinds = kinds;
    ASSERT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_OK);
    EXPECT_EQ(kinds[0], SR);
    EXPECT_GT(ledger.calls, 0);
    EXPECT_EQ(ledger.live, 0);
}

TEST(ScanInput, EveryWordPointingAnywhereStaysBounded) {
    // A heap full of pointers to every block, and roots full of garbage: the
    // scan reads each block once per pass and ends.
    Space s;
    const int n = 256;
    for (int i = 0; i < n; ++i)
        s.block(0x80 * i, 0x80);
    std::mt19937_64 rng(7);
    for (uint64_t off = 0; off < kHeapSize + kDataSize; off += 8)
        s.put(kHeap + off, rng() % 3 ? kHeap + rng() % (kHeapSize + 64) : rng());
    Classes r = classify(s);
    ASSERT_EQ(r.status, MEMLEAK_SCAN_OK);
    EXPECT_LE(r.result.scanned_bytes, kDataSize + 3 * kHeapSize);
}

TEST(ScanInput, AHugeBlockMakesTheIndexCoarseNotWrong) {
    // A table claiming a block of 2^60 bytes: the index's granules grow
    // until it stays small, and small blocks are still told apart.
    Space s;
    const int n = 200;
    for (int i = 0; i < n; ++i)
        s.block(0x40 * static_cast<uint64_t>(i), 0x20);
    s.blocks.push_back({uint64_t(1) << 61, uint64_t(1) << 60});
    for (int i = 0; i < n; i += 2)
        s.put(s.root_word(i), kHeap + 0x40 * static_cast<uint64_t>(i) + (i % 4 ? 8 : 0));
    s.put(s.root_word(n + 1), (uint64_t(1) << 61) + 12345);
    s.heuristics = 0;
    Classes r = classify(s);
    ASSERT_EQ(r.status, MEMLEAK_SCAN_OK) << r.message;
    for (int i = 0; i < n; ++i)
        EXPECT_EQ(r.kinds[i], i % 2 ? DL : i % 4 ? PL : SR) << i;
    EXPECT_EQ(r.kinds[n], PL);
    EXPECT_EQ(r.result.unreadable_bytes, uint64_t(1) << 60);
}

// --- who --------------------------------------------------------------------

TEST(ScanWho, ListsRootsAndBlocksPointingIntoTheBlock) {
    Space s;
    uint64_t target = s.block(0x000, 8 + 32), a = s.block(0x100, 32), lost = s.block(0x200, 16);
    s.put(target, 4);                   // a plausible new[] count
    s.put(s.root_word(2), target + 8);  // accepted by newarray
    s.put(a + 16, target);
    s.put(lost + 8, target + 20);
    s.put(target + 24, target);  // itself
    memleak_scan_input_t in = s.input();
    memleak_scan_ref_t refs[8];
    memleak_scan_who_t q{};
    q.target = 0;
    q.refs = refs;
    q.capacity = 8;
    ASSERT_EQ(memleak_scan_who(&in, &q), MEMLEAK_SCAN_OK) << q.message;
    ASSERT_EQ(q.total, 4u);
    EXPECT_EQ(refs[0].from, MEMLEAK_SCAN_FROM_ROOT);
    EXPECT_EQ(refs[0].offset, 16u);
    EXPECT_EQ(refs[0].target_offset, 8u);
    EXPECT_EQ(refs[0].heuristic, MEMLEAK_SCAN_HEURISTIC_NEWARRAY);
    EXPECT_EQ(refs[1].from, MEMLEAK_SCAN_FROM_BLOCK);
    EXPECT_EQ(refs[1].index, 0u);
    EXPECT_EQ(refs[1].offset, 24u);
    EXPECT_EQ(refs[2].index, 1u);
    EXPECT_EQ(refs[2].offset, 16u);
    EXPECT_EQ(refs[2].heuristic, MEMLEAK_SCAN_HEURISTIC_NONE);
    EXPECT_EQ(refs[3].index, 2u);
    EXPECT_EQ(refs[3].target_offset, 20u);
    EXPECT_EQ(refs[3].heuristic, MEMLEAK_SCAN_HEURISTIC_NONE);

    q.capacity = 1;
    ASSERT_EQ(memleak_scan_who(&in, &q), MEMLEAK_SCAN_OK);
    EXPECT_EQ(q.total, 4u);
    q.target = 3;
    EXPECT_EQ(memleak_scan_who(&in, &q), MEMLEAK_SCAN_EINVAL);
}

// --- against Valgrind's own formulation ------------------------------------

// Valgrind's mark-stack algorithm written plainly (a LIFO stack, states
// upgraded in place, blocks rescanned after an upgrade), without heuristics,
// on a graph of edges (from block or root, to block, start or interior).
struct Edge {
    int from;  // -1: a root
    int to;
    bool start;
};

std::vector<uint8_t> reference(int n, const std::vector<Edge> &edges) {
    enum { U, P, R, I };
    std::vector<int> state(n, U);
    std::vector<bool> pending(n, false);
    std::vector<int> stack;
    auto push = [&](int b) {
        if (!pending[b]) {
            pending[b] = true;
            stack.push_back(b);
        }
    };
    auto reach = [&](const Edge &e, bool definite) {
        if (state[e.to] == R)
            return;
        if (e.start && definite) {
            state[e.to] = R;
            push(e.to);
        } else if (state[e.to] == U) {
            state[e.to] = P;
            push(e.to);
        }
    };
    for (const Edge &e : edges)
        if (e.from < 0)
            reach(e, true);
    while (!stack.empty()) {
        int b = stack.back();
        stack.pop_back();
        pending[b] = false;
        bool definite = state[b] != P;
        for (const Edge &e : edges)
            if (e.from == b)
                reach(e, definite);
    }
    for (int leader = 0; leader < n; ++leader) {
        if (state[leader] != U)
            continue;
        stack.push_back(leader);
        while (!stack.empty()) {
            int b = stack.back();
            stack.pop_back();
            for (const Edge &e : edges)
                if (e.from == b && e.to != leader && state[e.to] == U) {
                    state[e.to] = I;
                    stack.push_back(e.to);
                }
        }
    }
    std::vector<uint8_t> out(n);
    for (int i = 0; i < n; ++i)
        out[i] = state[i] == U ? DL : state[i] == P ? PL : state[i] == R ? SR : IL;
    return out;
}

TEST(ScanReference, RandomGraphsMatchValgrindsMarkStackAlgorithm) {
    std::mt19937 rng(12345);
    for (int round = 0; round < 300; ++round) {
        Space s;
        s.heuristics = 0;
        const int n = 1 + static_cast<int>(rng() % 24);
        for (int i = 0; i < n; ++i)
            s.block(0x100 * static_cast<uint64_t>(i), 0x80);
        std::vector<Edge> edges;
        std::vector<int> next_slot(n, 0);
        int root_slots = 0;
        const int m = static_cast<int>(rng() % (3 * n));
        for (int k = 0; k < m; ++k) {
            Edge e{static_cast<int>(rng() % (n + 2)) - 2, static_cast<int>(rng() % n), rng() % 3 != 0};
            if (e.from < -1)
                e.from = -1;
            uint64_t value =
                kHeap + 0x100 * static_cast<uint64_t>(e.to) + (e.start ? 0 : 8 + 8 * (rng() % 8));
            if (e.from < 0) {
                if (root_slots == 32)
                    continue;
                s.put(s.root_word(root_slots++), value);
            } else {
                if (next_slot[e.from] == 16)
                    continue;
                s.put(kHeap + 0x100 * static_cast<uint64_t>(e.from) + 8 * next_slot[e.from]++, value);
            }
            edges.push_back(e);
        }
        EXPECT_EQ(kinds_of(s), reference(n, edges)) << "round " << round;
    }
}

}  // namespace

// --- random address spaces against a plain reference --------------------

// Everything the scanner does, done the slow obvious way: words read byte by
// byte through a linear search of the segments, blocks found by a linear
// search, Valgrind's mark stack, then breadth-first depths of still-reachable
// blocks. No heuristics.
struct Reference {
    const std::vector<memleak_scan_block_t> &blocks;
    const std::vector<memleak_scan_segment_t> &segments;
    const std::vector<memleak_scan_root_t> &roots;

    bool read_byte(uint64_t a, uint8_t *out) const {
        for (const auto &s : segments)
            if (a >= s.address && a - s.address < s.length) {
                if (!s.bytes)
                    return false;
                *out = static_cast<const uint8_t *>(s.bytes)[a - s.address];
                return true;
            }
        return false;
    }
    bool read_word(uint64_t a, uint64_t *out) const {
        uint8_t b[8];
        for (int i = 0; i < 8; ++i)
            if (!read_byte(a + i, &b[i]))
                return false;
        std::memcpy(out, b, 8);
        return true;
    }
    int find(uint64_t v) const {
        for (size_t i = 0; i < blocks.size(); ++i)
            if (v >= blocks[i].address && v - blocks[i].address < (blocks[i].size ? blocks[i].size : 1))
                return static_cast<int>(i);
        return -1;
    }
    bool inside_a_block(uint64_t w) const {
        for (const auto &b : blocks)
            if (b.size && w < b.address + b.size && b.address < w + 8)
                return true;
        return false;
    }
    // (value) of every readable aligned word of a root.
    std::vector<uint64_t> root_values(const memleak_scan_root_t &r) const {
        std::vector<uint64_t> out;
        const uint64_t first = (r.address + 7) & ~uint64_t(7);
        for (uint64_t w = first; w + 8 <= r.address + r.length; w += 8) {
            uint64_t v;
            if (r.bytes) {
                std::memcpy(&v, static_cast<const uint8_t *>(r.bytes) + (w - r.address), 8);
                out.push_back(v);
            } else if (!inside_a_block(w) && read_word(w, &v)) {
                out.push_back(v);
            }
        }
        return out;
    }
    std::vector<uint64_t> block_values(const memleak_scan_block_t &b) const {
        std::vector<uint64_t> out;
        for (uint64_t w = (b.address + 7) & ~uint64_t(7); w + 8 <= b.address + b.size; w += 8) {
            uint64_t v;
            if (read_word(w, &v))
                out.push_back(v);
        }
        return out;
    }

    // Root words, each once: overlapping roots share their words.
    std::vector<uint64_t> all_root_values() const {
        std::vector<uint64_t> out;
        std::vector<uint64_t> seen;
        for (const auto &r : roots) {
            if (r.bytes) {
                for (uint64_t v : root_values(r))
                    out.push_back(v);
                continue;
            }
            for (uint64_t w = (r.address + 7) & ~uint64_t(7); w + 8 <= r.address + r.length; w += 8) {
                uint64_t v;
                if (std::find(seen.begin(), seen.end(), w) != seen.end() || inside_a_block(w) ||
                    !read_word(w, &v))
                    continue;
                seen.push_back(w);
                out.push_back(v);
            }
        }
        return out;
    }

    std::vector<Edge> edges() const {
        std::vector<Edge> e;
        for (uint64_t v : all_root_values())
            if (int t = find(v); t >= 0)
                e.push_back({-1, t, v == blocks[t].address});
        for (size_t i = 0; i < blocks.size(); ++i)
            for (uint64_t v : block_values(blocks[i]))
                if (int t = find(v); t >= 0)
                    e.push_back({static_cast<int>(i), t, v == blocks[t].address});
        return e;
    }

    // Depth of each still-reachable block: start-pointer hops from a root.
    std::vector<int> depths(const std::vector<Edge> &e) const {
        std::vector<int> depth(blocks.size(), -1);
        std::vector<int> frontier;
        for (const Edge &x : e)
            if (x.from < 0 && x.start && depth[x.to] < 0) {
                depth[x.to] = 1;
                frontier.push_back(x.to);
            }
        for (int d = 1; !frontier.empty(); ++d) {
            std::vector<int> next;
            for (int b : frontier)
                for (const Edge &x : e)
                    if (x.from == b && x.start && depth[x.to] < 0) {
                        depth[x.to] = d + 1;
                        next.push_back(x.to);
                    }
            frontier.swap(next);
        }
        return depth;
    }
};

TEST(ScanReference, RandomAddressSpacesMatchAPlainReference) {
    std::mt19937_64 rng(2026);
    for (int round = 0; round < 400; ++round) {
        // Blocks of odd and zero sizes at odd places, in one 8 KiB area.
        const uint64_t base = 0x200000 + 8 * (rng() % 3);
        std::vector<uint8_t> memory(0x2000);
        std::vector<memleak_scan_block_t> blocks;
        for (uint64_t at = base + rng() % 64; at < base + memory.size() - 64;) {
            const uint64_t size = rng() % 5 == 0 ? 0 : 1 + rng() % 120;
            blocks.push_back({at, size});
            at += (size ? size : 1) + rng() % 48;
        }
        auto random_word = [&]() -> uint64_t {
            const memleak_scan_block_t &t = blocks[rng() % blocks.size()];
            switch (rng() % 5) {
            case 0:
                return t.address;
            case 1:
                return t.address + rng() % (t.size + 2);
            case 2:
                return base + rng() % memory.size();
            case 3:
                return 0;
            default:
                return rng();
            }
        };
        for (size_t off = 0; off + 8 <= memory.size(); off += 1 + rng() % 8) {
            uint64_t v = random_word();
            std::memcpy(&memory[off], &v, 8);
        }
        // Memory cut into segments at random places; some without bytes;
        // some gaps.
        std::vector<memleak_scan_segment_t> segments;
        for (uint64_t at = 0; at < memory.size();) {
            uint64_t len = 1 + rng() % 1500;
            if (at + len > memory.size())
                len = memory.size() - at;
            const int kind = rng() % 10;
            if (kind != 0)  // 0: a gap
                segments.push_back({base + at, len, kind == 1 ? nullptr : memory.data() + at, 0, 0});
            at += len;
        }
        std::vector<uint64_t> regs(4);
        for (auto &r : regs)
            r = random_word();
        std::vector<memleak_scan_root_t> roots;
        const int root_count = 1 + rng() % 4;
        for (int i = 0; i < root_count; ++i) {
            const uint64_t at = base + rng() % memory.size();
            roots.push_back({at, rng() % 2048, nullptr, MEMLEAK_SCAN_ROOT_MAPPING, 0});
        }
        roots.push_back(
            {rng() % 8, sizeof(uint64_t) * regs.size() - 8, regs.data(), MEMLEAK_SCAN_ROOT_REGISTERS, 0});

        Reference ref{blocks, segments, roots};
        const std::vector<Edge> edges = ref.edges();
        const std::vector<uint8_t> expected = reference(static_cast<int>(blocks.size()), edges);
        const std::vector<int> depth = ref.depths(edges);

        memleak_scan_input_t in{};
        in.blocks = blocks.data();
        in.block_count = blocks.size();
        in.segments = segments.data();
        in.segment_count = segments.size();
        in.roots = roots.data();
        in.root_count = roots.size();
        std::vector<uint8_t> kinds(blocks.size());
        std::vector<memleak_scan_ref_t> preds(blocks.size());
        memleak_scan_result_t out{};
        out.kinds = kinds.data();
        out.predecessors = preds.data();
        ASSERT_EQ(memleak_scan_classify(&in, &out), MEMLEAK_SCAN_OK) << out.message;
        ASSERT_EQ(kinds, expected) << "round " << round;

        // Every still-reachable block's chain is a real one, of the
        // breadth-first depth, and each link a start pointer.
        for (size_t b = 0; b < blocks.size(); ++b) {
            if (kinds[b] != SR)
                continue;
            int length = 0;
            for (size_t at = b;; ++length) {
                const memleak_scan_ref_t &p = preds[at];
                ASSERT_EQ(p.target_offset, 0u);
                uint64_t word;
                if (p.from == MEMLEAK_SCAN_FROM_ROOT) {
                    const memleak_scan_root_t &r = roots.at(p.index);
                    if (r.bytes)
                        std::memcpy(&word, static_cast<const uint8_t *>(r.bytes) + p.offset, 8);
                    else
                        ASSERT_TRUE(ref.read_word(r.address + p.offset, &word));
                    ASSERT_EQ(word, blocks[at].address);
                    break;
                }
                ASSERT_EQ(p.from, MEMLEAK_SCAN_FROM_BLOCK);
                ASSERT_EQ(kinds.at(p.index), SR);
                ASSERT_TRUE(ref.read_word(blocks[p.index].address + p.offset, &word));
                ASSERT_EQ(word, blocks[at].address);
                at = p.index;
            }
            EXPECT_EQ(length + 1, depth[b]) << "round " << round << " block " << b;
        }

        // who: the same pointers the reference sees, for one block.
        const uint32_t target = static_cast<uint32_t>(rng() % blocks.size());
        size_t expected_refs = 0;
        for (const Edge &e : edges)
            expected_refs += e.to == static_cast<int>(target);
        memleak_scan_who_t q{};
        q.target = target;
        ASSERT_EQ(memleak_scan_who(&in, &q), MEMLEAK_SCAN_OK) << q.message;
        EXPECT_EQ(q.total, expected_refs) << "round " << round;
    }
}
