/*
 * Leaks at known lines through each C allocation function. A line marked
 * `LEAK: name bytes=B blocks=N` must appear in the exit report as a stack of
 * B bytes in N blocks whose frame #0 is that line (`frame=any`: somewhere in
 * the stack, for allocations made inside libc).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stored here so the compiler neither drops the allocations nor turns
 * them into tail calls. */
void *volatile sink[16];

__attribute__((noinline)) void leak_malloc(void) {
    sink[0] = malloc(1000); /* LEAK: malloc bytes=1000 blocks=1 */
}

__attribute__((noinline)) void leak_calloc(void) {
    sink[1] = calloc(25, 8); /* LEAK: calloc bytes=200 blocks=1 */
}

__attribute__((noinline)) void leak_realloc(void) {
    char *p = malloc(10);
    sink[2] = p;
    sink[2] = realloc(p, 3000); /* LEAK: realloc bytes=3000 blocks=1 */
}

__attribute__((noinline)) void leak_strdup(void) {
    sink[3] = strdup("twelve bytes"); /* LEAK: strdup bytes=13 blocks=1 frame=any */
}

/* Not a constant, so the loop keeps one call site instead of three. */
volatile int loop_count = 3;

__attribute__((noinline)) void leak_loop(void) {
    for (int i = 0; i < loop_count; ++i)
        sink[4 + i] = malloc(64); /* LEAK: loop bytes=192 blocks=3 */
}

__attribute__((noinline)) void no_leak(void) {
    void *p = malloc(5000);
    sink[8] = p;
    free(p);
    sink[8] = NULL;
}

int main(void) {
    leak_malloc();
    leak_calloc();
    leak_realloc();
    leak_strdup();
    leak_loop();
    no_leak();
    printf("report_leaks done\n");
    return 0;
}
