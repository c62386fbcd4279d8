#include <cstddef>
#include <cstring>

#include "core/export.h"
#include "core/tracker.h"
#include "memleak/abi.h"

extern "C" MEMLEAK_EXPORT memleak_introspect_t memleak_introspect;
memleak_introspect_t memleak_introspect;

namespace memleak {

void publish_layout(memleak_introspect_t *root) {
    root->version = MEMLEAK_ABI_VERSION;
    root->size = sizeof(memleak_introspect_t);
    root->record_size = sizeof(memleak_record_t);
    root->shard_size = sizeof(memleak_shard_t);
    root->stack_header_size = sizeof(memleak_stack_t);
    root->mark_size = sizeof(memleak_mark_t);

    root->record_offsets[MEMLEAK_RECORD_ADDRESS] = offsetof(memleak_record_t, address);
    root->record_offsets[MEMLEAK_RECORD_SIZE_LO] = offsetof(memleak_record_t, size_lo);
    root->record_offsets[MEMLEAK_RECORD_SIZE_HI] = offsetof(memleak_record_t, size_hi);
    root->record_offsets[MEMLEAK_RECORD_SEQ_HI] = offsetof(memleak_record_t, seq_hi);
    root->record_offsets[MEMLEAK_RECORD_SEQ_LO] = offsetof(memleak_record_t, seq_lo);
    root->record_offsets[MEMLEAK_RECORD_TICKS] = offsetof(memleak_record_t, ticks);
    root->record_offsets[MEMLEAK_RECORD_TID] = offsetof(memleak_record_t, tid);
    root->record_offsets[MEMLEAK_RECORD_STACK_ID] = offsetof(memleak_record_t, stack_id);

    root->shard_offsets[MEMLEAK_SHARD_LOCK] = offsetof(memleak_shard_t, lock);
    root->shard_offsets[MEMLEAK_SHARD_CHUNK_COUNT] = offsetof(memleak_shard_t, chunk_count);
    root->shard_offsets[MEMLEAK_SHARD_CHUNKS] = offsetof(memleak_shard_t, chunks);
    root->shard_offsets[MEMLEAK_SHARD_LIVE_COUNT] = offsetof(memleak_shard_t, live_count);
    root->shard_offsets[MEMLEAK_SHARD_LIVE_BYTES] = offsetof(memleak_shard_t, live_bytes);
    root->shard_offsets[MEMLEAK_SHARD_ALLOCS] = offsetof(memleak_shard_t, allocs);
    root->shard_offsets[MEMLEAK_SHARD_FREES] = offsetof(memleak_shard_t, frees);
    root->shard_offsets[MEMLEAK_SHARD_LAST_TICKS] = offsetof(memleak_shard_t, last_ticks);

    root->stack_offsets[MEMLEAK_STACK_HASH] = offsetof(memleak_stack_t, hash);
    root->stack_offsets[MEMLEAK_STACK_DEPTH] = offsetof(memleak_stack_t, depth);
    root->stack_offsets[MEMLEAK_STACK_FLAGS] = offsetof(memleak_stack_t, flags);
    root->stack_offsets[MEMLEAK_STACK_PCS] = sizeof(memleak_stack_t);

    root->mark_offsets[MEMLEAK_MARK_NAME] = offsetof(memleak_mark_t, name);
    root->mark_offsets[MEMLEAK_MARK_SEQ] = offsetof(memleak_mark_t, seq);
    root->mark_offsets[MEMLEAK_MARK_TICKS] = offsetof(memleak_mark_t, ticks);
    root->mark_offsets[MEMLEAK_MARK_STATE] = offsetof(memleak_mark_t, state);

    memcpy(root->runtime_version, "1.0.0", sizeof("1.0.0"));
}

}  // namespace memleak
