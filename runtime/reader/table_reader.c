#include "memleak/table_reader.h"

#include <string.h>

/* Returns the status of `expr` unless it is MEMLEAK_TABLE_OK. */
#define TRY(expr)                        \
    do {                                 \
        const int status_ = (expr);      \
        if (status_ != MEMLEAK_TABLE_OK) \
            return status_;              \
    } while (0)

/*
 * Highest user-space address on x86-64 and aarch64 with 5-level / 52-bit
 * page tables; anything above is not a pointer a runtime wrote.
 */
#define kAddressLimit (UINT64_C(1) << 57)

/*
 * Sanity bounds on counts, far above what the runtime uses (the same as
 * the gdb extension's reader.py), so a corrupt count fails fast.
 */
#define kMaxShards (1u << 16)
#define kMaxRecordsPerChunk (1u << 24)
#define kMaxChunksPerShard (1u << 24)
#define kMaxDepth 4096u
#define kMaxStackChunkSize (1u << 28)
#define kMaxStackChunks (1u << 24)
#define kMaxMarks (1u << 16)
#define kMaxStructSize (1u << 16)
#define kMaxTotalRecords (UINT64_C(1) << 32)
#define kMaxTickNs UINT64_C(10000000000)

/*
 * Records are read this many bytes at a time, chunk directories this many
 * entries at a time: a bounded stack, no allocation.
 */
#define kRecordBuffer 4096u
#define kDirBuffer 64u

/*
 * One line into memleak_table_t.error, built without allocating: msg()
 * starts it, the others append.
 */
static void msg_str(memleak_table_t *t, const char *s) {
    size_t n = strlen(t->error);
    while (*s != '\0' && n + 1 < sizeof t->error)
        t->error[n++] = *s++;
    t->error[n] = '\0';
}

static void msg(memleak_table_t *t, const char *s) {
    t->error[0] = '\0';
    msg_str(t, s);
}

static void msg_dec(memleak_table_t *t, uint64_t v) {
    char out[21];
    unsigned k = sizeof out - 1;
    out[k] = '\0';
    do
        out[--k] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    msg_str(t, out + k);
}

static void msg_hex(memleak_table_t *t, uint64_t v) {
    char out[19];
    unsigned k = sizeof out - 1;
    out[k] = '\0';
    do
        out[--k] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    out[--k] = 'x';
    out[--k] = '0';
    msg_str(t, out + k);
}

static int read_at(memleak_table_t *t, uint64_t address, void *buf, size_t n) {
    if (t->read(t->ctx, address, buf, n) == 0)
        return MEMLEAK_TABLE_OK;
    msg(t, "cannot read ");
    msg_dec(t, n);
    msg_str(t, " bytes at ");
    msg_hex(t, address);
    return MEMLEAK_TABLE_EREAD;
}

static int check_pointer(memleak_table_t *t, const char *what, uint64_t address, uint64_t length) {
    if (address == 0) {
        msg(t, what);
        msg_str(t, " is a null pointer");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    if (address % 8 != 0) {
        msg(t, what);
        msg_str(t, " ");
        msg_hex(t, address);
        msg_str(t, " is not 8-byte aligned");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    if (address >= kAddressLimit || length > kAddressLimit - address) {
        msg(t, what);
        msg_str(t, " ");
        msg_hex(t, address);
        msg_str(t, " is not a user-space address");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    return MEMLEAK_TABLE_OK;
}

static int check_bound(memleak_table_t *t, const char *what, uint64_t value, uint64_t low, uint64_t high) {
    if (value >= low && value <= high)
        return MEMLEAK_TABLE_OK;
    msg(t, what);
    msg_str(t, " is ");
    msg_dec(t, value);
    msg_str(t, ", outside ");
    msg_dec(t, low);
    msg_str(t, "..");
    msg_dec(t, high);
    return MEMLEAK_TABLE_ECORRUPT;
}

/*
 * A record type's published size and field offsets agree with abi.h for
 * every field this reader knows; a writer may have appended fields.
 */
static int check_layout(memleak_table_t *t, const char *what, uint32_t size, uint32_t known_size,
                        const uint16_t *offsets, const uint16_t *expected, const char *const *names,
                        unsigned count) {
    if (size < known_size || size > kMaxStructSize || size % 4 != 0) {
        msg(t, what);
        msg_str(t, " size is ");
        msg_dec(t, size);
        msg_str(t, " (this reader knows ");
        msg_dec(t, known_size);
        msg_str(t, ")");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    for (unsigned i = 0; i < count; ++i) {
        if (offsets[i] != expected[i]) {
            msg(t, what);
            msg_str(t, " field ");
            msg_str(t, names[i]);
            msg_str(t, " at offset ");
            msg_dec(t, offsets[i]);
            msg_str(t, ", expected ");
            msg_dec(t, expected[i]);
            return MEMLEAK_TABLE_ECORRUPT;
        }
    }
    return MEMLEAK_TABLE_OK;
}

/* clang-format takes what follows an X-macro expansion for a continuation line. */
/* clang-format off */
#define MEMLEAK_READER_EXPECT(s, type, name, dims, offset, INDEX) \
    expected[count] = offsetof(s, name);                         \
    names[count++] = #name;
#define MEMLEAK_READER_EXPECT_TAIL(s, type, name, dims, offset, INDEX) \
    expected[count] = sizeof(s);                                      \
    names[count++] = #name;
#define MEMLEAK_READER_SKIP(s, type, name, dims, offset)
#define MEMLEAK_READER_CHECK_LAYOUT(s, TYPE, fields, size, size_field, offsets_field)                           \
    {                                                                                                          \
        uint16_t expected[MEMLEAK_##TYPE##_FIELD_COUNT];                                                       \
        const char *names[MEMLEAK_##TYPE##_FIELD_COUNT];                                                       \
        unsigned count = 0;                                                                                    \
        fields(MEMLEAK_READER_EXPECT, MEMLEAK_READER_EXPECT_TAIL, MEMLEAK_READER_SKIP, MEMLEAK_READER_SKIP, s) \
        TRY(check_layout(t, #s, h->size_field, sizeof(s), h->offsets_field, expected, names, count));      \
    }
/* clang-format on */

static int check_header(memleak_table_t *t) {
    const memleak_introspect_t *h = &t->header;
    MEMLEAK_ABI_RECORD_TYPES(MEMLEAK_READER_CHECK_LAYOUT)
    if (h->record_size > kRecordBuffer) {
        msg(t, "record size ");
        msg_dec(t, h->record_size);
        msg_str(t, " is more than this reader takes (");
        msg_dec(t, kRecordBuffer);
        msg_str(t, ")");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    if (h->record_size % 8 != 0 || h->stack_header_size % 8 != 0) {
        msg(t, "record size ");
        msg_dec(t, h->record_size);
        msg_str(t, " or stack header size ");
        msg_dec(t, h->stack_header_size);
        msg_str(t, " is not a multiple of 8");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    const uint32_t sc = h->shard_count;
    if (sc == 0 || sc > kMaxShards || (sc & (sc - 1)) != 0) {
        msg(t, "shard_count is ");
        msg_dec(t, sc);
        msg_str(t, ", not a power of two up to ");
        msg_dec(t, kMaxShards);
        return MEMLEAK_TABLE_ECORRUPT;
    }
    int status;
    if ((status = check_pointer(t, "shard array", h->shards, (uint64_t)sc * h->shard_size)) ||
        (status = check_bound(t, "records_per_chunk", h->records_per_chunk, 1, kMaxRecordsPerChunk)) ||
        (status = check_bound(t, "max_chunks_per_shard", h->max_chunks_per_shard, 0, kMaxChunksPerShard)) ||
        (status = check_bound(t, "max_depth", h->max_depth, 1, kMaxDepth)) ||
        (status = check_bound(t, "max_stack_chunks", h->max_stack_chunks, 0, kMaxStackChunks)) ||
        (status = check_bound(t, "stack_chunk_count", h->stack_chunk_count, 0, h->max_stack_chunks)) ||
        (status = check_bound(t, "mark_capacity", h->mark_capacity, 0, kMaxMarks)) ||
        (status = check_bound(t, "tick_ns", h->tick_ns, 1, kMaxTickNs)))
        return status;
    const uint32_t cs = h->stack_chunk_size;
    if (h->stack_chunk_count != 0 &&
        (cs % 8 != 0 || cs < h->stack_header_size + 8 || cs > kMaxStackChunkSize)) {
        msg(t, "stack_chunk_size is ");
        msg_dec(t, cs);
        msg_str(t, ", not a multiple of 8 between ");
        msg_dec(t, h->stack_header_size + 8);
        msg_str(t, " and ");
        msg_dec(t, kMaxStackChunkSize);
        return MEMLEAK_TABLE_ECORRUPT;
    }
    return MEMLEAK_TABLE_OK;
}

/*
 * The depot grows while a live process runs: a stack id past the chunks
 * seen at open is looked for again in the root's current count.
 */
static int refresh_depot(memleak_table_t *t) {
    struct {
        uint64_t stack_chunks;
        uint32_t stack_chunk_count;
    } now;
    const uint64_t at = t->root + offsetof(memleak_introspect_t, stack_chunks);
    _Static_assert(
        offsetof(memleak_introspect_t, stack_chunk_count) == offsetof(memleak_introspect_t, stack_chunks) + 8,
        "the depot's address and count are read in one piece");
    TRY(read_at(t, at, &now, 12));
    TRY(check_bound(t, "stack_chunk_count", now.stack_chunk_count, 0, t->header.max_stack_chunks));
    if (now.stack_chunk_count != 0 && t->header.stack_chunk_count == 0) {
        const uint32_t cs = t->header.stack_chunk_size;
        if (cs % 8 != 0 || cs < t->header.stack_header_size + 8 || cs > kMaxStackChunkSize) {
            msg(t, "stack_chunk_size is ");
            msg_dec(t, cs);
            msg_str(t, ", not a multiple of 8 between ");
            msg_dec(t, t->header.stack_header_size + 8);
            msg_str(t, " and ");
            msg_dec(t, kMaxStackChunkSize);
            return MEMLEAK_TABLE_ECORRUPT;
        }
    }
    t->header.stack_chunks = now.stack_chunks;
    t->header.stack_chunk_count = now.stack_chunk_count;
    return MEMLEAK_TABLE_OK;
}

int memleak_table_read_self(void *ctx, uint64_t address, void *buf, size_t n) {
    (void)ctx;
    memcpy(buf, (const void *)(uintptr_t)address, n);
    return 0;
}

int memleak_table_open(memleak_table_t *t, memleak_table_read_fn read, void *ctx, uint64_t root) {
    memset(t, 0, sizeof *t);
    t->read = read;
    t->ctx = ctx;
    t->root = root;
    TRY(check_pointer(t, "memleak_introspect", root, sizeof(memleak_introspect_t)));
    struct {
        uint64_t magic;
        uint32_t version;
        uint32_t size;
    } head;
    TRY(read_at(t, root, &head, sizeof head));
    if (head.magic == 0) {
        /* The runtime stores the magic last, once the table is set up. */
        msg(t, "the memleak table at ");
        msg_hex(t, root);
        msg_str(t, " is not set up yet (magic is 0)");
        return MEMLEAK_TABLE_ENOT_READY;
    }
    if (head.magic != MEMLEAK_ABI_MAGIC) {
        msg(t, "not a memleak table: magic at ");
        msg_hex(t, root);
        msg_str(t, " is ");
        msg_hex(t, head.magic);
        return MEMLEAK_TABLE_EMAGIC;
    }
    if (head.version != MEMLEAK_ABI_VERSION) {
        msg(t, "unknown ABI version ");
        msg_dec(t, head.version);
        msg_str(t, " (this reader reads ");
        msg_dec(t, MEMLEAK_ABI_VERSION);
        msg_str(t, ")");
        return MEMLEAK_TABLE_EVERSION;
    }
    if (head.size < sizeof(memleak_introspect_t) || head.size > kMaxStructSize) {
        msg(t, "memleak_introspect size is ");
        msg_dec(t, head.size);
        msg_str(t, ", expected at least ");
        msg_dec(t, sizeof(memleak_introspect_t));
        return MEMLEAK_TABLE_ECORRUPT;
    }
    TRY(read_at(t, root, &t->header, sizeof t->header));
    return check_header(t);
}

uint64_t memleak_table_shard_address(const memleak_table_t *t, uint32_t index) {
    return t->header.shards + (uint64_t)index * t->header.shard_size;
}

/* A shard's chunk count within the header's bound, its directory readable. */
static int check_shard(memleak_table_t *t, uint32_t index, const memleak_shard_t *shard) {
    if (shard->chunk_count > t->header.max_chunks_per_shard) {
        msg(t, "shard ");
        msg_dec(t, index);
        msg_str(t, " has ");
        msg_dec(t, shard->chunk_count);
        msg_str(t, " chunks, more than max_chunks_per_shard ");
        msg_dec(t, t->header.max_chunks_per_shard);
        return MEMLEAK_TABLE_ECORRUPT;
    }
    if (shard->chunk_count != 0)
        return check_pointer(t, "shard chunk directory", shard->chunks, (uint64_t)shard->chunk_count * 8);
    return MEMLEAK_TABLE_OK;
}

int memleak_table_shard(memleak_table_t *t, uint32_t index, memleak_shard_t *out) {
    TRY(check_bound(t, "shard index", index, 0, t->header.shard_count - 1));
    TRY(read_at(t, memleak_table_shard_address(t, index), out, sizeof *out));
    return check_shard(t, index, out);
}

int memleak_table_shard_blocks(memleak_table_t *t, uint32_t index, const memleak_shard_t *shard,
                               memleak_table_visit_fn visit, void *ctx) {
    const memleak_introspect_t *h = &t->header;
    TRY(check_shard(t, index, shard));
    if ((uint64_t)shard->chunk_count * h->records_per_chunk > kMaxTotalRecords) {
        msg(t, "shard ");
        msg_dec(t, index);
        msg_str(t, " has ");
        msg_dec(t, shard->chunk_count);
        msg_str(t, " chunks of ");
        msg_dec(t, h->records_per_chunk);
        msg_str(t, " records, more than any process holds");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    const uint32_t size = h->record_size;
    const uint64_t chunk_bytes = (uint64_t)h->records_per_chunk * size;
    const uint32_t per_read = (uint32_t)(kRecordBuffer / size);
    _Alignas(8) unsigned char records[kRecordBuffer];
    uint64_t dir[kDirBuffer];
    for (uint32_t first = 0; first < shard->chunk_count; first += kDirBuffer) {
        const uint32_t n = shard->chunk_count - first < kDirBuffer ? shard->chunk_count - first : kDirBuffer;
        TRY(read_at(t, shard->chunks + (uint64_t)first * 8, dir, n * sizeof dir[0]));
        for (uint32_t c = 0; c < n; ++c) {
            TRY(check_pointer(t, "record chunk", dir[c], chunk_bytes));
            for (uint32_t r = 0; r < h->records_per_chunk; r += per_read) {
                const uint32_t count =
                    h->records_per_chunk - r < per_read ? h->records_per_chunk - r : per_read;
                TRY(read_at(t, dir[c] + (uint64_t)r * size, records, (size_t)count * size));
                for (uint32_t i = 0; i < count; ++i) {
                    memleak_record_t rec;
                    memcpy(&rec, records + (size_t)i * size, sizeof rec);
                    if (rec.address == 0)
                        continue;
                    const memleak_table_block_t block = {rec.address,
                                                         rec.size_lo | (uint64_t)rec.size_hi << 32,
                                                         rec.seq_lo | (uint64_t)rec.seq_hi << 32,
                                                         rec.ticks,
                                                         rec.tid,
                                                         rec.stack_id,
                                                         index};
                    if (visit(ctx, &block) != 0) {
                        msg(t, "the walk was stopped");
                        return MEMLEAK_TABLE_STOPPED;
                    }
                }
            }
        }
    }
    return MEMLEAK_TABLE_OK;
}

int memleak_table_blocks(memleak_table_t *t, memleak_table_visit_fn visit, void *ctx) {
    for (uint32_t s = 0; s < t->header.shard_count; ++s) {
        memleak_shard_t shard;
        TRY(memleak_table_shard(t, s, &shard));
        TRY(memleak_table_shard_blocks(t, s, &shard, visit, ctx));
    }
    return MEMLEAK_TABLE_OK;
}

int memleak_table_stack(memleak_table_t *t, uint32_t id, memleak_table_stack_t *out) {
    const memleak_introspect_t *h = &t->header;
    if (id == 0) {
        msg(t, "stack id 0 names no stack");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    if (h->stack_chunk_count == 0 || (id - 1) / (h->stack_chunk_size / 8) >= h->stack_chunk_count) {
        TRY(refresh_depot(t));
    }
    if (h->stack_chunk_count == 0) {
        msg(t, "stack id ");
        msg_dec(t, id);
        msg_str(t, " but the stack depot is empty");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    const uint64_t words = h->stack_chunk_size / 8;
    const uint64_t chunk = (id - 1) / words, word = (id - 1) % words;
    if (chunk >= h->stack_chunk_count) {
        msg(t, "stack id ");
        msg_dec(t, id);
        msg_str(t, " is beyond the ");
        msg_dec(t, h->stack_chunk_count);
        msg_str(t, " depot chunks");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    TRY(check_pointer(t, "stack chunk directory", h->stack_chunks, (uint64_t)h->stack_chunk_count * 8));
    uint64_t base;
    TRY(read_at(t, h->stack_chunks + chunk * 8, &base, sizeof base));
    TRY(check_pointer(t, "stack chunk", base, h->stack_chunk_size));
    const uint64_t off = word * 8;
    if (off + h->stack_header_size > h->stack_chunk_size) {
        msg(t, "stack id ");
        msg_dec(t, id);
        msg_str(t, ": header crosses its chunk");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    memleak_stack_t head;
    TRY(read_at(t, base + off, &head, sizeof head));
    if (head.depth == 0 || head.depth > h->max_depth) {
        msg(t, "stack id ");
        msg_dec(t, id);
        msg_str(t, " has depth ");
        msg_dec(t, head.depth);
        msg_str(t, " (max_depth ");
        msg_dec(t, h->max_depth);
        msg_str(t, ")");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    const uint64_t start = off + h->stack_header_size;
    if (start + (uint64_t)head.depth * 8 > h->stack_chunk_size) {
        msg(t, "stack id ");
        msg_dec(t, id);
        msg_str(t, ": ");
        msg_dec(t, head.depth);
        msg_str(t, " frames cross its chunk");
        return MEMLEAK_TABLE_ECORRUPT;
    }
    out->address = base + off;
    out->pcs = base + start;
    out->depth = head.depth;
    out->flags = head.flags;
    return MEMLEAK_TABLE_OK;
}
