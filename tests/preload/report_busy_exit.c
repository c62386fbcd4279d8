/*
 * Returns from main while a thread still formats strings, allocates and
 * frees. The exit report runs while that thread works: the program must
 * exit as it would without the runtime, with the same output.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int started;

static void *busy(void *arg) {
    (void)arg;
    char line[64];
    for (unsigned long i = 0;; ++i) {
        char *p = malloc(32 + i % 512);
        snprintf(line, sizeof line, "%lu %f", i, i / 3.0);
        memcpy(p, line, 16);
        free(p);
        started = 1;
    }
    return NULL;
}

int main(void) {
    pthread_t th;
    pthread_create(&th, NULL, busy, NULL);
    while (!started)
        ;
    printf("report_busy_exit done\n");
    return 0;
}
