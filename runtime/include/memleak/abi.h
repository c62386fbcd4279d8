/*
 * memleak introspection ABI, version 1.
 *
 * The runtime exports exactly one object, `memleak_introspect`, of type
 * `memleak_introspect_t`. A reader (the gdb extension, or the runtime's
 * own exit report) finds it by symbol and walks everything else from it by
 * plain memory reads, so a live process and a core file read the same.
 *
 * Types carry a `_t` suffix so that no type shares a name with the object
 * `memleak_introspect` or the function `memleak_mark` (a debugger looking
 * up the object must not find a typedef instead).
 *
 * Rules that keep a reader from another build working:
 *   - Fixed-width fields only, no bitfields, no pointers as C pointers:
 *     addresses are uint64_t. Little-endian x86-64 and aarch64 only.
 *   - Every field is declared once, in abi_fields.inc (the structs, the
 *     index enums and the offset assertions below are generated from it);
 *     the root publishes every record type's size and field offsets, so a
 *     reader can check or follow them.
 *   - Fields are only ever appended (into the reserved space, or by growing
 *     `size` and the record sizes). A change that moves a field or changes
 *     its meaning must bump MEMLEAK_ABI_VERSION. abi_fields.inc says how.
 *
 * Consistency: a record is written completely before its `address` is
 * stored (release order); `address == 0` marks an unused slot. A stack is
 * written completely before its id can appear in any record. A reader that
 * finds a nonzero lock word has stopped the process inside a critical
 * section: it reads the shard anyway and reports it as "in flux" (at worst
 * one block that was being recorded or freed is missing or still present).
 */
#ifndef MEMLEAK_ABI_H
#define MEMLEAK_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every field, constant and size: the lists abi.h is generated from. */
#include "memleak/abi_fields.inc"

/* One struct member per F, P and R row, in order (a tail is no member). */
/* clang-format takes what follows an X-macro expansion for a continuation line. */
/* clang-format off */
#define MEMLEAK_ABI_FIELD_MEMBER(c, type, name, dims, offset, INDEX) type name dims;
#define MEMLEAK_ABI_MEMBER(c, type, name, dims, offset) type name dims;
#define MEMLEAK_ABI_NOTHING(c, type, name, dims, offset, INDEX)
#define MEMLEAK_ABI_DEFINE_STRUCT(s, fields)                                                   \
    typedef struct s {                                                                         \
        fields(MEMLEAK_ABI_FIELD_MEMBER, MEMLEAK_ABI_NOTHING, MEMLEAK_ABI_MEMBER,              \
               MEMLEAK_ABI_MEMBER, s)                                                          \
    } s;
#define MEMLEAK_ABI_DEFINE_RECORD_STRUCT(s, TYPE, fields, size, size_field, offsets_field) \
    MEMLEAK_ABI_DEFINE_STRUCT(s, fields)
MEMLEAK_ABI_RECORD_TYPES(MEMLEAK_ABI_DEFINE_RECORD_STRUCT)
MEMLEAK_ABI_DEFINE_STRUCT(memleak_introspect_t, MEMLEAK_INTROSPECT_FIELDS)

/*
 * Indices into the root's layout arrays, one per F and T row in order
 * (record_offsets[MEMLEAK_RECORD_TID], ...), then MEMLEAK_<TYPE>_FIELD_COUNT.
 */
#define MEMLEAK_ABI_INDEX(TYPE, INDEX) MEMLEAK_##TYPE##_##INDEX
#define MEMLEAK_ABI_INDEX_ENTRY(TYPE, type, name, dims, offset, INDEX) MEMLEAK_ABI_INDEX(TYPE, INDEX),
#define MEMLEAK_ABI_NO_INDEX(TYPE, type, name, dims, offset)
#define MEMLEAK_ABI_DEFINE_INDICES(s, TYPE, fields, size, size_field, offsets_field)           \
    enum {                                                                                     \
        fields(MEMLEAK_ABI_INDEX_ENTRY, MEMLEAK_ABI_INDEX_ENTRY, MEMLEAK_ABI_NO_INDEX,         \
               MEMLEAK_ABI_NO_INDEX, TYPE) MEMLEAK_##TYPE##_FIELD_COUNT                        \
    };
MEMLEAK_ABI_RECORD_TYPES(MEMLEAK_ABI_DEFINE_INDICES)
/* clang-format on */

/* The root object itself, defined by libmemleak.so. */
extern memleak_introspect_t memleak_introspect;

#ifdef __cplusplus
} /* extern "C" */
#endif

#if defined(__cplusplus)
#define MEMLEAK_ABI_ASSERT(e, m) static_assert(e, m)
#else
#define MEMLEAK_ABI_ASSERT(e, m) _Static_assert(e, m)
#endif

/*
 * The layout is the contract: every offset and size in abi_fields.inc is
 * what the compiler lays out, and every record type's indices fit the
 * root's offsets array for it.
 */
/* clang-format takes what follows an X-macro expansion for a continuation line. */
/* clang-format off */
#define MEMLEAK_ABI_PIN_FIELD(s, type, name, dims, offset, INDEX) \
    MEMLEAK_ABI_ASSERT(offsetof(s, name) == (offset), #s "." #name " is not at " #offset);
#define MEMLEAK_ABI_PIN(s, type, name, dims, offset) \
    MEMLEAK_ABI_ASSERT(offsetof(s, name) == (offset), #s "." #name " is not at " #offset);
#define MEMLEAK_ABI_PIN_TAIL(s, type, name, dims, offset, INDEX) \
    MEMLEAK_ABI_ASSERT(sizeof(s) == (offset), #s "." #name " does not start at its end");
#define MEMLEAK_ABI_PIN_RECORD(s, TYPE, fields, size, size_field, offsets_field)                   \
    fields(MEMLEAK_ABI_PIN_FIELD, MEMLEAK_ABI_PIN_TAIL, MEMLEAK_ABI_PIN, MEMLEAK_ABI_PIN, s)      \
    MEMLEAK_ABI_ASSERT(sizeof(s) == (size), #s " is not " #size " bytes");                        \
    MEMLEAK_ABI_ASSERT(MEMLEAK_##TYPE##_FIELD_COUNT * sizeof(uint16_t) <=                          \
                           sizeof(((memleak_introspect_t *)0)->offsets_field),                     \
                       #offsets_field " has no room for every field of " #s);
MEMLEAK_ABI_RECORD_TYPES(MEMLEAK_ABI_PIN_RECORD)
MEMLEAK_INTROSPECT_FIELDS(MEMLEAK_ABI_PIN_FIELD, MEMLEAK_ABI_PIN_TAIL, MEMLEAK_ABI_PIN,
                          MEMLEAK_ABI_PIN, memleak_introspect_t)
MEMLEAK_ABI_ASSERT(sizeof(memleak_introspect_t) == MEMLEAK_INTROSPECT_SIZE, "introspect size");
/* clang-format on */

#endif /* MEMLEAK_ABI_H */
