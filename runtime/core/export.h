#pragma once

// The library is built with hidden visibility; only what carries this macro
// (memleak_introspect, memleak_mark, memleak_report, the interposed allocator
// symbols)
// leaves libmemleak.so.
#define MEMLEAK_EXPORT __attribute__((visibility("default")))
