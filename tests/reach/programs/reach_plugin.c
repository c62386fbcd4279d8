/*
 * A library the reachability programs dlopen: a global and a __thread
 * variable (dynamic TLS: the library is not loaded at start) that hold
 * pointers the program hands over.
 */
#include <stdint.h>

void *plugin_global;
__thread void *plugin_tls;

void plugin_set_global(uint64_t hidden) {
    plugin_global = (void *)(uintptr_t)(hidden ^ UINT64_C(0x5a5a5a5a5a5a5a5a));
}

void plugin_set_tls(uint64_t hidden) {
    plugin_tls = (void *)(uintptr_t)(hidden ^ UINT64_C(0x5a5a5a5a5a5a5a5a));
}
