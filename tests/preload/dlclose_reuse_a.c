/* Library A of dlclose_reuse (see dlclose_reuse_lib.h): an 8-byte frame,
 * nine one-byte nops where B clears its slot. */
#include "dlclose_reuse_lib.h"

DLCLOSE_REUSE_LIBRARY(8, "    .skip 9, 0x90\n");
