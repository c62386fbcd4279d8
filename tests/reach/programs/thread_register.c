/*
 * The only pointer to a block is in a callee-saved register (%r15) of a
 * thread other than main, parked in a system call: the block is still
 * reachable, found only by scanning that thread's registers. A block the
 * same thread dropped is definitely lost. reach_park (reach_support.h)
 * puts the pointer in %r15 and clears every other register.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

KEEP_FRAME static uint64_t make_hidden(void) {
    char *p = malloc(100); /* REACH: still_reachable blocks=1 bytes=100 */
    reach_fill(p, 0x11, 100);
    return (uint64_t)(uintptr_t)p ^ REACH_HIDE_KEY;
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(37); /* REACH: definitely_lost blocks=1 bytes=37 */
    reach_fill(p, 0x22, 37);
}

static void *holder(void *arg) {
    (void)arg;
    drop_one();
    uint64_t hidden = make_hidden();
    reach_wipe_stack();
    reach_park(hidden, reach_parked[1]);
}

int main(int argc, char **argv) {
    pthread_t t;
    reach_init_parking();
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return 1;
    reach_wait_parked(1);
    return reach_finish(argc, argv);
}
