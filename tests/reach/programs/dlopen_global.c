/*
 * The only pointer to a block is a global of a dlopen'ed library: still
 * reachable. A dropped block is definitely lost.
 * Usage: dlopen_global PLUGIN [exit|abort]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

KEEP_FRAME static uint64_t hidden_block(void) {
    char *p = malloc(500); /* REACH: still_reachable blocks=1 bytes=500 */
    reach_fill(p, 0x77, 500);
    return (uint64_t)(uintptr_t)p ^ REACH_HIDE_KEY;
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(47); /* REACH: definitely_lost blocks=1 bytes=47 */
    reach_fill(p, 0x78, 47);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void (*set_global)(uint64_t) = (void (*)(uint64_t))dlsym(lib, "plugin_set_global");
    if (set_global == NULL)
        return 1;
    drop_one();
    set_global(hidden_block());
    return reach_finish(argc - 1, argv + 1);
}
