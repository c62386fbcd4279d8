/* Starts four threads that each allocate and free, joins them all, and
 * exits: nothing is left, so the exit report must be empty, under a
 * debugger too. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

void *volatile g_sink;

static void *work(void *arg) {
    (void)arg;
    void *p = malloc(1000);
    g_sink = p;
    free(p);
    return NULL;
}

int main(void) {
    pthread_t threads[4];
    for (int i = 0; i < 4; ++i)
        pthread_create(&threads[i], NULL, work, NULL);
    for (int i = 0; i < 4; ++i)
        pthread_join(threads[i], NULL);
    puts("joined");
    return 0;
}
