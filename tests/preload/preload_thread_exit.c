/* Threads whose exit runs a key destructor that allocates, in every round
   glibc gives destructors: the runtime's per-thread state must go back when
   a thread ends, not be made again for the destructor and lost. Checks that
   the data segment grows by less than a few bytes a thread over thousands
   of threads (the runtime's state is kilobytes a thread). */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_key_t key;

static void again(void *p) {
    free(p);
    /* Set again so that the next round of destructors calls this again. */
    void *q = malloc(48);
    pthread_setspecific(key, q);
    static __thread int rounds;
    if (++rounds >= PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(key, NULL);
        free(q);
    }
}

static void *work(void *arg) {
    (void)arg;
    void *p = malloc(100);
    pthread_setspecific(key, malloc(32));
    free(p);
    return NULL;
}

static long vm_data_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmData:", 7) == 0)
            kib = strtol(line + 7, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static void run_threads(int n) {
    for (int i = 0; i < n; ++i) {
        pthread_t t;
        if (pthread_create(&t, NULL, work, NULL) != 0 || pthread_join(t, NULL) != 0) {
            fprintf(stderr, "thread %d failed\n", i);
            exit(1);
        }
    }
}

int main(void) {
    if (pthread_key_create(&key, again) != 0)
        return 1;
    run_threads(200);
    const long before = vm_data_kib();
    run_threads(4000);
    const long after = vm_data_kib();
    printf("VmData %ld KiB after 200 threads, %ld KiB after 4200\n", before, after);
    if (before < 0 || after - before > 2048) {
        fprintf(stderr, "grew by %ld KiB over 4000 threads\n", after - before);
        return 1;
    }
    return 0;
}
