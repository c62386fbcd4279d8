/*
 * Pointers kept only in __thread variables: the program's own (static
 * TLS) in main and in another thread, and a dlopen'ed library's (dynamic
 * TLS) in main and in another thread. All still reachable; a dropped
 * block is definitely lost. Usage: tls PLUGIN [exit|abort]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

static __thread void *volatile static_tls;
static void (*set_plugin_tls)(uint64_t);

KEEP_FRAME static uint64_t for_static_tls(size_t n) {
    char *p = malloc(n); /* REACH: still_reachable blocks=2 bytes=400 */
    reach_fill(p, 0x55, n);
    return (uint64_t)(uintptr_t)p ^ REACH_HIDE_KEY;
}

/*
 * A thread's dynamic TLS blocks hang off its DTV, which glibc allocates
 * with calloc and points to from the thread control block one entry past
 * its start: valgrind takes that for an interior pointer, so to valgrind
 * the DTV of a thread other than main is possibly lost, and so is what its
 * TLS blocks hold. memleak takes every thread's dynamic TLS for a root.
 */
KEEP_FRAME static uint64_t for_dynamic_tls(size_t n) {
    // A mark stays on the line it marks, however long.
    // clang-format off
    char *p = malloc(n); /* REACH: still_reachable blocks=2 bytes=600 VALGRIND: still_reachable blocks=1 bytes=200 | possibly_lost blocks=1 bytes=400 */
    // clang-format on
    reach_fill(p, 0x56, n);
    return (uint64_t)(uintptr_t)p ^ REACH_HIDE_KEY;
}

KEEP_FRAME static void set_static_tls(uint64_t hidden) {
    static_tls = (void *)(uintptr_t)(hidden ^ REACH_HIDE_KEY);
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(43); /* REACH: definitely_lost blocks=1 bytes=43 */
    reach_fill(p, 0x66, 43);
}

static void *holder(void *arg) {
    (void)arg;
    set_static_tls(for_static_tls(300));
    set_plugin_tls(for_dynamic_tls(400));
    reach_wipe_stack();
    reach_park_forever();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    set_plugin_tls = (void (*)(uint64_t))dlsym(lib, "plugin_set_tls");
    if (set_plugin_tls == NULL)
        return 1;
    reach_init_parking();
    drop_one();
    set_static_tls(for_static_tls(100));
    set_plugin_tls(for_dynamic_tls(200));
    pthread_t t;
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return 1;
    reach_wait_parked(1);
    return reach_finish(argc - 1, argv + 1);
}
