/* Ends the way it is told, so tests can check that `memleak run` passes
 * the program's ending through:
 *   exit_with N          exit status N
 *   exit_with signal S   killed by signal S
 *   exit_with wait       sleeps until a signal kills it
 *   exit_with sigint     waits for SIGINT, then exits with the number of
 *                        SIGINTs it got by 300 ms after the first
 *   exit_with args A...  prints each argument on its own line, exits 0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupts;

static void count_interrupt(int sig) {
    (void)sig;
    interrupts++;
}

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
    if (argc >= 2 && !strcmp(argv[1], "sigint")) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = count_interrupt;
        sigaction(SIGINT, &action, NULL);
        printf("waiting\n");
        fflush(stdout);
        while (!interrupts)
            pause();
        struct timespec rest = {0, 300000000L};
        while (nanosleep(&rest, &rest) != 0)
            continue;
        return interrupts;
    }
    if (argc >= 2 && !strcmp(argv[1], "args")) {
        for (int i = 2; i < argc; ++i)
            printf("%s\n", argv[i]);
        return 0;
    }
    return argc >= 2 ? atoi(argv[1]) : 0;
}
