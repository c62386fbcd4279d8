/*
 * Allocates in two phases, for `memleak since`. Marks as in leaky.c, plus
 * phase=N: the phase whose allocation leaves the block live.
 *
 *   phase 1, set the mark "program-phase1" through the program API (a no-op
 *   without the runtime), write "phase1" to stdout, read one line from stdin (the test
 *   sets a mark from gdb meanwhile), sleep 2 s so that a duration can tell
 *   the phases apart, phase 2, write "phase2", pause until killed.
 *
 * Nothing between the two phases allocates (no stdio), so the blocks
 * allocated after the mark are exactly phase 2's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memleak/memleak.h"

#include "program_support.h"

static char *to_free;
static char *to_grow;

static void sleep_seconds(time_t s) {
    struct timespec left = {s, 0};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

KEEP_FRAME static void phase1(void) {
    for (int i = 0; i < 2; i++) {
        char *p = malloc(100); /* LEAK: first bytes=200 count=2 phase=1 */
        keep(p);
    }
    to_free = malloc(333); /* FREED */
    keep(to_free);
    to_grow = malloc(50); /* FREED */
    keep(to_grow);
}

KEEP_FRAME static void phase2(void) {
    for (int i = 0; i < 4; i++) {
        char *p = malloc(24); /* LEAK: second bytes=96 count=4 phase=2 */
        keep(p);
    }
    char *z = calloc(10, 7); /* LEAK: zeroed bytes=70 count=1 phase=2 */
    keep(z);
    to_grow = realloc(to_grow, 300); /* LEAK: regrown bytes=300 count=1 phase=2 */
    keep(to_grow);
    free(to_free);
    char *t = malloc(4096); /* FREED */
    keep(t);
    free(t);
}

int main(void) {
    phase1();
    memleak_try_mark("program-phase1");
    say("phase1\n");
    wait_line();
    sleep_seconds(2);
    phase2();
    say("phase2\n");
    for (;;)
        pause();
}
