/*
 * Leaks through a library loaded with dlopen(), for the gdb integration
 * tests. Usage: dlopen PLUGIN keep|close
 *   keep   the library stays loaded: its leak shows at plugin.c's line
 *   close  the library is unloaded again: the leak's stack now points
 *          into memory that holds no code, and must still be read
 * Writes "ready" to stdout, then pauses until killed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void *(*leak)(void) = (void *(*)(void))dlsym(lib, "plugin_leak");
    if (leak == NULL || leak() == NULL)
        return 1;
    if (strcmp(argv[2], "close") == 0 && dlclose(lib) != 0)
        return 1;
    static const char ready[] = "ready\n";
    while (write(1, ready, sizeof ready - 1) < 0 && errno == EINTR) {
    }
    for (;;)
        pause();
}
