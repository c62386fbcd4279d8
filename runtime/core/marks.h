// The marks table (marks.cpp): named points in the allocation sequence,
// published in the root and written by memleak_mark().
#pragma once

#include <cstdint>

#include "memleak/abi.h"

namespace memleak {

// Publishes the table in `root`.
void init_marks(memleak_introspect_t *root);

// Stores the last sequence number issued under `name`; returns it, or 0
// when the table is full.
uint64_t set_mark(const char *name);

}  // namespace memleak
