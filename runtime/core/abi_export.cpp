#include "core/abi_export.h"

#include <cstddef>
#include <cstring>

#include "core/export.h"
#include "memleak/abi.h"

extern "C" MEMLEAK_EXPORT memleak_introspect_t memleak_introspect;
memleak_introspect_t memleak_introspect;

namespace memleak {

// Each record type's size and the offset of each of its fields, as
// abi_fields.inc lists them, so a reader can check what it expects. The
// offsets go out in row order, which is the order of the index enums.
// clang-format takes what follows an X-macro expansion for a continuation line.
// clang-format off
#define MEMLEAK_PUBLISH_FIELD(s, type, name, dims, offset, INDEX) offsets[i++] = offsetof(s, name);
#define MEMLEAK_PUBLISH_TAIL(s, type, name, dims, offset, INDEX) offsets[i++] = sizeof(s);
#define MEMLEAK_PUBLISH_NOTHING(s, type, name, dims, offset)
#define MEMLEAK_PUBLISH_RECORD(s, TYPE, fields, size, size_field, offsets_field)                 \
    {                                                                                          \
        uint16_t *offsets = root->offsets_field;                                               \
        unsigned i = 0;                                                                        \
        root->size_field = sizeof(s);                                                          \
        fields(MEMLEAK_PUBLISH_FIELD, MEMLEAK_PUBLISH_TAIL, MEMLEAK_PUBLISH_NOTHING,           \
               MEMLEAK_PUBLISH_NOTHING, s)                                                     \
    }
// clang-format on

void publish_layout(memleak_introspect_t *root) {
    root->version = MEMLEAK_ABI_VERSION;
    root->size = sizeof(memleak_introspect_t);
    MEMLEAK_ABI_RECORD_TYPES(MEMLEAK_PUBLISH_RECORD)
    // MEMLEAK_VERSION is the project's version, given by CMake.
    static_assert(sizeof(MEMLEAK_VERSION) <= sizeof(root->runtime_version), "runtime_version has room");
    memcpy(root->runtime_version, MEMLEAK_VERSION, sizeof(MEMLEAK_VERSION));
}

}  // namespace memleak
