/*
 * The only pointer to a block is a local variable of a thread other than
 * main, parked in pause(): still reachable through that thread's stack.
 * A block that thread dropped is definitely lost.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

KEEP_FRAME static void fill_slot(volatile uintptr_t *slot) {
    char *p = malloc(200); /* REACH: still_reachable blocks=1 bytes=200 */
    reach_fill(p, 0x33, 200);
    *slot = (uintptr_t)p;
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(41); /* REACH: definitely_lost blocks=1 bytes=41 */
    reach_fill(p, 0x44, 41);
}

static void *holder(void *arg) {
    (void)arg;
    volatile uintptr_t slot[1];
    drop_one();
    fill_slot(slot);
    reach_wipe_stack();
    reach_park_forever();
    return (void *)slot[0];
}

int main(int argc, char **argv) {
    pthread_t t;
    reach_init_parking();
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return 1;
    reach_wait_parked(1);
    return reach_finish(argc, argv);
}
