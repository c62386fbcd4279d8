// The table reader on a real table (the runtime's AllocTable and StackDepot
// published in a root of its own), read in place and through a source that
// serves a changed copy of the root or refuses some reads.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "table/alloc_table.h"
#include "table/stack_depot.h"
#include "core/abi_export.h"
#include "memleak/table_reader.h"

namespace memleak {
namespace {

struct Table {
    std::unique_ptr<memleak_introspect_t> root = std::make_unique<memleak_introspect_t>();
    std::unique_ptr<AllocTable> table = std::make_unique<AllocTable>();
    std::unique_ptr<StackDepot> depot = std::make_unique<StackDepot>();

    Table() {
        memset(root.get(), 0, sizeof *root);
        publish_layout(root.get());
        depot->init(root.get());
        table->track_global_bytes(&root->live_bytes, &root->peak_bytes);
        root->shards = reinterpret_cast<uint64_t>(table->shards());
        root->shard_count = AllocTable::kShardCount;
        root->records_per_chunk = AllocTable::kRecordsPerChunk;
        root->max_chunks_per_shard = AllocTable::kMaxChunksPerShard;
        root->max_depth = 32;
        root->tick_ns = 10000000;
        root->magic = MEMLEAK_ABI_MAGIC;
    }

    uint64_t address() const { return reinterpret_cast<uint64_t>(root.get()); }

    void add(uint64_t address, uint64_t size, uint64_t seq, uint32_t stack_id) {
        RecordData r{};
        r.address = address;
        r.size = size;
        r.seq = seq;
        r.ticks = static_cast<uint32_t>(seq * 3);
        r.tid = 4321;
        r.stack_id = stack_id;
        uint64_t replaced = 0;
        ASSERT_EQ(table->insert(r, &replaced), AllocTable::InsertResult::kAdded);
    }
};

// Reads this process's memory, except that the root's bytes come from
// `root` (a copy a test may change) and reads touching `refused` fail.
struct Source {
    uint64_t real_root = 0;
    memleak_introspect_t root{};
    uint64_t refused = 0;
};

int read_source(void *ctx, uint64_t address, void *buf, size_t n) {
    auto *s = static_cast<Source *>(ctx);
    if (s->refused != 0 && address <= s->refused && s->refused < address + n)
        return -1;
    if (address >= s->real_root && address + n <= s->real_root + sizeof s->root) {
        memcpy(buf, reinterpret_cast<const char *>(&s->root) + (address - s->real_root), n);
        return 0;
    }
    memcpy(buf, reinterpret_cast<const void *>(address), n);
    return 0;
}

int collect(void *ctx, const memleak_table_block_t *b) {
    static_cast<std::map<uint64_t, memleak_table_block_t> *>(ctx)->emplace(b->address, *b);
    return 0;
}

TEST(TableReader, WalksEveryLiveRecordWithItsFields) {
    Table t;
    const uint64_t pcs[3] = {0x401000, 0x402000, 0x403000};
    const uint32_t stack = t.depot->intern(pcs, 3, 0);
    std::map<uint64_t, uint64_t> live;  // address -> size
    for (uint64_t i = 1; i <= 20000; ++i) {
        const uint64_t size = i == 7 ? (uint64_t{1} << 40) + 5 : i % 5000;
        t.add(0x10000000 + i * 64, size, i == 9 ? (uint64_t{1} << 33) + 9 : i, stack);
        live[0x10000000 + i * 64] = size;
    }
    for (uint64_t i = 2; i <= 20000; i += 3) {
        RecordData out;
        ASSERT_TRUE(t.table->remove(0x10000000 + i * 64, 0, &out));
        live.erase(0x10000000 + i * 64);
    }

    memleak_table_t table;
    ASSERT_EQ(memleak_table_open(&table, memleak_table_read_self, nullptr, t.address()), MEMLEAK_TABLE_OK)
        << table.error;
    std::map<uint64_t, memleak_table_block_t> seen;
    ASSERT_EQ(memleak_table_blocks(&table, collect, &seen), MEMLEAK_TABLE_OK) << table.error;
    ASSERT_EQ(seen.size(), live.size());
    for (const auto &[address, size] : live) {
        const memleak_table_block_t &b = seen.at(address);
        EXPECT_EQ(b.size, size);
        const uint64_t i = (address - 0x10000000) / 64;
        EXPECT_EQ(b.seq, i == 9 ? (uint64_t{1} << 33) + 9 : i);
        EXPECT_EQ(b.tid, 4321u);
        EXPECT_EQ(b.stack_id, stack);
        EXPECT_EQ(b.shard, AllocTable::shard_of(address));
    }

    uint64_t count = 0, bytes = 0;
    for (uint32_t s = 0; s < table.header.shard_count; ++s) {
        memleak_shard_t shard;
        ASSERT_EQ(memleak_table_shard(&table, s, &shard), MEMLEAK_TABLE_OK) << table.error;
        count += shard.live_count;
        bytes += shard.live_bytes;
    }
    EXPECT_EQ(count, live.size());
    uint64_t sum = 0;
    for (const auto &[address, size] : live)
        sum += size;
    EXPECT_EQ(bytes, sum);
}

int stop_at_third(void *ctx, const memleak_table_block_t *) { return ++*static_cast<int *>(ctx) == 3; }

TEST(TableReader, AVisitorStopsTheWalk) {
    Table t;
    for (uint64_t i = 1; i <= 100; ++i)
        t.add(0x20000000 + i * 64, 8, i, 0);
    memleak_table_t table;
    ASSERT_EQ(memleak_table_open(&table, memleak_table_read_self, nullptr, t.address()), MEMLEAK_TABLE_OK);
    int calls = 0;
    EXPECT_EQ(memleak_table_blocks(&table, stop_at_third, &calls), MEMLEAK_TABLE_STOPPED);
    EXPECT_EQ(calls, 3);
}

TEST(TableReader, FindsStacksAndTheirFlags) {
    Table t;
    std::vector<uint64_t> deep(32);
    for (size_t i = 0; i < deep.size(); ++i)
        deep[i] = 0x500000 + i * 16;
    const uint64_t shallow[1] = {0x600000};
    const uint32_t a = t.depot->intern(deep.data(), 32, MEMLEAK_STACK_TRUNCATED);
    const uint32_t b = t.depot->intern(shallow, 1, 0);

    memleak_table_t table;
    ASSERT_EQ(memleak_table_open(&table, memleak_table_read_self, nullptr, t.address()), MEMLEAK_TABLE_OK);
    memleak_table_stack_t st;
    ASSERT_EQ(memleak_table_stack(&table, a, &st), MEMLEAK_TABLE_OK) << table.error;
    EXPECT_EQ(st.depth, 32u);
    EXPECT_EQ(st.flags, MEMLEAK_STACK_TRUNCATED);
    EXPECT_EQ(st.address, reinterpret_cast<uint64_t>(t.depot->find(a)));
    EXPECT_EQ(memcmp(reinterpret_cast<const void *>(st.pcs), deep.data(), 32 * 8), 0);
    ASSERT_EQ(memleak_table_stack(&table, b, &st), MEMLEAK_TABLE_OK) << table.error;
    EXPECT_EQ(st.depth, 1u);
    EXPECT_EQ(st.flags, 0u);
    EXPECT_EQ(*reinterpret_cast<const uint64_t *>(st.pcs), 0x600000u);

    EXPECT_EQ(memleak_table_stack(&table, 0, &st), MEMLEAK_TABLE_ECORRUPT);
    // The word after the shallow stack's frame is no entry yet.
    EXPECT_EQ(memleak_table_stack(&table, b + 2, &st), MEMLEAK_TABLE_ECORRUPT);
    EXPECT_NE(std::string(table.error).find("has depth 0"), std::string::npos) << table.error;
    // An id in a chunk the depot has never had.
    EXPECT_EQ(memleak_table_stack(&table, StackDepot::kWordsPerChunk * 3 + 1, &st), MEMLEAK_TABLE_ECORRUPT);
    EXPECT_NE(std::string(table.error).find("beyond the 1 depot chunks"), std::string::npos) << table.error;
}

TEST(TableReader, FindsAStackInADepotChunkAddedAfterOpen) {
    Table t;
    const uint64_t first[1] = {0x700000};
    t.depot->intern(first, 1, 0);
    memleak_table_t table;
    ASSERT_EQ(memleak_table_open(&table, memleak_table_read_self, nullptr, t.address()), MEMLEAK_TABLE_OK);
    ASSERT_EQ(table.header.stack_chunk_count, 1u);
    // 32-frame stacks take 264 bytes: a 1 MiB chunk holds under 4000.
    std::vector<uint64_t> pcs(32);
    uint32_t last = 0;
    for (uint64_t n = 0; n < 5000; ++n) {
        for (size_t i = 0; i < pcs.size(); ++i)
            pcs[i] = 0x800000 + n * 4096 + i;
        last = t.depot->intern(pcs.data(), 32, 0);
    }
    ASSERT_EQ(t.root->stack_chunk_count, 2u);
    memleak_table_stack_t st;
    ASSERT_EQ(memleak_table_stack(&table, last, &st), MEMLEAK_TABLE_OK) << table.error;
    EXPECT_EQ(memcmp(reinterpret_cast<const void *>(st.pcs), pcs.data(), 32 * 8), 0);
}

// Opens the table through a copy of its root changed by `change`; returns
// the status and the error line.
template <typename Change>
std::pair<int, std::string> open_changed(Table &t, Change change) {
    Source src;
    src.real_root = t.address();
    src.root = *t.root;
    change(src.root);
    memleak_table_t table;
    const int status = memleak_table_open(&table, read_source, &src, t.address());
    return {status, table.error};
}

TEST(TableReader, RefusesARootNoRuntimeWrote) {
    Table t;
    using Root = memleak_introspect_t;
    EXPECT_EQ(open_changed(t, [](Root &r) { r.magic = 0; }).first, MEMLEAK_TABLE_ENOT_READY);
    EXPECT_EQ(open_changed(t, [](Root &r) { r.magic = 0x1234; }).first, MEMLEAK_TABLE_EMAGIC);
    EXPECT_EQ(open_changed(t, [](Root &r) { r.version = 2; }).first, MEMLEAK_TABLE_EVERSION);

    const std::pair<int, std::string> cases[] = {
        open_changed(t, [](Root &r) { r.size = 200; }),
        open_changed(t, [](Root &r) { r.record_offsets[MEMLEAK_RECORD_TID] = 25; }),
        open_changed(t, [](Root &r) { r.shard_size = 8; }),
        open_changed(t, [](Root &r) { r.shard_count = 3; }),
        open_changed(t, [](Root &r) { r.shards += 4; }),
        open_changed(t, [](Root &r) { r.shards = uint64_t{1} << 60; }),
        open_changed(t, [](Root &r) { r.max_depth = 100000; }),
        open_changed(t, [](Root &r) { r.stack_chunk_count = r.max_stack_chunks + 1; }),
        open_changed(t, [](Root &r) { r.tick_ns = 0; }),
        open_changed(t, [](Root &r) { r.record_size = 8192; }),
    };
    const char *const words[] = {
        "memleak_introspect size is 200",
        "memleak_record_t field tid at offset 25, expected 24",
        "memleak_shard_t size is 8",
        "shard_count is 3, not a power of two",
        "is not 8-byte aligned",
        "is not a user-space address",
        "max_depth is 100000",
        "stack_chunk_count is 4097",
        "tick_ns is 0",
        "record size 8192 is more than this reader takes (4096)",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; ++i) {
        EXPECT_EQ(cases[i].first, MEMLEAK_TABLE_ECORRUPT) << words[i];
        EXPECT_NE(cases[i].second.find(words[i]), std::string::npos) << cases[i].second;
    }
}

TEST(TableReader, ARootThatCannotBeReadIsOneStatus) {
    Table t;
    Source src;
    src.real_root = t.address();
    src.root = *t.root;
    src.refused = t.address() + 100;
    memleak_table_t table;
    EXPECT_EQ(memleak_table_open(&table, read_source, &src, t.address()), MEMLEAK_TABLE_EREAD);
    EXPECT_NE(std::string(table.error).find("cannot read 416 bytes at 0x"), std::string::npos) << table.error;
    EXPECT_EQ(memleak_table_open(&table, read_source, &src, 0), MEMLEAK_TABLE_ECORRUPT);
    EXPECT_STREQ(table.error, "memleak_introspect is a null pointer");
}

TEST(TableReader, RefusesShardsAndChunksNoRuntimeWrote) {
    Table t;
    for (uint64_t i = 1; i <= 64 * 40; ++i)
        t.add(0x30000000 + i * 64, 16, i, 0);
    const uint32_t s = AllocTable::shard_of(0x30000000 + 64);
    memleak_shard_t *shard = &t.table->shards()[s];
    ASSERT_GT(shard->chunk_count, 0u);
    auto *dir = reinterpret_cast<uint64_t *>(shard->chunks);

    Source src;
    src.real_root = t.address();
    src.root = *t.root;
    memleak_table_t table;
    ASSERT_EQ(memleak_table_open(&table, read_source, &src, t.address()), MEMLEAK_TABLE_OK) << table.error;
    std::map<uint64_t, memleak_table_block_t> seen;

    // A record chunk that cannot be read.
    src.refused = dir[0] + 100;
    EXPECT_EQ(memleak_table_blocks(&table, collect, &seen), MEMLEAK_TABLE_EREAD);
    src.refused = 0;

    // A chunk directory entry that is no chunk.
    const uint64_t saved = dir[0];
    dir[0] = 0x13;
    EXPECT_EQ(memleak_table_blocks(&table, collect, &seen), MEMLEAK_TABLE_ECORRUPT);
    EXPECT_NE(std::string(table.error).find("record chunk 0x13 is not 8-byte aligned"), std::string::npos)
        << table.error;
    dir[0] = saved;

    // More chunks than the root allows.
    src.root.max_chunks_per_shard = 0;
    ASSERT_EQ(memleak_table_open(&table, read_source, &src, t.address()), MEMLEAK_TABLE_OK) << table.error;
    memleak_shard_t copy;
    EXPECT_EQ(memleak_table_shard(&table, s, &copy), MEMLEAK_TABLE_ECORRUPT);
    EXPECT_NE(std::string(table.error).find("more than max_chunks_per_shard 0"), std::string::npos)
        << table.error;
    EXPECT_EQ(memleak_table_shard(&table, AllocTable::kShardCount, &copy), MEMLEAK_TABLE_ECORRUPT);
}

}  // namespace
}  // namespace memleak
