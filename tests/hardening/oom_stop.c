/* Leaves the runtime without memory for its bookkeeping: the heap is grown
 * and kept, then the address space is capped near its size, so small
 * mallocs still succeed while the runtime's own mmaps fail. Then it lifts
 * the cap, allocates once more, prints "stopped", waits for a line on
 * stdin (a debugger may look meanwhile) and exits with its blocks live. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define MAX_BLOCKS 600000

int main(void) {
    void **blocks = malloc(MAX_BLOCKS * sizeof(void *));
    if (!blocks)
        return 2;
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_THRESHOLD, 1 << 25);
    void *volatile pool[4096];
    for (int i = 0; i < 4096; ++i)
        pool[i] = malloc(8192);
    for (int i = 0; i < 4096; ++i)
        free(pool[i]);
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu", &pages) != 1)
        return 2;
    fclose(f);
    struct rlimit lim = {pages * 4096ul + (256ul << 10), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        return 2;
    unsigned n = 0;
    while (n < MAX_BLOCKS && (blocks[n] = malloc(24)) != NULL)
        ++n;
    lim.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_AS, &lim);
    blocks[0] = malloc(1000);
    printf("stopped\n");
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL)
        return 3;
    return 0;
}
