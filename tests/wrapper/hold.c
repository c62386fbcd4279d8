/* `hold COUNT` keeps COUNT blocks live from two call sites, prints
 * "ready pid N", then allocates nothing more until stdin closes: a table
 * that stays the same between two reads. `hold COUNT exit` leaves them
 * live at exit instead. The tests read the lines from the marks below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static void *small_block(size_t i) { return malloc(16 + i % 48); /* HOLD_SMALL */ }

__attribute__((noinline)) static void *page_block(void) { return calloc(1, 4096); /* HOLD_PAGE */ }

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000;
    void **kept = calloc((size_t)count + 1, sizeof(void *)); /* HOLD_INDEX */
    if (kept == NULL)
        return 1;
    for (long i = 0; i < count; ++i)
        kept[i] = i % 100 == 0 ? page_block() : small_block((size_t)i);
    if (argc > 2 && strcmp(argv[2], "exit") == 0)
        return 0;
    printf("ready pid %d\n", (int)getpid());
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
