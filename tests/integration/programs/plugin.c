/* A library the dlopen test program loads at run time; it leaks at a
 * marked line (marks as in leaky.c). */
#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_FRAME __attribute__((noipa))
#else
#define KEEP_FRAME __attribute__((noinline))
#endif

void *volatile plugin_sink[4];

KEEP_FRAME void *plugin_leak(void) {
    void *p = malloc(123); /* LEAK: plugin bytes=123 count=1 */
    plugin_sink[0] = p;
    return p;
}
