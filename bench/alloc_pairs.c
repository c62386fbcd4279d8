/* The workload of bench_alloc_cost: malloc/free pairs issued from a given
 * call depth. Prints the nanoseconds per pair. Run natively and under the
 * runtime by bench_alloc_cost, which reports the difference. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile sink;
static volatile int depth_guard;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static double pairs(long n) {
    const double t0 = now_ns();
    for (long i = 0; i < n; ++i) {
        sink = malloc(64);
        free(sink);
    }
    return (now_ns() - t0) / (double)n;
}

/* Each level adds one frame; the result is used after the call, so the
 * compiler cannot turn the recursion into a loop or a tail call. */
__attribute__((noinline)) static double descend(int levels, long n) {
    if (levels <= 0)
        return pairs(n);
    const double r = descend(levels - 1, n);
    depth_guard += levels;
    return r;
}

int main(int argc, char **argv) {
    /* Frames below ours: main, __libc_start_call_main, __libc_start_main,
     * _start; pairs() is one more. */
    const int depth = argc > 1 ? atoi(argv[1]) : 20;
    const long n = argc > 2 ? atol(argv[2]) : 1000000;
    const int levels = depth > 6 ? depth - 6 : 0;
    descend(levels, n / 10); /* warm-up: libunwind's cache, the depot */
    printf("%.1f\n", descend(levels, n));
    return 0;
}
