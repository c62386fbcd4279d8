// Stack capture for allocation records. The backend is libunwind's
// unw_backtrace with a per-thread cache of unwind info.
#pragma once

#include <cstdint>

#include "core/options.h"

namespace memleak::unwind {

// Sets libunwind's caching policy and finds the text ranges to strip (this
// library's and libunwind's). Call once, before the first capture.
void init();

// Frames above the program's that may belong to the runtime (hook, tracker,
// capture, libunwind), unwound on top of the ones kept.
constexpr uint32_t kRuntimeFrames = 8;
// Room a capture buffer needs: kept frames, runtime frames, and one more to
// tell whether the stack was truncated.
constexpr uint32_t kCaptureCapacity = kMaxDepthLimit + kRuntimeFrames + 1;

// Unwinds the calling thread into `buf` (kCaptureCapacity entries) and
// returns the number of frames kept, at most `max_depth`; they start at
// buf[*first], innermost first, with the program's call to malloc or
// operator new. Sets *truncated when deeper frames existed.
uint32_t capture(uint64_t *buf, uint32_t max_depth, uint32_t *first, bool *truncated);

}  // namespace memleak::unwind
