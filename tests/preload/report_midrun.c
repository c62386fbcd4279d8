/*
 * memleak_report() called from the main thread while four threads allocate
 * and free as fast as they can. The blocks marked `LEAK:` are live at the
 * call; the churning threads' blocks come and go. Prints the return values
 * of the calls it makes, for the test to check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memleak/memleak.h"

void *volatile sink[8];
static volatile int stop;

static void *churn(void *arg) {
    unsigned n = (unsigned)(size_t)arg;
    void *held[16] = {0};
    while (!stop) {
        for (unsigned i = 0; i < 16; ++i) {
            free(held[i]);
            held[i] = malloc(16 + (n * 16 + i) % 200);
        }
    }
    for (unsigned i = 0; i < 16; ++i)
        free(held[i]);
    return NULL;
}

/* Not a constant, so the loop keeps one call site instead of two. */
volatile int keep_count = 2;

__attribute__((noinline)) static void keep_two(void) {
    for (int i = 0; i < keep_count; ++i)
        sink[i] = malloc(4321); /* LEAK: midrun bytes=8642 blocks=2 */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: report_midrun REPORT_PATH BAD_PATH\n");
        return 2;
    }
    pthread_t th[4];
    for (size_t i = 0; i < 4; ++i)
        pthread_create(&th[i], NULL, churn, (void *)i);
    keep_two();
    int first = memleak_try_report(argv[1]);
    errno = 0;
    int bad = memleak_try_report(argv[2]);
    int bad_errno = errno;
    stop = 1;
    for (int i = 0; i < 4; ++i)
        pthread_join(th[i], NULL);
    printf("report=%d bad=%d errno=%s\n", first, bad, bad_errno == ENOENT ? "ENOENT" : strerror(bad_errno));
    free(sink[0]);
    free(sink[1]);
    return 0;
}
