// Shared by the C and C++ entry points: allocate through the real function,
// then let the tracker record the block. The recorded size is what the
// program asked for, which operator new may have adjusted before calling.
#pragma once

#include <cstddef>

namespace memleak {

void *hooked_malloc(size_t size, size_t recorded_size);
void *hooked_aligned_alloc(size_t alignment, size_t size, size_t recorded_size);

}  // namespace memleak
