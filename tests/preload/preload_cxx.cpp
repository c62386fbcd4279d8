// operator new under the runtime: recorded at the program's `new` (frame #0
// in the calling function, not in libstdc++), right sizes, alignment kept,
// and on failure libstdc++'s own new_handler / bad_alloc / nothrow rules.
// Also run without the runtime, where only the libstdc++ checks apply.
#include <cstdint>
#include <new>

#include "introspect_walk.h"

namespace {

const memleak_introspect_t *ix;

struct alignas(256) Wide {
    char bytes[300];
};

int handler_calls;
void counting_handler() {
    ++handler_calls;
    std::set_new_handler(nullptr);  // the next failure throws
}

}  // namespace

void *volatile sink[8];

extern "C" __attribute__((noinline)) void cxx_allocations() {
    sink[0] = new int(7);
    sink[1] = new char[100];
    sink[2] = new (std::nothrow) double[3];
    sink[3] = new Wide;
    sink[4] = new Wide[2];
    sink[5] = new (std::nothrow) Wide;
    sink[6] = new char[0];
}

int main() {
    ix = ml_root();
    uint64_t c0 = 0, b0 = 0, c1 = 0, b1 = 0;
    if (ix)
        ml_totals(ix, &c0, &b0);
    cxx_allocations();
    const uint64_t sizes[7] = {sizeof(int),  100, 3 * sizeof(double), sizeof(Wide), 2 * sizeof(Wide),
                               sizeof(Wide), 0};
    for (int i = 3; i <= 5; ++i)
        ML_CHECK(reinterpret_cast<uintptr_t>(sink[i]) % alignof(Wide) == 0);
    ML_CHECK(sink[6] != nullptr && sink[6] != sink[1]);
    if (ix) {
        ml_totals(ix, &c1, &b1);
        uint64_t want = 0;
        for (uint64_t s : sizes)
            want += s;
        ML_CHECK(c1 - c0 == 7);
        ML_CHECK(b1 - b0 == want);
        for (int i = 0; i < 7; ++i) {
            memleak_record_t r;
            ML_CHECK(ml_find(ix, sink[i], &r));
            ML_CHECK(ml_size(&r) == sizes[i]);
            ML_CHECK(ml_allocated_in(ix, sink[i], reinterpret_cast<const void *>(&cxx_allocations)));
        }
    }
    delete static_cast<int *>(sink[0]);
    delete[] static_cast<char *>(sink[1]);
    delete[] static_cast<double *>(sink[2]);
    delete static_cast<Wide *>(sink[3]);
    delete[] static_cast<Wide *>(sink[4]);
    delete static_cast<Wide *>(sink[5]);
    delete[] static_cast<char *>(sink[6]);
    if (ix) {
        ml_totals(ix, &c1, &b1);
        ML_CHECK(c1 == c0 && b1 == b0);
    }

    // Failure: libstdc++ calls the new_handler, then throws bad_alloc.
    const std::size_t huge = SIZE_MAX / 4;
    bool threw = false;
    std::set_new_handler(counting_handler);
    try {
        sink[7] = new char[huge];
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    ML_CHECK(threw);
    ML_CHECK(handler_calls == 1);
    threw = false;
    try {
        sink[7] = ::operator new(huge, std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    ML_CHECK(threw);
    ML_CHECK(new (std::nothrow) char[huge] == nullptr);
    ML_CHECK(::operator new(huge, std::align_val_t(64), std::nothrow) == nullptr);
    if (ix) {
        ml_totals(ix, &c1, &b1);
        ML_CHECK(c1 == c0 && b1 == b0);
        ml_check_consistent(ix);
    }
    return ml_failures ? 1 : 0;
}
