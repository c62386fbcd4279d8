#include <cstddef>
#include <cstring>

#include "core/export.h"
#include "core/tracker.h"
#include "memleak/abi.h"

// The C symbol `memleak_introspect` cannot be spelled as a C++ variable in
// a file that sees abi.h's typedef of the same name, hence the asm label.
extern "C" MEMLEAK_EXPORT memleak_introspect g_memleak_introspect __asm__("memleak_introspect");
memleak_introspect g_memleak_introspect;

namespace memleak {

memleak_introspect *introspect_root() { return &g_memleak_introspect; }

void publish_layout(memleak_introspect *root) {
    root->version = MEMLEAK_ABI_VERSION;
    root->size = sizeof(memleak_introspect);
    root->record_size = sizeof(memleak_record);
    root->shard_size = sizeof(memleak_shard);
    root->stack_header_size = sizeof(memleak_stack);
    root->mark_size = sizeof(memleak_mark);

    root->record_offsets[MEMLEAK_RECORD_ADDRESS] = offsetof(memleak_record, address);
    root->record_offsets[MEMLEAK_RECORD_SIZE_LO] = offsetof(memleak_record, size_lo);
    root->record_offsets[MEMLEAK_RECORD_SIZE_HI] = offsetof(memleak_record, size_hi);
    root->record_offsets[MEMLEAK_RECORD_SEQ_HI] = offsetof(memleak_record, seq_hi);
    root->record_offsets[MEMLEAK_RECORD_SEQ_LO] = offsetof(memleak_record, seq_lo);
    root->record_offsets[MEMLEAK_RECORD_TICKS] = offsetof(memleak_record, ticks);
    root->record_offsets[MEMLEAK_RECORD_TID] = offsetof(memleak_record, tid);
    root->record_offsets[MEMLEAK_RECORD_STACK_ID] = offsetof(memleak_record, stack_id);

    root->shard_offsets[MEMLEAK_SHARD_LOCK] = offsetof(memleak_shard, lock);
    root->shard_offsets[MEMLEAK_SHARD_CHUNK_COUNT] = offsetof(memleak_shard, chunk_count);
    root->shard_offsets[MEMLEAK_SHARD_CHUNKS] = offsetof(memleak_shard, chunks);
    root->shard_offsets[MEMLEAK_SHARD_LIVE_COUNT] = offsetof(memleak_shard, live_count);
    root->shard_offsets[MEMLEAK_SHARD_LIVE_BYTES] = offsetof(memleak_shard, live_bytes);
    root->shard_offsets[MEMLEAK_SHARD_ALLOCS] = offsetof(memleak_shard, allocs);
    root->shard_offsets[MEMLEAK_SHARD_FREES] = offsetof(memleak_shard, frees);
    root->shard_offsets[MEMLEAK_SHARD_LAST_TICKS] = offsetof(memleak_shard, last_ticks);

    root->stack_offsets[MEMLEAK_STACK_HASH] = offsetof(memleak_stack, hash);
    root->stack_offsets[MEMLEAK_STACK_DEPTH] = offsetof(memleak_stack, depth);
    root->stack_offsets[MEMLEAK_STACK_FLAGS] = offsetof(memleak_stack, flags);
    root->stack_offsets[MEMLEAK_STACK_PCS] = sizeof(memleak_stack);

    root->mark_offsets[MEMLEAK_MARK_NAME] = offsetof(memleak_mark, name);
    root->mark_offsets[MEMLEAK_MARK_SEQ] = offsetof(memleak_mark, seq);
    root->mark_offsets[MEMLEAK_MARK_TICKS] = offsetof(memleak_mark, ticks);
    root->mark_offsets[MEMLEAK_MARK_STATE] = offsetof(memleak_mark, state);

    memcpy(root->runtime_version, "1.0.0", sizeof("1.0.0"));
}

}  // namespace memleak
