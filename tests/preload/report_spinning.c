/*
 * main returns while another thread spins on the CPU, never entering the
 * kernel, holding the only pointer to one block on its stack: the exit
 * scan has to stop it to read that stack, and must find the block still
 * reachable; a block nobody holds is definitely lost.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_FRAME __attribute__((noinline, noclone))

volatile int g_spinning;

KEEP_FRAME void touch(void *p, size_t n) {
    memset(p, 0x5a, n);
    __asm__ volatile("" : : "r"(p) : "memory");
}

KEEP_FRAME void drop_one(void) {
    void *p = malloc(77); /* LEAK: dropped bytes=77 blocks=1 kind=definitely_lost */
    touch(p, 77);
}

void *spin(void *arg) {
    (void)arg;
    void *volatile held = malloc(555); /* LEAK: held bytes=555 blocks=1 kind=still_reachable */
    touch(held, 555);
    g_spinning = 1;
    for (unsigned long i = 0;; ++i)
        __asm__ volatile("" : : "r"(i) : "memory");
    return NULL;
}

int main(void) {
    pthread_t t;
    drop_one();
    if (pthread_create(&t, NULL, spin, NULL) != 0)
        return 1;
    while (!g_spinning)
        ;
    puts("report_spinning done");
    return 0;
}
