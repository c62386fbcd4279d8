/*
 * A parent and a forked child each leak at a marked line and exit through
 * exit(): with MEMLEAK_REPORT=...%p each writes its own report, and the
 * child's also holds what the parent had leaked before the fork.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink[4];

__attribute__((noinline)) static void before_fork(void) {
    sink[0] = malloc(111); /* LEAK: before_fork bytes=111 blocks=1 */
}

__attribute__((noinline)) static void in_child(void) {
    sink[1] = malloc(222); /* LEAK: in_child bytes=222 blocks=1 */
}

__attribute__((noinline)) static void in_parent(void) {
    sink[2] = malloc(333); /* LEAK: in_parent bytes=333 blocks=1 */
}

int main(void) {
    before_fork();
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        in_child();
        exit(0);
    }
    in_parent();
    int status = 0;
    waitpid(child, &status, 0);
    printf("child %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "failed");
    return 0;
}
