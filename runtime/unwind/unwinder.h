// Stack capture for allocation records. The backend is libunwind's
// unw_backtrace with a per-thread cache of unwind info.
#pragma once

#include <cstdint>

namespace memleak::unwind {

// Sets libunwind's caching policy and finds the text ranges to strip (this
// library's and libunwind's). Call once, before the first capture.
void init();

// Fills `pcs` with up to `max_depth` return addresses of the calling
// thread, innermost first, starting at the first frame outside the runtime
// (the program's call to malloc or operator new). Sets *truncated when
// deeper frames existed. Returns the number of frames stored.
uint32_t capture(uint64_t *pcs, uint32_t max_depth, bool *truncated);

}  // namespace memleak::unwind
