/*
 * Leaks at marked lines, for the gdb integration tests.
 *
 * The harness reads the marks from this file instead of a golden file:
 *   LEAK: NAME bytes=TOTAL count=BLOCKS [inlined caller=SITE] [child]
 *     the allocation on this line leaves BLOCKS live blocks whose requested
 *     sizes add up to TOTAL; `inlined` says the line sits in an inlined
 *     helper whose call site carries the mark CALLSITE: SITE; `child` says
 *     only the child of the fork mode runs it.
 *   FREED
 *     no block allocated on this line stays live (it is freed again, or the
 *     allocation fails): it must not show.
 *
 * Helpers are kept out of line (and out of identical-code folding) and
 * every allocation's result is used after the call, so that -O2 neither
 * drops a frame by a tail call nor merges two call sites.
 *
 * Modes (argv[1]):
 *   wait   leak, write "ready" to stdout, then pause until killed
 *   abort  leak, write "ready", read one line from stdin, then abort()
 *   break  leak, call stop_here() (a breakpoint target), allocate once more
 *          (a test may stop inside that malloc), exit 0
 *   fork   leak, fork; the child leaks once more, writes "ready CHILD PARENT"
 *          and pauses; the parent waits for the child, then exits
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_support.h"

KEEP_FRAME void stop_here(void) { __asm__ volatile("" ::: "memory"); }

KEEP_FRAME static void leak_malloc(void) {
    void *p = malloc(100); /* LEAK: plain bytes=100 count=1 */
    keep(p);
}

KEEP_FRAME static void leak_loop(void) {
    for (int i = 0; i < 3; i++) {
        char *p = malloc(40); /* LEAK: loop bytes=120 count=3 */
        keep(p);
    }
}

KEEP_FRAME static void leak_calloc(void) {
    void *p = calloc(5, 50); /* LEAK: zeroed bytes=250 count=1 */
    keep(p);
}

KEEP_FRAME static void leak_realloc(void) {
    char *p = malloc(16); /* FREED */
    keep(p);
    p = realloc(p, 700); /* LEAK: grown bytes=700 count=1 */
    keep(p);
}

KEEP_FRAME static void leak_aligned(void) {
    void *p = NULL;
    if (posix_memalign(&p, 64, 320) == 0) /* LEAK: memalign bytes=320 count=1 */
        keep(p);
    void *q = aligned_alloc(128, 256); /* LEAK: aligned bytes=256 count=1 */
    keep(q);
}

/* The rest of the interposed family; sizes are the requested ones, even
 * where the allocator rounds up (pvalloc to a page). */
KEEP_FRAME static void leak_family(void) {
    void *a = memalign(32, 96); /* LEAK: memalign_old bytes=96 count=1 */
    keep(a);
    void *b = valloc(100); /* LEAK: valloc bytes=100 count=1 */
    keep(b);
    void *c = pvalloc(200); /* LEAK: pvalloc bytes=200 count=1 */
    keep(c);
    void *d = reallocarray(NULL, 5, 20); /* LEAK: reallocarray bytes=100 count=1 */
    keep(d);
    void *e = malloc(0); /* LEAK: empty bytes=0 count=1 */
    keep(e);
}

/* glibc shrinks in place: the block keeps its address but is a new
 * allocation at the realloc line. */
KEEP_FRAME static void leak_shrunk(void) {
    char *p = malloc(600); /* FREED */
    keep(p);
    p = realloc(p, 500); /* LEAK: shrunk bytes=500 count=1 */
    keep(p);
}

/* Sizes the compiler cannot see, so that the calls really happen. */
static volatile size_t huge = SIZE_MAX / 2;
static volatile size_t overflowing_count = SIZE_MAX / 8;

KEEP_FRAME static void failed_allocations(void) {
    keep(malloc(huge));                  /* FREED */
    keep(calloc(overflowing_count, 16)); /* FREED */
    void *p = NULL;
    if (posix_memalign(&p, 24, 64) == 0) /* FREED */
        keep(p);
}

/* Above glibc's mmap threshold: the block comes from its own mapping. */
KEEP_FRAME static void leak_big(void) {
    char *p = malloc(1 << 20); /* LEAK: big bytes=1048576 count=1 */
    keep(p);
    p[0] = 1;
}

KEEP_FRAME static void churn(void) {
    for (int i = 0; i < 10; i++) {
        char *p = malloc(1000 + (size_t)i); /* FREED */
        keep(p);
        free(p);
    }
    char *q = calloc(3, 30); /* FREED */
    keep(q);
    q = realloc(q, 4000); /* FREED */
    keep(q);
    free(q);
}

static inline __attribute__((always_inline)) void *grab_inline(size_t n) {
    void *p = malloc(n); /* LEAK: inline bytes=64 count=1 inlined caller=via_inline */
    return p;
}

KEEP_FRAME static void leak_via_inline(void) {
    void *p = grab_inline(64); /* CALLSITE: via_inline */
    keep(p);
}

KEEP_FRAME static void leak_in_child(void) {
    void *p = malloc(55); /* LEAK: forked bytes=55 count=1 child */
    keep(p);
}

static int fork_mode(void) {
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        leak_in_child();
        char line[64];
        snprintf(line, sizeof line, "ready %d %d\n", (int)getpid(), (int)parent);
        say(line);
        for (;;)
            pause();
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "wait";

    leak_malloc();
    leak_loop();
    leak_calloc();
    leak_realloc();
    leak_aligned();
    leak_big();
    leak_family();
    leak_shrunk();
    failed_allocations();
    churn();
    leak_via_inline();

    if (strcmp(mode, "fork") == 0)
        return fork_mode();
    if (strcmp(mode, "break") == 0) {
        stop_here();
        keep(malloc(4242));
        return 0;
    }
    say("ready\n");
    if (strcmp(mode, "abort") == 0) {
        wait_line();
        abort();
    }
    for (;;)
        pause();
}
