/* Allocates COUNT times from a signal handler (a signal frame, which the
 * runtime's cached rules do not model) and COUNT times from plain code.
 * Prints "allocations=2*COUNT". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

void *volatile g_sink;

static void on_signal(int sig) {
    (void)sig;
    void *p = malloc(48);
    g_sink = p;
    free(p);
}

__attribute__((noinline)) static void plain(void) {
    void *p = malloc(48);
    g_sink = p;
    free(p);
}

int main(int argc, char **argv) {
    const int count = argc > 1 ? atoi(argv[1]) : 100;
    signal(SIGUSR1, on_signal);
    for (int i = 0; i < count; ++i) {
        raise(SIGUSR1);
        plain();
    }
    printf("allocations=%d\n", 2 * count);
    return 0;
}
