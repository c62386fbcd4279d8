/* Ends the way it is told, so tests can check that `memleak run` passes
 * the program's ending through:
 *   exit_with N          exit status N
 *   exit_with signal S   killed by signal S
 *   exit_with wait       sleeps until a signal kills it
 *   exit_with args A...  prints each argument on its own line, exits 0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "signal")) {
        signal(atoi(argv[2]), SIG_DFL);
        raise(atoi(argv[2]));
        return 1;
    }
    if (argc >= 2 && !strcmp(argv[1], "wait")) {
        printf("waiting\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc >= 2 && !strcmp(argv[1], "args")) {
        for (int i = 2; i < argc; ++i)
            printf("%s\n", argv[i]);
        return 0;
    }
    return argc >= 2 ? atoi(argv[1]) : 0;
}
