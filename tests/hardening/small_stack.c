/* How deep a thread on a 16 KiB stack can recurse and still allocate.
 * `small_stack first`: the thread recurses D levels, then makes its first
 * allocation; `small_stack later`: it allocates once at the top, then at
 * every level on the way down. For each D tried, a forked child runs the
 * thread (an overflow kills only the child); a binary search finds the
 * deepest D that works. Prints "levels=D frame=F room=D*F": F is the bytes
 * one level takes, so room is the stack the program had left for itself. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_BYTES 16384

static int g_later;
static int g_levels;
static int g_report_frame;
void *volatile g_sink;
static volatile uintptr_t g_frame_at[2];

__attribute__((noinline)) static void level(int n) {
    volatile char pad[96];
    pad[0] = (char)n;
    if (n < 2)
        g_frame_at[n] = (uintptr_t)pad;
    if (g_later || n == g_levels) {
        void *p = malloc(32);
        g_sink = p;
        free(p);
    }
    if (n < g_levels)
        level(n + 1);
    __asm__ volatile("" ::"r"(pad) : "memory"); /* no tail call, pad stays */
}

static void *thread_main(void *arg) {
    (void)arg;
    level(0);
    return NULL;
}

/* 1 when a thread recursing `levels` deep ran to the end. */
static int fits(int levels) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        g_levels = levels;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, STACK_BYTES);
        pthread_t t;
        if (pthread_create(&t, &attr, thread_main, NULL) != 0)
            _exit(2);
        pthread_join(t, NULL);
        if (g_report_frame)
            printf("frame=%ld\n", (long)(g_frame_at[0] - g_frame_at[1]));
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "first") != 0 && strcmp(argv[1], "later") != 0)) {
        fprintf(stderr, "usage: small_stack first|later\n");
        return 2;
    }
    g_later = strcmp(argv[1], "later") == 0;
    int lo = 0, hi = STACK_BYTES / 16; /* fits(lo); !fits(hi) */
    if (!fits(lo))
        return 1;
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        if (fits(mid))
            lo = mid;
        else
            hi = mid;
    }
    /* The frame size, measured by a child that fits. */
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        dup2(pipefd[1], 1);
        g_report_frame = 1;
        _exit(fits(lo > 1 ? lo : 1) ? 0 : 1);
    }
    close(pipefd[1]);
    char buf[64] = "";
    ssize_t got = read(pipefd[0], buf, sizeof buf - 1);
    waitpid(child, NULL, 0);
    long frame = 0;
    if (got <= 0 || sscanf(buf, "frame=%ld", &frame) != 1 || frame <= 0)
        return 1;
    printf("levels=%d frame=%ld room=%ld\n", lo, frame, lo * frame);
    return 0;
}
