/* One leaked block (its only pointer is dropped before exit) and one line
 * on stdout: the exit report has something to say, and the program's own
 * output can be checked unchanged. With an
 * argument it also prints whether the kernel ran it in secure-execution
 * mode (AT_SECURE), which a setuid test needs to know. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

void *volatile g_sink;

int main(int argc, char **argv) {
    g_sink = malloc(100);
    if (argc > 1 && strcmp(argv[1], "secure") == 0)
        printf("secure=%lu\n", getauxval(AT_SECURE));
    puts("done");
    g_sink = NULL;
    return 0;
}
