/*
 * Threads for the gdb integration tests: one thread leaks at a marked line
 * and exits, two keep allocating and freeing while gdb stops the process
 * wherever it happens to be. Marks as in leaky.c, plus
 *   TRANSIENT  blocks from this line are freed soon after, but one per
 *              thread may be live at the moment the process is stopped.
 *
 * Writes "ready TID" (TID: the kernel thread id of the leaking thread) to
 * stdout, then pauses until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "program_support.h"

static pid_t leaker_tid;

KEEP_FRAME static void leak_in_thread(void) {
    for (int i = 0; i < 5; i++) {
        char *p = malloc(77); /* LEAK: threaded bytes=385 count=5 */
        keep(p);
    }
}

static void *leaker(void *arg) {
    (void)arg;
    leaker_tid = (pid_t)syscall(SYS_gettid);
    leak_in_thread();
    return NULL;
}

static void *churner(void *arg) {
    unsigned x = (unsigned)(size_t)arg;
    for (;;) {
        x = x * 1103515245u + 12345u;
        char *p = malloc(16 + (x >> 20) % 2000); /* TRANSIENT */
        keep(p);
        if (x & 1) {
            p = realloc(p, 32 + (x >> 12) % 5000); /* TRANSIENT */
            keep(p);
        }
        free(p);
    }
    return NULL;
}

KEEP_FRAME static void leak_in_main(void) {
    void *p = calloc(9, 9); /* LEAK: main bytes=81 count=1 */
    keep(p);
}

int main(void) {
    pthread_t t;
    leak_in_main();
    if (pthread_create(&t, NULL, leaker, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    for (size_t i = 1; i <= 2; i++)
        if (pthread_create(&t, NULL, churner, (void *)i) != 0)
            return 1;
    char line[64];
    int n = snprintf(line, sizeof line, "ready %d\n", (int)leaker_tid);
    while (write(1, line, (size_t)n) < 0 && errno == EINTR) {
    }
    for (;;)
        pause();
}
