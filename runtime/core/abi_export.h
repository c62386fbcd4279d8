// The exported root object, memleak_introspect (abi_export.cpp), and the
// layout it publishes for readers.
#pragma once

#include "memleak/abi.h"

namespace memleak {

// Fills version, size, runtime_version and every record type's size and
// field offsets, from abi_fields.inc.
void publish_layout(memleak_introspect_t *root);

}  // namespace memleak
