#pragma once

#include <cstdint>

namespace memleak {

// splitmix64's finalizer: every input bit reaches every output bit, so both
// the top bits (shard choice) and the low bits (index slot) are well spread
// even though heap addresses share their low four bits and high bytes.
inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

}  // namespace memleak
