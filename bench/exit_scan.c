/*
 * Workload of the exit-scan benchmark (bench/exit_scan.py drives it).
 *
 *   exit_scan bandwidth MIB        reads MIB MiB of memory as 64-bit words,
 *                                  five times, and prints the best rate:
 *                                  "read_bytes_per_s N" (the machine's
 *                                  memory bandwidth for one thread, the
 *                                  scan's own access pattern, per second
 *                                  of CPU time)
 *   exit_scan heap BLOCKS BYTES    allocates BLOCKS blocks of BYTES bytes,
 *                                  each holding a pointer to the next and
 *                                  other words that point nowhere; a global
 *                                  holds the first. One block in a hundred
 *                                  is cut out of the chain (lost). Then it
 *                                  exits, and the runtime's exit scan reads
 *                                  every reachable block.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread: the scan's rate is taken the same way, so both
 * hold on a machine other work shares. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bandwidth(size_t mib) {
    const size_t words = mib * 1024 * 1024 / 8;
    uint64_t *buf = malloc(words * 8);
    if (buf == NULL)
        return 1;
    for (size_t i = 0; i < words; ++i)
        buf[i] = i * 0x9e3779b97f4a7c15u;
    double best = 0;
    uint64_t sum = 0;
    for (int round = 0; round < 5; ++round) {
        const double t0 = now_s();
        for (size_t i = 0; i < words; ++i)
            sum += buf[i];
        const double rate = (double)(words * 8) / (now_s() - t0);
        if (rate > best)
            best = rate;
    }
    printf("read_bytes_per_s %.0f checksum %llu\n", best, (unsigned long long)(sum & 1));
    free(buf);
    return 0;
}

void **volatile g_head;

static int heap(size_t blocks, size_t bytes) {
    if (bytes < 16)
        bytes = 16;
    void **prev = NULL;
    for (size_t i = 0; i < blocks; ++i) {
        uint64_t *b = malloc(bytes);
        if (b == NULL)
            return 1;
        for (size_t w = 1; w < bytes / 8; ++w)
            b[w] = (i * 131 + w) * 0x9e3779b97f4a7c15u; /* no heap address */
        b[0] = 0;
        if (i % 100 == 99)
            continue; /* never linked: lost */
        if (prev != NULL)
            prev[0] = b;
        else
            g_head = (void **)b;
        prev = (void **)b;
    }
    printf("heap of %zu blocks of %zu bytes built\n", blocks, bytes);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "bandwidth") == 0)
        return bandwidth(strtoull(argv[2], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "heap") == 0)
        return heap(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: exit_scan bandwidth MIB | exit_scan heap BLOCKS BYTES\n");
    return 2;
}
